package exposure_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditEnv is a tracker behind a real HTTP server with the debug view at
// /debug/exposures and these pages:
//
//	/home       evaluates the experiment flag (an assignment)
//	/checkout   evaluates and marks it, except for users in skipMark (a
//	            render-site bug that forgets one variant)
//	/orphan     marks the flag without evaluating it (an unassigned mark)
type auditEnv struct {
	*env
	srv      *httptest.Server
	skipMark string // variant whose checkout forgets to mark
}

func newAuditEnv(t *testing.T, opts ...exposure.Option) *auditEnv {
	t.Helper()
	weighted := checkout
	weighted.Weights = map[string]float64{"Variant A": 50, "Variant B": 50}
	e := &auditEnv{}
	e.env = newEnvWith(t, weighted, opts...)
	mux := http.NewServeMux()
	eval := func(r *http.Request) string {
		v, _ := e.client.StringValue(r.Context(), flagKey, "classic", userCtx(r.URL.Query().Get("user")))
		return v
	}
	mux.HandleFunc("/home", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "home "+eval(r)) })
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		v := eval(r)
		if !(e.skipMark == "b" && v == "one-page") {
			_ = exposure.MarkRendered(r.Context(), flagKey)
		}
		_, _ = io.WriteString(w, "checkout "+v)
	})
	mux.HandleFunc("/orphan", func(w http.ResponseWriter, r *http.Request) {
		_ = exposure.MarkRendered(r.Context(), flagKey)
		_ = exposure.MarkRendered(r.Context(), "never-evaluated")
	})
	mux.Handle("/debug/exposures", e.tracker.DebugHandler())
	e.srv = httptest.NewServer(e.tracker.Middleware(mux))
	t.Cleanup(e.srv.Close)
	return e
}

// newEnvWith is newEnv with exp as the only experiment.
func newEnvWith(t *testing.T, exp exposure.Experiment, opts ...exposure.Option) *env {
	t.Helper()
	e := &env{recorder: exposuretest.NewRecorder(), rules: &flagRules{}}
	tr, err := exposure.New(append([]exposure.Option{
		exposure.WithLogger(quietLogger),
		exposure.WithExperiments(exp),
		exposure.WithSink(e.recorder, exposure.WithFlushInterval(10*time.Millisecond)),
	}, opts...)...)
	require.NoError(t, err)
	e.tracker = tr
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	e.client = newClient(t, newProvider(e.rules), tr.Hook())
	return e
}

func (e *auditEnv) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, b)
	return string(b)
}

func (e *auditEnv) report(t *testing.T) exposure.AuditReport {
	t.Helper()
	var r exposure.AuditReport
	require.NoError(t, json.Unmarshal([]byte(e.get(t, "/debug/exposures?format=json")), &r))
	return r
}

func findExperiment(t *testing.T, r exposure.AuditReport, name string) exposure.ExperimentAudit {
	t.Helper()
	for _, e := range r.Experiments {
		if e.Name == name {
			return e
		}
	}
	require.Failf(t, "experiment missing", "%q not in %+v", name, r.Experiments)
	return exposure.ExperimentAudit{}
}

func findVariant(t *testing.T, e exposure.ExperimentAudit, name string) exposure.VariantAudit {
	t.Helper()
	for _, v := range e.Variants {
		if v.Name == name {
			return v
		}
	}
	require.Failf(t, "variant missing", "%q not in %+v", name, e.Variants)
	return exposure.VariantAudit{}
}

// byParity assigns even users variant a and odd users variant b.
func byParity(user string) string {
	var n int
	_, _ = fmt.Sscanf(user, "u%d", &n)
	if n%2 == 0 {
		return "a"
	}
	return "b"
}

