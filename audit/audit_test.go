package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
	"github.com/exposurekit/exposure/exposuretest"
)

// Many goroutines go through real HTTP and the middleware; the audit's
// counts must match what the sink received.
func TestCountsMatchSinkUnderConcurrentLoad(t *testing.T) {
	e := newEnv(t, checkout, nil)
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
	wantAssigned, wantDup := map[string]int{}, map[string]int{}
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
		assert.Equal(t, uint64(exposures[name]), v.Counts[exposure.StageCommitted], "%s exposures", name)
		assert.Equal(t, uint64(len(subjects[name])), v.SubjectsExposed, "%s subjects exposed", name)
		assert.Equal(t, uint64(wantAssigned[name]), v.SubjectsAssigned, "%s subjects assigned", name)
		assert.Equal(t, uint64(wantDup[name]), v.Counts[exposure.StageDuplicate], "%s duplicates", name)
		assert.Zero(t, v.Counts[exposure.StageDropped])
		require.NotNil(t, v.ExposureRate)
		assert.InDelta(t, float64(len(subjects[name]))/float64(wantAssigned[name]), *v.ExposureRate, 1e-12)
		require.NotNil(t, v.MedianRenderMillis, "%s median", name)
		assert.Less(t, *v.MedianRenderMillis, 1000.0)
	}
	require.Len(t, r.Sinks, 1)
	assert.Equal(t, uint64(len(got)), r.Sinks[0].Counts[exposure.StageDelivered])
	assert.Equal(t, uint64(len(got)), r.Totals[exposure.StageCommitted])
	assert.Zero(t, r.Sinks[0].QueueDepth)
	assert.Zero(t, r.Sinks[0].Pending)
	assert.Equal(t, uint64(len(got)), r.RecentTotal)
	assert.Len(t, r.Recent, audit.DefaultRecent)
	assert.False(t, exp.SRM.Flagged, "an even split of a healthy page: %v", exp.SRM.Reasons)
}

func TestJSONHasTheDocumentedFields(t *testing.T) {
	e := newEnv(t, checkout, nil)
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
	var stages []string
	for s := range exposure.StageClosed + 1 {
		stages = append(stages, s.String())
	}
	assert.ElementsMatch(t, []string{"generated_at", "ids_masked", "totals", "skipped", "experiments", "unassigned_marks",
		"sinks", "recent_exposures", "recent_total", "untracked"}, keys(doc))
	assert.ElementsMatch(t, stages, keys(doc["totals"]), "every stage, by name")
	assert.ElementsMatch(t, []string{"unscoped", "no_subject", "other"}, keys(doc["skipped"]))
	exp := doc["experiments"].([]any)[0]
	assert.ElementsMatch(t, []string{"name", "flag_key", "registered", "variants", "unassigned_marks", "srm",
		"failures", "crossovers", "bots"}, keys(exp))
	variant := exp.(map[string]any)["variants"].([]any)[0]
	assert.ElementsMatch(t, []string{"name", "counts", "subjects_assigned", "subjects_exposed", "exposure_rate",
		"median_render_ms", "expected_share", "observed_share", "failure_rate", "bot_share"}, keys(variant))
	assert.ElementsMatch(t, []string{"assigned", "reverted", "marked", "handed_off", "discarded", "failed_render",
		"failed_request", "bot", "committed", "duplicate", "crossover", "dedupe_error", "queued", "dropped"},
		keys(variant.(map[string]any)["counts"]))
	assert.ElementsMatch(t, []string{"chi_square", "p_value", "sequential_p_value", "degrees_of_freedom", "enough_subjects",
		"rate_spread", "rate_threshold", "flagged", "reasons", "equal_split_assumed"}, keys(exp.(map[string]any)["srm"]))
	// 4 assignments: too few to test; the note says so (omitted when empty).
	assert.ElementsMatch(t, []string{"failed", "assigned", "chi_square", "p_value", "degrees_of_freedom", "flagged", "note"},
		keys(exp.(map[string]any)["failures"]))
	assert.ElementsMatch(t, []string{"crossovers", "committed", "share", "flagged"}, keys(exp.(map[string]any)["crossovers"]))
	sink := doc["sinks"].([]any)[0]
	assert.ElementsMatch(t, []string{"name", "counts", "pending", "queue_depth", "last_error", "last_error_at"}, keys(sink))
	assert.ElementsMatch(t, []string{"queued", "dropped", "delivered", "retried", "failed", "undelivered"},
		keys(sink.(map[string]any)["counts"]))
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
	assert.Regexp(t, `^masked:[0-9a-f]{16}$`, p.InsertID)
	assert.Equal(t, flagKey, r.Recent[0].FlagKey)
	assert.True(t, r.IDsMasked)
	assert.Regexp(t, `^masked:[0-9a-f]{16}$`, p.DistinctID)
	assert.Equal(t, []audit.FlagCount{{Flag: flagKey, Count: 1}, {Flag: "never-evaluated", Count: 1}}, r.UnassignedMarks)
	assert.Equal(t, uint64(1), findExperiment(t, r, "Checkout Redesign").UnassignedMarks)
	assert.Equal(t, uint64(2), r.Totals[exposure.StageUnassignedMark])
	assert.Equal(t, uint64(4), r.Totals[exposure.StageCommitted], "decoded by stage name")
}

