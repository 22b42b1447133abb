module github.com/exposurekit/exposure/examples/growthbook

go 1.26.0

replace (
	github.com/exposurekit/exposure => ../..
	github.com/exposurekit/exposure/providers/growthbook => ../../providers/growthbook
)

require (
	github.com/exposurekit/exposure v0.0.0-00010101000000-000000000000
	github.com/exposurekit/exposure/providers/growthbook v0.0.0-00010101000000-000000000000
	github.com/growthbook/growthbook-golang v0.7.0
	github.com/open-feature/go-sdk v1.20.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/tmaxmax/go-sse v0.10.0 // indirect
	go.uber.org/mock v0.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
