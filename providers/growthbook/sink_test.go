package growthbook_test

import (
	"context"
	"sync"
	"testing"
	"time"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/growthbook"
)

// viewed records the experiment-viewed callbacks a Sink makes.
type viewed struct {
	mu    sync.Mutex
	calls []viewedCall
}

type viewedCall struct {
	Experiment *gb.Experiment
	Result     *gb.ExperimentResult
	User       *gb.TrackingUserContext
	Extra      any
}

func (v *viewed) track(_ context.Context, e *gb.Experiment, r *gb.ExperimentResult, u *gb.TrackingUserContext, extra any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, viewedCall{e, r, u, extra})
}

func (v *viewed) all() []viewedCall {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]viewedCall(nil), v.calls...)
}

func exposureOf(flag, experiment, variant, id string) exposure.Exposure {
	return exposure.Exposure{
		Assignment: exposure.Assignment{
			FlagKey:    flag,
			Experiment: experiment,
			Variant:    variant,
			Identity:   exposure.Identity{DistinctID: id},
			Context:    openfeature.NewEvaluationContext(id, map[string]any{"country": "FR"}),
		},
		Time:     time.Unix(1700000000, 0),
		InsertID: "0123456789abcdef0123456789abcdef",
	}
}

func newSink(t *testing.T, tr *tracking, v *viewed, opts ...growthbook.SinkOption) (*growthbook.Provider, *growthbook.Sink) {
	t.Helper()
	p, err := growthbook.NewProvider(newTrackedClient(t, tr))
	require.NoError(t, err)
	s, err := growthbook.NewSink(p, v.track, append([]growthbook.SinkOption{growthbook.WithLogger(quiet)}, opts...)...)
	require.NoError(t, err)
	return p, s
}