func TestIDsMaskedUnlessAllowed(t *testing.T) {
	for _, show := range []bool{false, true} {
		t.Run(fmt.Sprint("show=", show), func(t *testing.T) {
			e := newEnv(t, checkout, []audit.Option{audit.WithShowIDs(show)})
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
	e := newEnv(t, checkout, nil)
	e.rules.variantFor = byParity
	e.skipMark = true // variant B's checkout never marks
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
		{"uneven", 200, threeToOne, true},
		{"even", 200, byParity, false},
		// The same 3:1 skew on 12 users: too few in B (3) to judge.
		{"too few", 12, threeToOne, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, checkout, nil)
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
				assert.Less(t, *exp.SRM.PValue, audit.SRMPValueThreshold)
				assert.InDelta(t, 0.5, findVariant(t, exp, "Variant A").ExpectedShare, 1e-12)
				assert.InDelta(t, 0.75, findVariant(t, exp, "Variant A").ObservedShare, 1e-12)
			}
		})
	}
}

func TestHandlerServesThePage(t *testing.T) {
	e := newEnv(t, checkout, nil)
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
	assert.Equal(t, "GET, HEAD", resp2.Header.Get("Allow"))
}

func TestRecentExposuresAreBounded(t *testing.T) {
	e := newEnv(t, checkout, []audit.Option{audit.WithRecent(3), audit.WithShowIDs(true)})
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

func TestNewAuditorRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    []audit.Option
		mention []string
	}{
		{"negative recent", []audit.Option{audit.WithRecent(-1)}, []string{"-1"}},
		{"huge recent", []audit.Option{audit.WithRecent(100_001)}, []string{"100001"}},
		{"zero threshold", []audit.Option{audit.WithRateThreshold(0)}, []string{"WithRateThreshold: 0"}},
		{"threshold over 1", []audit.Option{audit.WithRateThreshold(1.5)}, []string{"1.5"}},
		{"NaN threshold", []audit.Option{audit.WithRateThreshold(math.NaN())}, []string{"NaN"}},
		{"nil option", []audit.Option{nil}, []string{"option 0 is nil"}},
		{"every error at once", []audit.Option{audit.WithRecent(-1), nil, audit.WithRateThreshold(2)},
			[]string{"-1", "option 1 is nil", "2 is outside"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			aud, err := audit.NewAuditor(c.opts...)
			require.Error(t, err)
			assert.Nil(t, aud)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, m := range c.mention {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
	aud, err := audit.NewAuditor(audit.WithRecent(0), audit.WithRateThreshold(1), audit.WithShowIDs(true))
	require.NoError(t, err)
	assert.NotNil(t, aud)
}

func TestRateThresholdOption(t *testing.T) {
	// B marks in 2 of 3 checkouts: a 33-point spread; flagged at 10, not at 50.
	for _, c := range []struct {
		threshold float64
		flagged   bool
	}{{0.10, true}, {0.50, false}} {
		t.Run(fmt.Sprint(c.threshold), func(t *testing.T) {
			e := newEnv(t, checkout, []audit.Option{audit.WithRateThreshold(c.threshold)})
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
			assert.Equal(t, c.threshold, exp.SRM.RateThreshold)
			assert.Equal(t, c.flagged, exp.SRM.Flagged, "%v", exp.SRM.Reasons)
		})
	}
}

func TestDropsAreCountedPerVariant(t *testing.T) {
	aud, err := audit.NewAuditor()
	require.NoError(t, err)
	rec := exposuretest.NewRecorder()
	tr, err := exposure.NewTracker(exposure.WithLogger(quietLogger), exposure.WithExperiments(checkout),
		exposure.WithObserver(aud),
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
	r := aud.Report(tr)
	exp := findExperiment(t, r, "Checkout Redesign")
	a, b := findVariant(t, exp, "Variant A"), findVariant(t, exp, "Variant B")
	assert.Equal(t, uint64(2), a.Counts[exposure.StageDropped])
	assert.Equal(t, uint64(2), b.Counts[exposure.StageDropped])
	assert.Equal(t, uint64(1), a.Counts[exposure.StageCommitted])
	assert.Equal(t, uint64(0), b.Counts[exposure.StageCommitted])
	assert.Equal(t, uint64(4), r.Sinks[0].Counts[exposure.StageDropped])
	assert.Equal(t, 1, r.Sinks[0].QueueDepth)
	assert.Equal(t, uint64(1), r.Sinks[0].Pending)
}

func TestSRMFlagsAVariantMissingFromWeights(t *testing.T) {
	exp := checkout
	exp.Weights = map[string]float64{"Variant A": 1} // Variant B forgotten
	e := newEnv(t, exp, nil)
	e.rules.variantFor = byParity
	for u := range 4 {
		e.get(t, fmt.Sprintf("/checkout?user=u%d", u))
	}
	e.settle(t)
	got := findExperiment(t, e.auditor.Report(e.tracker), "Checkout Redesign")
	assert.True(t, got.SRM.Flagged)
	assert.Nil(t, got.SRM.PValue)
	assert.Equal(t, `variant "Variant B" has no weight`, got.SRM.Note)
}

// Registered experiments are reported before any traffic, with the
// variants of their weights; experiments a provider names are reported
// after them, as unregistered.
func TestReportListsRegisteredExperimentsFirst(t *testing.T) {
	e := newEnv(t, checkout, nil)
	r := e.auditor.Report(e.tracker)
	require.Len(t, r.Experiments, 1)
	got := r.Experiments[0]
	assert.True(t, got.Registered)
	assert.Equal(t, flagKey, got.FlagKey)
	require.Len(t, got.Variants, 2)
	assert.Equal(t, "Variant A", got.Variants[0].Name)
	assert.Zero(t, got.Variants[0].Counts[exposure.StageAssigned])
	assert.Contains(t, got.Variants[0].Counts, exposure.StageAssigned, "zero counts are present")
	assert.Equal(t, "no observations", got.SRM.Note)

	// Without the Tracker, the Auditor's own accounts only.
	alone := e.auditor.Report(nil)
	assert.Empty(t, alone.Experiments)
	assert.Empty(t, alone.Sinks)
	assert.Empty(t, alone.Totals)
}
