module github.com/exposurekit/exposure/providers/growthbook

go 1.26.0

replace github.com/exposurekit/exposure => ../..

require (
	github.com/tmaxmax/go-sse v0.10.0 // indirect
	go.uber.org/mock v0.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

require (
	github.com/exposurekit/exposure v0.0.0-00010101000000-000000000000
	github.com/growthbook/growthbook-golang v0.7.0
	github.com/open-feature/go-sdk v1.20.0
	github.com/stretchr/testify v1.12.1
)
