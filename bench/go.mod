module github.com/exposurekit/exposure/bench

go 1.26.0

replace github.com/exposurekit/exposure => ../

require (
	github.com/exposurekit/exposure v0.0.0-00010101000000-000000000000
	github.com/hashicorp/golang-lru/v2 v2.0.7
	github.com/launchdarkly/go-sdk-common/v3 v3.1.0
	github.com/launchdarkly/go-sdk-events/v3 v3.5.0
	github.com/open-feature/go-sdk v1.20.0
	github.com/posthog/posthog-go v1.5.2
	github.com/segmentio/analytics-go/v3 v3.3.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/bmizerany/assert v0.0.0-20160611221934-b7ed37b82869 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/josharian/intern v1.0.0 // indirect
	github.com/launchdarkly/go-jsonstream/v3 v3.0.0 // indirect
	github.com/mailru/easyjson v0.7.6 // indirect
	github.com/rogpeppe/go-internal v1.16.0 // indirect
	github.com/segmentio/backo-go v1.0.0 // indirect
	go.uber.org/mock v0.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/exp v0.0.0-20220823124025-807a23277127 // indirect
)