// Many goroutines go through real HTTP and the middleware; the audit's
// counts must match what the sink received.
func TestAuditCountsMatchSinkUnderConcurrentLoad(t *testing.T) {
	e := newAuditEnv(t)
	e.rules.variantFor = byParity
	const users = 300 // under the exact-count limit of 384 per variant
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for u := range work {
				user := fmt.Sprintf("u%d", u)
				e.get(t, "/home?user="+user)
				if u%3 == 0 {
					continue // assigned, never exposed
				}
				e.get(t, "/checkout?user="+user)
				if u%5 == 0 {
					e.get(t, "/checkout?user="+user) // a refresh: a duplicate
				}
			}
		})
	}
	for u := range users {
		work <- u
	}
	close(work)
	wg.Wait()
	e.settle(t)

	got := e.recorder.Exposures()
	exposures := map[string]int{}
	subjects := map[string]map[string]bool{"Variant A": {}, "Variant B": {}}
	for _, x := range got {
		exposures[x.Variant]++
		subjects[x.Variant][x.Identity.DistinctID] = true
	}
	var wantAssigned, wantDup = map[string]int{}, map[string]int{}
	for u := range users {
		v := map[string]string{"a": "Variant A", "b": "Variant B"}[byParity(fmt.Sprintf("u%d", u))]
		wantAssigned[v]++
		if u%3 != 0 && u%5 == 0 {
			wantDup[v]++
		}
	}

	r := e.report(t)
	exp := findExperiment(t, r, "Checkout Redesign")
	require.Len(t, exp.Variants, 2)
	for _, name := range []string{"Variant A", "Variant B"} {
		v := findVariant(t, exp, name)
		assert.Equal(t, uint64(exposures[name]), v.Exposures, "%s exposures", name)
		assert.Equal(t, uint64(len(subjects[name])), v.SubjectsExposed, "%s subjects exposed", name)
		assert.Equal(t, uint64(wantAssigned[name]), v.SubjectsAssigned, "%s subjects assigned", name)
		assert.Equal(t, uint64(wantDup[name]), v.Duplicates, "%s duplicates", name)
		assert.Zero(t, v.Drops)
		require.NotNil(t, v.ExposureRate)
		assert.InDelta(t, float64(len(subjects[name]))/float64(wantAssigned[name]), *v.ExposureRate, 1e-12)
		require.NotNil(t, v.MedianRenderMillis, "%s median", name)
		assert.Less(t, *v.MedianRenderMillis, 1000.0)
	}
	require.Len(t, r.Sinks, 1)
	assert.Equal(t, uint64(len(got)), r.Sinks[0].Delivered)
	assert.Equal(t, uint64(len(got)), r.Totals.Committed)
	assert.Zero(t, r.Sinks[0].QueueDepth)
	assert.Equal(t, uint64(len(got)), r.RecentTotal)
	assert.Len(t, r.Recent, exposure.DefaultDebugRecent)
	assert.False(t, exp.SRM.Flagged, "an even split of a healthy page: %v", exp.SRM.Reasons)
}

