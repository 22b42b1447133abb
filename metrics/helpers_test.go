package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/metrics"
)

const flagKey = "checkout-redesign"

var checkout = exposure.Experiment{
	FlagKey:  flagKey,
	Name:     "Checkout Redesign",
	Variants: map[string]string{"a": "Variant A", "b": "Variant B"},
}

// byParity is the variant of user "u<n>": a for even n, b for odd.
func byParity(user string) string {
	var n int
	_, _ = fmt.Sscanf(user, "u%d", &n)
	return [2]string{"a", "b"}[n%2]
}

// failingSink fails every send for good.
type failingSink struct{}

func (failingSink) Name() string { return "failing" }
func (failingSink) Send(context.Context, []exposure.Exposure) error {
	return errors.New("rejected for the test")
}

var domainSeq atomic.Int64

// env is a Tracker observed by a Recorder on an SDK MeterProvider read by
// hand, with the recorder sink, a sink that fails every send, and a real
// OpenFeature client whose flag splits users by parity.
type env struct {
	tracker *exposure.Tracker
	reader  *sdkmetric.ManualReader
	client  *openfeature.Client
}

func newEnv(t *testing.T, ropts ...metrics.Option) *env {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	rec, err := metrics.NewRecorder(mp, ropts...)
	require.NoError(t, err)
	tr, err := exposure.NewTracker(
		exposure.WithLogger(slog.New(slog.DiscardHandler)),
		exposure.WithExperiments(checkout),
		exposure.WithObserver(rec),
		exposure.WithSink(exposuretest.NewRecorder(), exposure.WithFlushInterval(10*time.Millisecond)),
		// Sent only by Flush (with a short interval the worker could send
		// before Flush began).
		exposure.WithSink(failingSink{}, exposure.WithFlushInterval(time.Hour)),
	)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })

	split := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		v := byParity(ctx[openfeature.TargetingKey].(string))
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason}
	}
	domain := fmt.Sprintf("metrics-test-%d", domainSeq.Add(1))
	require.NoError(t, openfeature.SetNamedProviderAndWait(domain, memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flagKey: {Key: flagKey, State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "classic", "b": "one-page"}, ContextEvaluator: &split},
	})))
	client := openfeature.NewClient(domain)
	client.AddHooks(tr.Hook())
	return &env{tracker: tr, reader: reader, client: client}
}

// visit is one request of user: the flag evaluated, marked if mark, and
// the scope committed.
func (e *env) visit(t *testing.T, user string, mark bool) {
	t.Helper()
	ctx, s := e.tracker.Scope(context.Background())
	_, err := e.client.StringValue(ctx, flagKey, "classic", openfeature.NewEvaluationContext(user, nil))
	require.NoError(t, err)
	if mark {
		require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	}
	require.NoError(t, s.Commit(ctx))
}

// collect reads every data point, keyed by the instrument's name and its
// attributes ("exposure.delivered sink=recorder").
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, metrics.MeterName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			var dps []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				require.True(t, d.IsMonotonic, m.Name)
				dps = d.DataPoints
			case metricdata.Gauge[int64]:
				dps = d.DataPoints
			case metricdata.Gauge[float64]:
				require.Equal(t, "exposure.crossover.share", m.Name, "the one float instrument; see collectFloat")
			default:
				require.Failf(t, "unexpected data", "%s: %T", m.Name, m.Data)
			}
			for _, dp := range dps {
				out[key(m.Name, dp.Attributes)] = dp.Value
			}
		}
	}
	return out
}

// collectFloat reads the data points of the float gauges, keyed as by
// collect.
func collectFloat(t *testing.T, r *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[float64]); ok {
				for _, dp := range g.DataPoints {
					out[key(m.Name, dp.Attributes)] = dp.Value
				}
			}
		}
	}
	return out
}

func key(name string, set attribute.Set) string {
	s := name
	for _, kv := range set.ToSlice() {
		s += fmt.Sprintf(" %s=%s", kv.Key, kv.Value.Emit())
	}
	return s
}
