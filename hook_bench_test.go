package exposure

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
)

type discardSink struct{}

func (discardSink) Send(context.Context, []Exposure) error { return nil }

// BenchmarkHookAlone measures the hook without the OpenFeature client
// around it: its After and Finally on a fresh Scope, called with the details
// the SDK passes them, against the Scope alone. Whole evaluations move by
// tens of percent between runs on a shared machine; this difference is the
// hook's own cost (BENCHMARKS.md).
func BenchmarkHookAlone(b *testing.B) {
	tr, err := NewTracker(WithExperiments(Experiment{FlagKey: "f", Name: "F", Variants: map[string]string{"a": "A"}}),
		WithSink(discardSink{}))
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close(context.Background())
	ec := openfeature.NewEvaluationContext("user-1", map[string]any{"plan": "pro"})
	hc := openfeature.NewHookContext("f", openfeature.String, "x", openfeature.NewClientMetadata(""), openfeature.Metadata{Name: "m"}, ec)
	d := openfeature.InterfaceEvaluationDetails{Value: "v", EvaluationDetails: openfeature.EvaluationDetails{
		FlagKey: "f", ResolutionDetail: openfeature.ResolutionDetail{Variant: "a", Reason: openfeature.SplitReason, FlagMetadata: openfeature.FlagMetadata{}}}}
	h := tr.Hook()
	b.Run("scope", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = tr.Scope(context.Background())
		}
	})
	b.Run("scope+hook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, s := tr.Scope(context.Background())
			_ = h.After(ctx, hc, d, openfeature.HookHints{})
			h.Finally(ctx, hc, d, openfeature.HookHints{})
			if len(s.entries) != 1 {
				b.Fatal("the hook recorded no assignment")
			}
		}
	})
}
