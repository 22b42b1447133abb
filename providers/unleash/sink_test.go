package unleash_test

import (
	"context"
	"testing"
	"time"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/unleash"
)

func exposureOf(flag, variant, id string) exposure.Exposure {
	return exposure.Exposure{
		Assignment: exposure.Assignment{
			FlagKey:    flag,
			Experiment: flag,
			Variant:    variant,
			Identity:   exposure.Identity{DistinctID: id},
			Context:    openfeature.NewEvaluationContext(id, map[string]any{"plan": "pro"}),
		},
		Time:     time.Unix(1700000000, 0),
		InsertID: "0123456789abcdef0123456789abcdef",
	}
}

type sinkEnv struct {
	srv  *server
	p    *unleash.Provider
	imps *impressions
	sink *unleash.Sink
}

func newSinkEnv(t *testing.T, opts ...unleash.SinkOption) *sinkEnv {
	t.Helper()
	e := &sinkEnv{srv: newServer(t), imps: newImpressions()}
	e.p = newProvider(t, e.srv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.p.InitWithContext(ctx, openfeature.EvaluationContext{}))
	t.Cleanup(e.p.Shutdown)
	client := newExposureClient(t, e.srv, e.imps)
	var err error
	e.sink, err = unleash.NewSink(e.p, client, append([]unleash.SinkOption{unleash.WithLogger(quiet)}, opts...)...)
	require.NoError(t, err)
	return e
}

