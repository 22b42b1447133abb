package growthbook_test

import (
	"context"
	"errors"
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
	p, err := growthbook.New(newTrackedClient(t, tr))
	require.NoError(t, err)
	s, err := growthbook.NewSink(p, v.track, append([]growthbook.SinkOption{growthbook.WithLogger(quiet)}, opts...)...)
	require.NoError(t, err)
	return p, s
}

func TestNewSinkValidates(t *testing.T) {
	p, err := growthbook.New(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	_, err = growthbook.NewSink(nil, (&viewed{}).track)
	assert.ErrorContains(t, err, "Provider")
	_, err = growthbook.NewSink(p, nil)
	assert.ErrorContains(t, err, "callback")
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

func TestSinkRenamedVariants(t *testing.T) {
	tr, v := &tracking{}, &viewed{}
	exps := []exposure.Experiment{{FlagKey: "checkout-redesign", Name: "Checkout v2", Variants: map[string]string{"Redesign": "B", "Control": "A"}}}
	p, s := newSink(t, tr, v, growthbook.WithExperiments(exps...))
	red := userIn(t, p, "red")

	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{exposureOf("checkout-redesign", "Checkout v2", "B", red)}))
	require.Len(t, v.all(), 1)

	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{exposureOf("checkout-redesign", "Checkout v2", "A", red)}))
	assert.Len(t, v.all(), 1)
	assert.Equal(t, growthbook.SinkStats{Sent: 1, Mismatched: 1}, s.Stats())
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
	p, err := growthbook.New(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	s, err := growthbook.NewSink(p, func(context.Context, *gb.Experiment, *gb.ExperimentResult, *gb.TrackingUserContext, any) {
		panic("boom")
	}, growthbook.WithLogger(quiet))
	require.NoError(t, err)
	err = s.Send(context.Background(), []exposure.Exposure{exposureOf("unnamed-exp", "price-test", "1", "u1")})
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failures, 1)
	assert.ErrorContains(t, be.Failures[0].Err, "panicked")
	retry, _ := exposure.IsRetryable(be.Failures[0].Err)
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
	require.Len(t, be.Failures, 2)
	for _, f := range be.Failures {
		retry, _ := exposure.IsRetryable(f.Err)
		assert.True(t, retry)
		assert.True(t, errors.Is(f.Err, context.Canceled))
	}
	assert.Empty(t, v.all())
}