func TestAuditJSONHasTheDocumentedFields(t *testing.T) {
	e := newAuditEnv(t)
	e.rules.variantFor = byParity
	for u := range 4 {
		e.get(t, fmt.Sprintf("/checkout?user=u%d", u))
	}
	e.get(t, "/orphan")
	e.settle(t)

	var doc map[string]any
	resp, err := e.srv.Client().Get(e.srv.URL + "/debug/exposures?format=json")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))

	keys := func(m any) []string {
		var ks []string
		for k := range m.(map[string]any) {
			ks = append(ks, k)
		}
		return ks
	}
	assert.ElementsMatch(t, []string{"generated_at", "ids_masked", "totals", "experiments", "unassigned_marks",
		"sinks", "recent_exposures", "recent_total", "untracked"}, keys(doc))
	assert.ElementsMatch(t, []string{"evaluations", "assignments", "skipped", "unscoped", "no_subject", "marks",
		"unassigned_marks", "committed", "duplicates", "discarded", "dedupe_errors"}, keys(doc["totals"]))
	exp := doc["experiments"].([]any)[0]
	assert.ElementsMatch(t, []string{"name", "flag_key", "registered", "variants", "unassigned_marks", "srm"}, keys(exp))
	variant := exp.(map[string]any)["variants"].([]any)[0]
	assert.ElementsMatch(t, []string{"name", "assignments", "subjects_assigned", "subjects_exposed", "exposure_rate",
		"exposures", "duplicates", "drops", "median_render_ms", "expected_share", "observed_share"}, keys(variant))
	assert.ElementsMatch(t, []string{"chi_square", "p_value", "degrees_of_freedom", "enough_subjects", "rate_spread",
		"rate_threshold", "flagged", "reasons"}, keys(exp.(map[string]any)["srm"]))
	sink := doc["sinks"].([]any)[0]
	assert.ElementsMatch(t, []string{"name", "enqueued", "delivered", "failed", "retried", "dropped", "undelivered",
		"queue_depth", "last_error", "last_error_at"}, keys(sink))
	recent := doc["recent_exposures"].([]any)
	require.Len(t, recent, 4)
	assert.ElementsMatch(t, []string{"event", "flag_key", "properties"}, keys(recent[0]))
	props := recent[0].(map[string]any)["properties"].(map[string]any)
	assert.ElementsMatch(t, []string{"Experiment name", "Variant name", "distinct_id", "time", "$insert_id"}, keys(props))
	assert.Equal(t, "$experiment_started", recent[0].(map[string]any)["event"])

	// The values: the newest exposure first, as the sink got it.
	r := e.report(t)
	sent := e.recorder.Exposures()
	last := sent[len(sent)-1]
	p := r.Recent[0].Properties
	assert.Equal(t, last.Experiment, p.Experiment)
	assert.Equal(t, last.Variant, p.Variant)
	assert.Equal(t, last.Time.UnixMilli(), p.Time)
	assert.Equal(t, last.InsertID, p.InsertID)
	assert.Equal(t, flagKey, r.Recent[0].FlagKey)
	assert.True(t, r.IDsMasked)
	assert.Regexp(t, `^masked:[0-9a-f]{8}$`, p.DistinctID)
	assert.Equal(t, []exposure.FlagCount{{Flag: flagKey, Count: 1}, {Flag: "never-evaluated", Count: 1}}, r.UnassignedMarks)
	assert.Equal(t, uint64(1), findExperiment(t, r, "Checkout Redesign").UnassignedMarks)
	assert.Equal(t, uint64(2), r.Totals.UnassignedMarks)
}

func TestDebugViewMasksIDsUnlessAllowed(t *testing.T) {
	for _, show := range []bool{false, true} {
		t.Run(fmt.Sprint("show=", show), func(t *testing.T) {
			e := newAuditEnv(t, exposure.WithDebugShowIDs(show))
			e.get(t, "/checkout?user=alice-secret@example.com")
			e.settle(t)
			page := e.get(t, "/debug/exposures")
			js := e.get(t, "/debug/exposures?format=json")
			for _, body := range []string{page, js} {
				assert.Equal(t, show, strings.Contains(body, "alice-secret@example.com"))
				assert.Equal(t, !show, strings.Contains(body, "masked:"))
			}
		})
	}
}

func TestSRMFlagsARenderSiteThatForgetsAVariant(t *testing.T) {
	e := newAuditEnv(t)
	e.rules.variantFor = byParity
	e.skipMark = "b" // variant B's checkout never marks
	for u := range 40 {
		e.get(t, fmt.Sprintf("/checkout?user=u%d", u))
	}
	e.settle(t)
	exp := findExperiment(t, e.report(t), "Checkout Redesign")
	a, b := findVariant(t, exp, "Variant A"), findVariant(t, exp, "Variant B")
	assert.Equal(t, uint64(20), a.SubjectsAssigned)
	assert.Equal(t, uint64(20), b.SubjectsAssigned)
	assert.Equal(t, uint64(0), b.SubjectsExposed)
	assert.True(t, exp.SRM.Flagged)
	require.NotNil(t, exp.SRM.RateSpread)
	assert.InDelta(t, 1.0, *exp.SRM.RateSpread, 1e-12)
	require.NotEmpty(t, exp.SRM.Reasons)
	assert.Contains(t, strings.Join(exp.SRM.Reasons, " "), "exposure rates differ")
	assert.False(t, exp.SRM.EnoughSubjects, "variant B has no exposed subject")
}

