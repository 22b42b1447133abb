module github.com/exposurekit/exposure/examples/statsig

go 1.26.0

replace (
	github.com/exposurekit/exposure => ../..
	github.com/exposurekit/exposure/providers/statsig => ../../providers/statsig
)

require (
	github.com/exposurekit/exposure v0.0.0-00010101000000-000000000000
	github.com/exposurekit/exposure/providers/statsig v0.0.0-00010101000000-000000000000
	github.com/open-feature/go-sdk v1.20.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/statsig-io/go-sdk v1.35.1 // indirect
	github.com/statsig-io/ip3country-go v0.2.0 // indirect
	github.com/ua-parser/uap-go v0.0.0-20211112212520-00c877edfe0f // indirect
	go.uber.org/mock v0.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
