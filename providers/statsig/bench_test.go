package statsig

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	sdk "github.com/statsig-io/go-sdk"
	"github.com/stretchr/testify/require"
)

// BenchmarkEvaluate compares one read of an experiment parameter through
// the SDK directly (the baseline), through the provider (user conversion,
// the experiment lookup and result mapping added), and through an
// OpenFeature client.
func BenchmarkEvaluate(b *testing.B) {
	srv := newAPI(b)
	p, err := NewProvider("secret-test", srv.Options())
	require.NoError(b, err)
	require.NoError(b, p.Init(openfeature.EvaluationContext{}))
	b.Cleanup(p.Shutdown)
	ctx := context.Background()
	client := p.Client()
	u := sdk.User{UserID: "u-1", Custom: map[string]any{"plan": "pro"}}
	flat := openfeature.FlattenedContext{openfeature.TargetingKey: "u-1", "plan": "pro"}

	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := client.GetExperimentWithExposureLoggingDisabled(u, "checkout_redesign")
			_ = c.GetString("button_color", "grey")
		}
	})
	b.Run("provider", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.StringEvaluation(ctx, buttonFlag, "grey", flat)
		}
	})
	api := newOFClient(b, mustProvider(b, srv))
	ec := openfeature.NewEvaluationContext("u-1", map[string]any{"plan": "pro"})
	b.Run("openfeature", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = api.StringValue(ctx, buttonFlag, "grey", ec)
		}
	})
}

func mustProvider(b *testing.B, srv interface{ Options() *sdk.Options }) *Provider {
	p, err := NewProvider("secret-test", srv.Options())
	require.NoError(b, err)
	return p
}
