package growthbook_test

import (
	"context"
	"testing"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure/providers/growthbook"
)

// BenchmarkEvaluate compares an experiment evaluation through the provider
// with the same evaluation on the bare SDK (the baseline: a child client
// with the user's attributes, then EvalFeature): the provider's overhead is
// the attribute mapping, GrowthBook's record of the experiments the
// evaluation assigned (what its own tracking records, holdouts included)
// and the resolution detail with its metadata.
func BenchmarkEvaluate(b *testing.B) {
	ctx := context.Background()
	client, err := gb.NewClient(ctx, gb.WithJsonFeatures(featuresJSON(b)), gb.WithLogger(quiet))
	require.NoError(b, err)
	p, err := growthbook.NewProvider(client)
	require.NoError(b, err)

	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, _ := client.WithAttributes(gb.Attributes{"id": "user-42", "country": "FR"})
			if res := c.EvalFeature(ctx, "checkout-redesign"); !res.InExperiment() {
				b.Fatal("not in experiment")
			}
		}
	})
	b.Run("provider", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			flat := openfeature.FlattenedContext{openfeature.TargetingKey: "user-42", "country": "FR"}
			if d := p.StringEvaluation(ctx, "checkout-redesign", "", flat); d.Variant == "" {
				b.Fatal("no variant")
			}
		}
	})
}

// BenchmarkObjectEvaluation measures one evaluation of a JSON feature
// through the provider: the value (a small JSON object) is copied for each
// caller, so that no caller can change what the next one gets.
func BenchmarkObjectEvaluation(b *testing.B) {
	ctx := context.Background()
	client, err := gb.NewClient(ctx, gb.WithJsonFeatures(featuresJSON(b)), gb.WithLogger(quiet))
	require.NoError(b, err)
	p, err := growthbook.NewProvider(client)
	require.NoError(b, err)
	flat := openfeature.FlattenedContext{openfeature.TargetingKey: "user-42"}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.ObjectEvaluation(ctx, "layout", nil, flat); d.Value == nil {
			b.Fatal("no value")
		}
	}
}
