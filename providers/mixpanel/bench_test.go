package mixpanelflags_test

import (
	"testing"

	"github.com/mixpanel/mixpanel-go/v2/flags"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

// BenchmarkEvaluate compares one local evaluation of an experiment flag on
// the bare SDK (GetVariant without exposure reporting: the baseline),
// through the provider (context mapping, result and metadata added), and
// through an OpenFeature client with the Tracker's hook, in a scope (what
// a handler pays: the OpenFeature machinery and the pending assignment).
func BenchmarkEvaluate(b *testing.B) {
	srv := flagstest.Start(b, definitions(b))
	cfg := srv.LocalConfig()
	cfg.EnablePolling = false
	sdk := flags.NewLocalFeatureFlagsProvider(srv.Token(), "bench", cfg, nil)
	require.NoError(b, sdk.StartPollingForDefinitions(bg))
	p := providerFor(b, srv, mixpanelflags.ModeLocal)
	require.NoError(b, p.Init(openfeature.EvaluationContext{}))

	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fc := flags.FlagContext{"distinct_id": "u-2", "custom_properties": map[string]any{"plan": "pro"}}
			if v, _ := sdk.GetVariant(bg, "checkout-redesign", flags.SelectedVariant{}, fc, false); v.VariantKey == nil {
				b.Fatal("no variant")
			}
		}
	})
	b.Run("provider", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			flat := openfeature.FlattenedContext{openfeature.TargetingKey: "u-2", "plan": "pro"}
			if d := p.StringEvaluation(bg, "checkout-redesign", "", flat); d.Variant == "" {
				b.Fatal("no variant")
			}
		}
	})

	tracker, err := exposure.NewTracker(exposure.WithSink(exposuretest.NewRecorder()))
	require.NoError(b, err)
	b.Cleanup(func() { _ = tracker.Close(bg) })
	c := clientFor(b, p, tracker.Hook())
	ctx, _ := tracker.Scope(bg)
	ec := openfeature.NewEvaluationContext("u-2", map[string]any{"plan": "pro"})
	b.Run("openfeature+hook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v, _ := c.StringValue(ctx, "checkout-redesign", "", ec); v != "green" {
				b.Fatal("wrong value", v)
			}
		}
	})
}

// BenchmarkObjectEvaluation measures one local evaluation of an object
// flag through the provider: the variant value (a small JSON object) is
// copied for each caller, so that no caller can change what the next one
// gets.
func BenchmarkObjectEvaluation(b *testing.B) {
	srv := flagstest.Start(b, definitions(b))
	p := providerFor(b, srv, mixpanelflags.ModeLocal)
	require.NoError(b, p.Init(openfeature.EvaluationContext{}))
	flat := openfeature.FlattenedContext{openfeature.TargetingKey: "u-2"}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.ObjectEvaluation(bg, "layout", nil, flat); d.Value == nil {
			b.Fatal("no value")
		}
	}
}