func TestNewSinkValidates(t *testing.T) {
	e := newSinkEnv(t)
	client := newExposureClient(t, e.srv, e.imps)
	tests := []struct {
		name   string
		p      *unleash.Provider
		client *unleashsdk.Client
		opts   []unleash.SinkOption
		want   []string // what the error names
	}{
		{"nil provider", nil, client, nil, []string{"nil *Provider"}},
		{"nil client", e.p, nil, nil, []string{"nil *unleash.Client"}},
		{"nil option", e.p, client, []unleash.SinkOption{nil}, []string{"option 0 is nil"}},
		{"nil logger", e.p, client, []unleash.SinkOption{unleash.WithLogger(nil)}, []string{"nil *slog.Logger"}},
		{"every error at once", nil, nil, []unleash.SinkOption{unleash.WithLogger(quiet), nil},
			[]string{"nil *Provider", "nil *unleash.Client", "option 1 is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := unleash.NewSink(tt.p, tt.client, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
	assert.Equal(t, "unleash", e.sink.Name())
}

func TestSinkRecordsTheRenderedVariant(t *testing.T) {
	e := newSinkEnv(t)
	red, ctl := userIn(t, e.p, "redesign"), userIn(t, e.p, "control")

	require.NoError(t, e.sink.Send(context.Background(), []exposure.Exposure{
		exposureOf("checkout-redesign", "redesign", red),
		exposureOf("checkout-redesign", "control", ctl),
		exposureOf("price-test", "twelve", red),
	}))
	assert.Equal(t, unleash.SinkStats{Sent: 3}, e.sink.Stats())

	e.srv.waitMetrics(t)
	assert.Equal(t, map[string]toggleCount{
		"checkout-redesign": {Yes: 2, Variants: map[string]int32{"redesign": 1, "control": 1}},
		"price-test":        {Yes: 1, Variants: map[string]int32{"twelve": 1}},
	}, e.srv.counts(exposureInstance))

	// Impression events for the toggle with impression data only, in the
	// SDK's own shape, with the subject's context.
	require.Eventually(t, func() bool { return len(e.imps.all()) >= 2 }, 5*time.Second, 5*time.Millisecond)
	imps := e.imps.all()
	require.Len(t, imps, 2)
	assert.Equal(t, "checkout-redesign", imps[0].FeatureName)
	assert.Equal(t, "redesign", imps[0].Variant)
	assert.True(t, imps[0].Enabled)
	assert.Equal(t, red, imps[0].Context.UserId)
	assert.Equal(t, "pro", imps[0].Context.Properties["plan"])
	assert.Equal(t, "control", imps[1].Variant)
	assert.Equal(t, ctl, imps[1].Context.UserId)
}

func TestSinkNeverRecordsAnotherVariant(t *testing.T) {
	e := newSinkEnv(t)
	red := userIn(t, e.p, "redesign")

	require.NoError(t, e.sink.Send(context.Background(), []exposure.Exposure{
		exposureOf("checkout-redesign", "control", red), // Unleash assigns red "redesign"
		exposureOf("price-test", "twelve", red),         // a sentinel that is sent
	}))

	e.srv.waitMetrics(t)
	assert.Equal(t, map[string]toggleCount{"price-test": {Yes: 1, Variants: map[string]int32{"twelve": 1}}},
		e.srv.counts(exposureInstance))
	assert.Equal(t, unleash.SinkStats{Sent: 1, Mismatched: 1}, e.sink.Stats())
}

// The Sink compares Unleash's variant with the exposure's ProviderVariant,
// so a variant the Tracker's registry renamed needs no registration in the
// Sink. An exposure without a ProviderVariant falls back to its Variant.
func TestSinkComparesTheProviderVariant(t *testing.T) {
	e := newSinkEnv(t)
	red := userIn(t, e.p, "redesign") // Unleash assigns "redesign"

	tests := []struct {
		name            string
		variant         string // renamed by the registry, or not
		providerVariant string
		want            unleash.SinkStats // the Sink's counts after this case
	}{
		{"renamed variant, same provider variant", "Variant B", "redesign", unleash.SinkStats{Sent: 1}},
		{"renamed variant, another provider variant", "Variant A", "control", unleash.SinkStats{Sent: 1, Mismatched: 1}},
		{"no provider variant: the variant, same", "redesign", "", unleash.SinkStats{Sent: 2, Mismatched: 1}},
		{"no provider variant: a renamed variant does not match", "Variant B", "", unleash.SinkStats{Sent: 2, Mismatched: 2}},
	}
	for _, tt := range tests {
		x := exposureOf("checkout-redesign", tt.variant, red)
		x.ProviderVariant = tt.providerVariant
		require.NoError(t, e.sink.Send(context.Background(), []exposure.Exposure{x}), tt.name)
		assert.Equal(t, tt.want, e.sink.Stats(), tt.name)
	}

	e.srv.waitMetrics(t)
	assert.Equal(t, map[string]toggleCount{"checkout-redesign": {Yes: 2, Variants: map[string]int32{"redesign": 2}}},
		e.srv.counts(exposureInstance))
}

func TestSinkNoVariant(t *testing.T) {
	e := newSinkEnv(t)
	require.NoError(t, e.sink.Send(context.Background(), []exposure.Exposure{
		exposureOf("off-toggle", "x", "u1"),
		exposureOf("no-variants", "true", "u1"),
		exposureOf("gone", "x", "u1"),
		exposureOf("dark-mode", "true", "alice"), // a boolean toggle
		exposureOf("price-test", "twelve", "u1"), // a sentinel that is sent
	}))
	assert.Equal(t, unleash.SinkStats{Sent: 1, Skipped: 4}, e.sink.Stats())
	e.srv.waitMetrics(t)
	assert.Equal(t, map[string]toggleCount{"price-test": {Yes: 1, Variants: map[string]int32{"twelve": 1}}},
		e.srv.counts(exposureInstance))
}

func TestSinkCanceledContextIsRetryable(t *testing.T) {
	e := newSinkEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.sink.Send(ctx, []exposure.Exposure{exposureOf("price-test", "twelve", "u1")})
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	retry, _ := exposure.IsRetryable(be.Failed[0])
	assert.True(t, retry)
	assert.Zero(t, e.sink.Stats().Sent)
}

func TestShutdownLeaksNoGoroutine(t *testing.T) {
	s := newServer(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := newProvider(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.InitWithContext(ctx, openfeature.EvaluationContext{}))
	_ = p.StringEvaluation(ctx, "checkout-redesign", "", openfeature.FlattenedContext{openfeature.TargetingKey: "u"})
	require.NoError(t, p.ShutdownWithContext(ctx))
	s.CloseClientConnections()
}
