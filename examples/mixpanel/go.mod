module github.com/exposurekit/exposure/examples/mixpanel

go 1.26.0

replace (
	github.com/exposurekit/exposure => ../..
	github.com/exposurekit/exposure/providers/mixpanel => ../../providers/mixpanel
)

require (
	github.com/exposurekit/exposure v0.0.0-00010101000000-000000000000
	github.com/exposurekit/exposure/providers/mixpanel v0.0.0-00010101000000-000000000000
	github.com/open-feature/go-sdk v1.20.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/barkimedes/go-deepcopy v0.0.0-20220514131651-17c30cfc62df // indirect
	github.com/diegoholiveira/jsonlogic/v3 v3.9.0 // indirect
	github.com/mixpanel/mixpanel-go/v2 v2.1.0 // indirect
	go.uber.org/mock v0.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