func TestSRMFlagsAnUnevenSplitOfExposedSubjects(t *testing.T) {
	cases := []struct {
		name    string
		users   int
		variant func(string) string
		flagged bool
	}{
		// 3 of 4 users get A while the weights say 50/50: chi2 = 50.
		{"uneven", 200, func(u string) string {
			var n int
			_, _ = fmt.Sscanf(u, "u%d", &n)
			return map[bool]string{true: "a", false: "b"}[n%4 != 0]
		}, true},
		{"even", 200, byParity, false},
		// The same 3:1 skew on 12 users: too few in B (3) to judge.
		{"too few", 12, func(u string) string {
			var n int
			_, _ = fmt.Sscanf(u, "u%d", &n)
			return map[bool]string{true: "a", false: "b"}[n%4 != 0]
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newAuditEnv(t)
			e.rules.variantFor = c.variant
			for u := range c.users {
				e.get(t, fmt.Sprintf("/checkout?user=u%d", u))
			}
			e.settle(t)
			exp := findExperiment(t, e.report(t), "Checkout Redesign")
			require.NotNil(t, exp.SRM.PValue)
			assert.Equal(t, c.flagged, exp.SRM.Flagged, "p=%v reasons=%v", *exp.SRM.PValue, exp.SRM.Reasons)
			if c.name == "uneven" {
				assert.InDelta(t, 50.0, *exp.SRM.ChiSquare, 1e-9)
				assert.Less(t, *exp.SRM.PValue, exposure.SRMPValueThreshold)
				assert.InDelta(t, 0.5, findVariant(t, exp, "Variant A").ExpectedShare, 1e-12)
				assert.InDelta(t, 0.75, findVariant(t, exp, "Variant A").ObservedShare, 1e-12)
			}
		})
	}
}

func TestDebugHandlerPage(t *testing.T) {
	e := newAuditEnv(t)
	e.rules.variantFor = byParity
	for u := range 10 {
		e.get(t, fmt.Sprintf("/checkout?user=u%d", u))
	}
	e.settle(t)
	resp, err := e.srv.Client().Get(e.srv.URL + "/debug/exposures")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	page := string(body)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	assert.Contains(t, page, `<meta http-equiv="refresh" content="5">`)
	assert.Contains(t, page, "Checkout Redesign")
	assert.Contains(t, page, `class="srm-chart"`)
	assert.Contains(t, page, "recorder")
	for _, ref := range []string{"http://", "https://", "src=", "href=", "<script", "<link"} {
		assert.NotContains(t, page, ref, "the page loads nothing from elsewhere")
	}
	assert.Equal(t, 10, strings.Count(page, "<td class=\"l mono\">$experiment_started</td>"))

	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/debug/exposures", nil)
	require.NoError(t, err)
	resp2, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp2.StatusCode)
}

func TestDebugRecentRingIsBounded(t *testing.T) {
	e := newAuditEnv(t, exposure.WithDebugRecent(3))
	for u := range 7 {
		e.get(t, fmt.Sprintf("/checkout?user=u%d", u))
	}
	e.settle(t)
	r := e.report(t)
	require.Len(t, r.Recent, 3)
	assert.Equal(t, uint64(7), r.RecentTotal)
	sent := e.recorder.Exposures()
	for i, x := range r.Recent { // newest first
		assert.Equal(t, sent[len(sent)-1-i].InsertID, x.Properties.InsertID)
	}
}

