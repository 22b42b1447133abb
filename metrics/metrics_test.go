package metrics_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/metrics"
)

func TestRecorderReportsTheCounts(t *testing.T) {
	e := newEnv(t)
	for u := range 6 {
		e.visit(t, fmt.Sprintf("u%d", u), true)
	}
	e.visit(t, "u0", true)  // a duplicate
	e.visit(t, "u9", false) // an assignment only
	// The failing sink makes Flush report an error; delivery is done all the same.
	require.ErrorIs(t, e.tracker.Flush(context.Background()), exposure.ErrUndelivered)

	got := collect(t, e.reader)
	const a, b = " experiment=Checkout Redesign variant=Variant A", " experiment=Checkout Redesign variant=Variant B"
	const render, request = " experiment=Checkout Redesign stage=failed_render", " experiment=Checkout Redesign stage=failed_request"
	want := map[string]int64{
		"exposure.evaluations":                                      8,
		"exposure.untracked":                                        0,
		"exposure.skipped reason=unscoped":                          0,
		"exposure.skipped reason=no_subject":                        0,
		"exposure.skipped reason=other":                             0,
		"exposure.assignments" + a:                                  4, // u0 twice, u2, u4
		"exposure.assignments" + b:                                  4, // u1, u3, u5, u9
		"exposure.assignments.reverted" + a:                         0,
		"exposure.assignments.reverted" + b:                         0,
		"exposure.subjects.assigned" + a:                            3,
		"exposure.subjects.assigned" + b:                            4,
		"exposure.subjects.exposed" + a:                             3,
		"exposure.subjects.exposed" + b:                             3,
		"exposure.marks" + a:                                        4,
		"exposure.marks" + b:                                        3,
		"exposure.handoffs" + a:                                     0,
		"exposure.handoffs" + b:                                     0,
		"exposure.discarded" + a:                                    0,
		"exposure.discarded" + b:                                    0,
		"exposure.committed" + a:                                    3,
		"exposure.committed" + b:                                    3,
		"exposure.duplicates" + a:                                   1,
		"exposure.duplicates" + b:                                   0,
		"exposure.dedupe.errors" + a:                                0,
		"exposure.dedupe.errors" + b:                                0,
		"exposure.bots" + a:                                         0,
		"exposure.bots" + b:                                         0,
		"exposure.crossovers" + a:                                   0,
		"exposure.crossovers" + b:                                   0,
		"exposure.requests.failed" + render + " variant=Variant A":  0,
		"exposure.requests.failed" + request + " variant=Variant A": 0,
		"exposure.requests.failed" + render + " variant=Variant B":  0,
		"exposure.requests.failed" + request + " variant=Variant B": 0,
		"exposure.queued sink=recorder":                             6,
		"exposure.delivered sink=recorder":                          6,
		"exposure.failed sink=recorder":                             0,
		"exposure.retried sink=recorder":                            0,
		"exposure.dropped sink=recorder":                            0,
		"exposure.undelivered sink=recorder":                        0,
		"exposure.pending sink=recorder":                            0,
		"exposure.queued sink=failing":                              6,
		"exposure.delivered sink=failing":                           0,
		"exposure.failed sink=failing":                              6,
		"exposure.retried sink=failing":                             0,
		"exposure.dropped sink=failing":                             0,
		"exposure.undelivered sink=failing":                         0,
		"exposure.pending sink=failing":                             0,
	}
	assert.Equal(t, want, got)
	assert.Equal(t, map[string]float64{"exposure.crossover.share experiment=Checkout Redesign": 0}, collectFloat(t, e.reader))

	// The counts are the Tracker's own.
	st := e.tracker.Stats()
	assert.Equal(t, int64(st.Counts[exposure.StageEvaluated]), got["exposure.evaluations"])
	assert.Equal(t, int64(st.Counts[exposure.StageCommitted]), got["exposure.committed"+a]+got["exposure.committed"+b])

	// Unassigned marks carry the flag; closing the tracker unregisters.
	for range 2 {
		ctx, s := e.tracker.Scope(context.Background())
		require.ErrorIs(t, exposure.MarkRendered(ctx, "nowhere"), exposure.ErrNotAssigned)
		require.NoError(t, s.Commit(ctx))
	}
	got = collect(t, e.reader)
	assert.Equal(t, int64(2), got["exposure.marks.unassigned flag=nowhere"])
	require.NoError(t, e.tracker.Close(context.Background()))
	assert.Empty(t, collect(t, e.reader), "no observation after Close")
}

// Exposures queued and not yet settled are pending; Flush settles them.
func TestPendingIsQueuedNotYetSettled(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"u1", "u2", "u3"} {
		e.visit(t, u, true)
	}
	assert.Equal(t, int64(3), collect(t, e.reader)["exposure.pending sink=failing"], "the failing sink sends only on Flush")
	require.ErrorIs(t, e.tracker.Flush(context.Background()), exposure.ErrUndelivered)
	got := collect(t, e.reader)
	assert.Zero(t, got["exposure.pending sink=failing"])
	assert.Equal(t, int64(3), got["exposure.failed sink=failing"])
}

func TestWithAttributesLabelsEveryMeasurement(t *testing.T) {
	e := newEnv(t, metrics.WithAttributes(attribute.String("tracker", "eu")))
	e.visit(t, "u1", true)
	got := collect(t, e.reader)
	require.NotEmpty(t, got)
	for k := range got {
		assert.Contains(t, k, "tracker=eu", k)
	}
	assert.Equal(t, int64(1), got["exposure.committed experiment=Checkout Redesign tracker=eu variant=Variant B"])
}

func TestNewRecorderRejectsBadInput(t *testing.T) {
	mp := sdkmetric.NewMeterProvider()
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	cases := []struct {
		name    string
		mp      *sdkmetric.MeterProvider
		opts    []metrics.Option
		mention []string
	}{
		{"nil provider", nil, nil, []string{"nil MeterProvider"}},
		{"nil option", mp, []metrics.Option{nil}, []string{"option 0 is nil"}},
		{"reserved stage attribute", mp, []metrics.Option{metrics.WithAttributes(attribute.String(metrics.AttrStage, "x"))}, []string{`"stage"`}},
		{"reserved attribute", mp, []metrics.Option{metrics.WithAttributes(attribute.String(metrics.AttrSink, "x"))}, []string{`"sink"`}},
		{"invalid attribute", mp, []metrics.Option{metrics.WithAttributes(attribute.KeyValue{})}, []string{"not valid"}},
		{"every error at once", nil, []metrics.Option{nil, metrics.WithAttributes(attribute.String(metrics.AttrFlag, "x"))},
			[]string{"nil MeterProvider", "option 0 is nil", `"flag"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			var rec *metrics.Recorder
			if c.mp == nil {
				rec, err = metrics.NewRecorder(nil, c.opts...)
			} else {
				rec, err = metrics.NewRecorder(c.mp, c.opts...)
			}
			require.Error(t, err)
			assert.Nil(t, rec)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, m := range c.mention {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

// An app that wants only metrics does not link the debug page.
func TestDoesNotLinkTheAuditPage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/exposurekit/exposure/metrics").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "go.opentelemetry.io/otel/metric", "the list is the package's dependencies")
	for _, banned := range []string{"html/template", "github.com/exposurekit/exposure/audit", "embed"} {
		assert.NotContains(t, deps, banned)
	}
}
