package launchdarkly

import (
	"context"
	"testing"

	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/require"
)

// BenchmarkEvaluate compares one string evaluation of the experiment flag
// through the SDK directly (the baseline), through the provider (context
// conversion and result mapping added), and through an OpenFeature client.
func BenchmarkEvaluate(b *testing.B) {
	client := newClient(b, testData(), nil, false)
	p, err := NewProvider(client)
	require.NoError(b, err)
	ctx := context.Background()
	ldc := ldcontext.New("u-1")
	flat := openfeature.FlattenedContext{openfeature.TargetingKey: "u-1", "plan": "pro"}

	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = client.StringVariationDetailCtx(ctx, "checkout-redesign", ldc, "control")
		}
	})
	b.Run("provider", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.StringEvaluation(ctx, "checkout-redesign", "control", flat)
		}
	})
	of := newOFClient(b, p) // shuts p down at cleanup
	ec := openfeature.NewEvaluationContext("u-1", map[string]any{"plan": "pro"})
	b.Run("openfeature", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = of.StringValue(ctx, "checkout-redesign", "control", ec)
		}
	})
}