func TestNewSinkValidates(t *testing.T) {
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	track := (&viewed{}).track
	tests := []struct {
		name  string
		p     *growthbook.Provider
		track gb.ExperimentCallback
		opts  []growthbook.SinkOption
		want  []string // what the error names
	}{
		{"nil provider", nil, track, nil, []string{"nil *Provider"}},
		{"nil callback", p, nil, nil, []string{"nil experiment-viewed callback"}},
		{"nil option", p, track, []growthbook.SinkOption{nil}, []string{"option 0 is nil"}},
		{"nil logger", p, track, []growthbook.SinkOption{growthbook.WithLogger(nil)}, []string{"nil *slog.Logger"}},
		{"every error at once", nil, nil, []growthbook.SinkOption{growthbook.WithExtraData(1), nil},
			[]string{"nil *Provider", "nil experiment-viewed callback", "option 1 is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := growthbook.NewSink(tt.p, tt.track, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestSinkReportsTheRenderedVariation(t *testing.T) {
	tr, v := &tracking{}, &viewed{}
	p, s := newSink(t, tr, v, growthbook.WithExtraData("extra"))
	red := userIn(t, p, "red")
	ctl := userIn(t, p, "ctl")

	err := s.Send(context.Background(), []exposure.Exposure{
		exposureOf("checkout-redesign", "Checkout Redesign", "Redesign", red),
		exposureOf("checkout-redesign", "Checkout Redesign", "Control", ctl),
	})
	require.NoError(t, err)

	calls := v.all()
	require.Len(t, calls, 2)
	assert.Equal(t, "checkout-exp", calls[0].Experiment.Key)
	assert.Equal(t, "Checkout Redesign", calls[0].Experiment.Name)
	assert.Equal(t, "red", calls[0].Result.Key)
	assert.Equal(t, 1, calls[0].Result.VariationId)
	assert.Equal(t, "redesign", calls[0].Result.Value)
	assert.True(t, calls[0].Result.InExperiment)
	assert.Equal(t, "id", calls[0].Result.HashAttribute)
	assert.Equal(t, red, calls[0].Result.HashValue)
	assert.Equal(t, gb.Attributes{"id": red, "country": "FR"}, calls[0].User.Attributes)
	assert.Equal(t, "extra", calls[0].Extra)
	assert.Equal(t, "ctl", calls[1].Result.Key)
	assert.Equal(t, ctl, calls[1].Result.HashValue)

	assert.Equal(t, growthbook.SinkStats{Sent: 2}, s.Stats())
	assert.Zero(t, tr.calls(), "the sink's evaluation ran the client's own tracking")
}

func TestSinkNeverReportsAnotherVariation(t *testing.T) {
	tr, v := &tracking{}, &viewed{}
	p, s := newSink(t, tr, v)
	red := userIn(t, p, "red")

	// The user saw "Control", but GrowthBook now assigns "Redesign" (the
	// feature changed since the render): not sent, not a failure.
	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{
		exposureOf("checkout-redesign", "Checkout Redesign", "Control", red),
	}))
	assert.Empty(t, v.all())
	assert.Equal(t, growthbook.SinkStats{Mismatched: 1}, s.Stats())
}

// The Sink compares GrowthBook's variation with the exposure's
// ProviderVariant, so a variant the Tracker's registry renamed needs no
// registration in the Sink. An exposure without a ProviderVariant falls
// back to its Variant.
func TestSinkComparesTheProviderVariant(t *testing.T) {
	tr, v := &tracking{}, &viewed{}
	p, s := newSink(t, tr, v)
	red := userIn(t, p, "red") // GrowthBook assigns "Redesign"

	tests := []struct {
		name            string
		variant         string // renamed by the registry, or not
		providerVariant string
		want            growthbook.SinkStats // the Sink's counts after this case
	}{
		{"renamed variant, same provider variant", "Variant B", "Redesign", growthbook.SinkStats{Sent: 1}},
		{"renamed variant, another provider variant", "Variant A", "Control", growthbook.SinkStats{Sent: 1, Mismatched: 1}},
		{"no provider variant: the variant, same", "Redesign", "", growthbook.SinkStats{Sent: 2, Mismatched: 1}},
		{"no provider variant: a renamed variant does not match", "Variant B", "", growthbook.SinkStats{Sent: 2, Mismatched: 2}},
	}
	for _, tt := range tests {
		x := exposureOf("checkout-redesign", "Checkout v2", tt.variant, red)
		x.ProviderVariant = tt.providerVariant
		require.NoError(t, s.Send(context.Background(), []exposure.Exposure{x}), tt.name)
		assert.Equal(t, tt.want, s.Stats(), tt.name)
	}
	require.Len(t, v.all(), 2)
	for _, c := range v.all() {
		assert.Equal(t, "red", c.Result.Key)
	}
}

func TestSinkNotAnExperiment(t *testing.T) {
	tr, v := &tracking{}, &viewed{}
	_, s := newSink(t, tr, v)
	batch := []exposure.Exposure{
		exposureOf("dark-mode", "Dark mode", "true", "u1"),         // a force rule
		exposureOf("holdout", "Holdout", "On", "u1"),               // passthrough
		exposureOf("gone", "Gone", "x", "u1"),                      // deleted feature
		exposureOf("unnamed-exp", "price-test", "1", "u1"),         // fine
		exposureOf("no-coverage", "Zero coverage", "b", "someone"), // excluded
	}
	require.NoError(t, s.Send(context.Background(), batch))
	require.Len(t, v.all(), 1)
	assert.Equal(t, "price-test", v.all()[0].Experiment.Key)
	assert.Equal(t, growthbook.SinkStats{Sent: 1, Skipped: 4}, s.Stats())
}

func TestSinkRecoversCallbackPanic(t *testing.T) {
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	s, err := growthbook.NewSink(p, func(context.Context, *gb.Experiment, *gb.ExperimentResult, *gb.TrackingUserContext, any) {
		panic("boom")
	}, growthbook.WithLogger(quiet))
	require.NoError(t, err)
	err = s.Send(context.Background(), []exposure.Exposure{exposureOf("unnamed-exp", "price-test", "1", "u1")})
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	assert.ErrorContains(t, be.Failed[0], "panicked")
	retry, _ := exposure.IsRetryable(be.Failed[0])
	assert.False(t, retry, "a panicking callback is not retried")
	assert.Equal(t, growthbook.SinkStats{Failed: 1}, s.Stats())
}

func TestSinkCanceledContextIsRetryable(t *testing.T) {
	tr, v := &tracking{}, &viewed{}
	_, s := newSink(t, tr, v)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, []exposure.Exposure{exposureOf("unnamed-exp", "price-test", "1", "u1"), exposureOf("unnamed-exp", "price-test", "1", "u2")})
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 2)
	for i, err := range be.Failed {
		retry, _ := exposure.IsRetryable(err)
		assert.True(t, retry, "index %d", i)
		assert.ErrorIs(t, err, context.Canceled, "index %d", i)
	}
	assert.Empty(t, v.all())
}
