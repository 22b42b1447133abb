module github.com/exposurekit/exposure

go 1.26.0

require (
	github.com/open-feature/go-sdk v1.20.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
