package unleash_test

import (
	"context"
	"testing"
	"time"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	ucontext "github.com/Unleash/unleash-go-sdk/v5/context"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/require"
)

// BenchmarkEvaluate compares a variant evaluation through the provider
// with the same evaluation on a bare SDK client with metrics off (the
// baseline): the provider's overhead is the context mapping and the
// resolution detail.
func BenchmarkEvaluate(b *testing.B) {
	s := newServer(b)
	p := newProvider(b, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(b, p.InitWithContext(ctx, openfeature.EvaluationContext{}))
	b.Cleanup(p.Shutdown)

	bare, err := unleashsdk.NewClient(unleashsdk.WithUrl(s.URL), unleashsdk.WithAppName("bench"),
		unleashsdk.WithBackupPath(b.TempDir()), unleashsdk.WithDisableMetrics(true),
		unleashsdk.WithRefreshInterval(time.Hour), unleashsdk.WithListener(&errorsSeen{}))
	require.NoError(b, err)
	b.Cleanup(func() { _ = bare.Close() })
	require.Eventually(b, func() bool { return len(bare.ListFeatures()) > 0 }, 5*time.Second, time.Millisecond)

	flat := openfeature.FlattenedContext{openfeature.TargetingKey: "user-42", "plan": "pro"}
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			uc := ucontext.Context{UserId: "user-42", Properties: map[string]string{"plan": "pro"}}
			if v := bare.GetVariant("checkout-redesign", unleashsdk.WithVariantContext(uc)); !v.Enabled {
				b.Fatal("no variant")
			}
		}
	})
	b.Run("provider", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d := p.StringEvaluation(ctx, "checkout-redesign", "", flat); d.Variant == "" {
				b.Fatal("no variant")
			}
		}
	})
}