func TestAuditOptionsRejectBadValues(t *testing.T) {
	for _, o := range []exposure.Option{
		exposure.WithDebugRecent(-1),
		exposure.WithSRMRateThreshold(0),
		exposure.WithSRMRateThreshold(1.5),
		exposure.WithMeterProvider(nil),
	} {
		_, err := exposure.New(exposure.WithSink(discardSink{}), o)
		require.Error(t, err)
		assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
	}
}

func TestSRMRateThresholdOption(t *testing.T) {
	// B marks in 2 of 3 checkouts: a 33-point spread; flagged at 10, not at 50.
	for _, c := range []struct {
		threshold float64
		flagged   bool
	}{{0.10, true}, {0.50, false}} {
		t.Run(fmt.Sprint(c.threshold), func(t *testing.T) {
			e := newAuditEnv(t, exposure.WithSRMRateThreshold(c.threshold))
			e.rules.variantFor = byParity
			for u := range 60 {
				user := fmt.Sprintf("u%d", u)
				if byParity(user) == "b" && u%3 == 0 {
					e.get(t, "/home?user="+user)
					continue
				}
				e.get(t, "/checkout?user="+user)
			}
			e.settle(t)
			exp := findExperiment(t, e.report(t), "Checkout Redesign")
			require.NotNil(t, exp.SRM.RateSpread)
			assert.InDelta(t, 1.0/3, *exp.SRM.RateSpread, 1e-9)
			assert.Equal(t, c.flagged, exp.SRM.Flagged, "%v", exp.SRM.Reasons)
		})
	}
}

func TestAuditCountsDropsPerVariant(t *testing.T) {
	rec := exposuretest.NewRecorder()
	tr, err := exposure.New(exposure.WithLogger(quietLogger), exposure.WithExperiments(checkout),
		// One slot, and no flush before Close: the second exposure on is dropped.
		exposure.WithSink(rec, exposure.WithQueueSize(1), exposure.WithFlushInterval(time.Hour)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	client := newClient(t, newProvider(&flagRules{variantFor: byParity}), tr.Hook())
	for u := range 5 { // u0 is queued; u1..u4 are dropped (B: u1, u3; A: u2, u4)
		ctx, s := tr.Scope(context.Background())
		_, err := client.StringValue(ctx, flagKey, "classic", userCtx(fmt.Sprintf("u%d", u)))
		require.NoError(t, err)
		require.NoError(t, exposure.MarkRendered(ctx, flagKey))
		require.NoError(t, s.Commit(ctx))
	}
	r := tr.AuditReport()
	exp := findExperiment(t, r, "Checkout Redesign")
	a, b := findVariant(t, exp, "Variant A"), findVariant(t, exp, "Variant B")
	assert.Equal(t, uint64(2), a.Drops)
	assert.Equal(t, uint64(2), b.Drops)
	assert.Equal(t, uint64(1), a.Exposures)
	assert.Equal(t, uint64(0), b.Exposures)
	assert.Equal(t, uint64(4), r.Sinks[0].Dropped)
	assert.Equal(t, 1, r.Sinks[0].QueueDepth)
}

func TestSRMFlagsAVariantMissingFromWeights(t *testing.T) {
	exp := checkout
	exp.Weights = map[string]float64{"Variant A": 1} // Variant B forgotten
	e := newEnvWith(t, exp)
	e.rules.variantFor = byParity
	srv := e.server(t)
	for u := range 4 {
		get(t, srv, fmt.Sprintf("/checkout?user=u%d", u))
	}
	e.settle(t)
	r := e.tracker.AuditReport()
	got := findExperiment(t, r, "Checkout Redesign")
	assert.True(t, got.SRM.Flagged)
	assert.Nil(t, got.SRM.PValue)
	assert.Contains(t, got.SRM.Note, `"Variant B" has no weight`)
}
