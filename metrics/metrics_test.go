package exposure_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, exposure.MeterName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			var dps []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				require.True(t, d.IsMonotonic, m.Name)
				dps = d.DataPoints
			case metricdata.Gauge[int64]:
				dps = d.DataPoints
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

func key(name string, set attribute.Set) string {
	s := name
	for _, kv := range set.ToSlice() {
		s += fmt.Sprintf(" %s=%s", kv.Key, kv.Value.Emit())
	}
	return s
}

// failingSink fails every send for good, so failed and last error show.
type failingSink struct{}

func (failingSink) Name() string { return "failing" }
func (failingSink) Send(context.Context, []exposure.Exposure) error {
	return errors.New("rejected for the test")
}

func TestMetricsReportTheCounters(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	e := newEnvWith(t, checkout, exposure.WithMeterProvider(mp),
		// Sent only by the Flush below, which then sees the failures (with a
		// short interval the worker could send them before Flush began).
		exposure.WithSink(failingSink{}, exposure.WithFlushInterval(time.Hour)))
	e.rules.variantFor = byParity
	srv := e.server(t)
	for u := range 6 {
		get(t, srv, fmt.Sprintf("/checkout?user=u%d", u))
	}
	get(t, srv, "/checkout?user=u0") // duplicate
	get(t, srv, "/home?user=u9")     // assignment only
	// The failing sink makes Flush report an error; delivery is done all the same.
	require.ErrorIs(t, e.tracker.Flush(context.Background()), exposure.ErrUndelivered)

	got := collect(t, reader)
	st := e.tracker.Stats()
	const exp = "experiment=Checkout Redesign"
	want := map[string]int64{
		"exposure.evaluations": int64(st.Evaluations),
		"exposure.marks":       7,
		"exposure.discarded":   0,
		"exposure.assignments " + exp + " variant=Variant A":       4, // u0 twice, u2, u4
		"exposure.assignments " + exp + " variant=Variant B":       4, // u1, u3, u5, u9
		"exposure.subjects.assigned " + exp + " variant=Variant A": 3,
		"exposure.subjects.assigned " + exp + " variant=Variant B": 4,
		"exposure.subjects.exposed " + exp + " variant=Variant A":  3,
		"exposure.subjects.exposed " + exp + " variant=Variant B":  3,
		"exposure.committed " + exp + " variant=Variant A":         3,
		"exposure.committed " + exp + " variant=Variant B":         3,
		"exposure.duplicates " + exp + " variant=Variant A":        1,
		"exposure.duplicates " + exp + " variant=Variant B":        0,
		"exposure.delivered sink=recorder":                         6,
		"exposure.failed sink=recorder":                            0,
		"exposure.retried sink=recorder":                           0,
		"exposure.dropped sink=recorder":                           0,
		"exposure.queue.depth sink=recorder":                       0,
		"exposure.delivered sink=failing":                          0,
		"exposure.failed sink=failing":                             6,
		"exposure.retried sink=failing":                            0,
		"exposure.dropped sink=failing":                            0,
		"exposure.queue.depth sink=failing":                        0,
	}
	assert.Equal(t, want, got)

	// Unassigned marks carry the flag; closing the tracker unregisters.
	orphan := e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = exposure.MarkRendered(r.Context(), "nowhere")
	}))
	for range 2 {
		orphan.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	got = collect(t, reader)
	assert.Equal(t, int64(2), got["exposure.marks.unassigned flag=nowhere"])
	require.NoError(t, e.tracker.Close(context.Background()))
	assert.Empty(t, collect(t, reader), "no observation after Close")
}
