package exposure_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A subject moved from A to B is exposed to B, as Mixpanel expects, and
// counted as a crossover once; refreshes of B are duplicates.
func TestCrossoverIsCountedOnce(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	get(t, srv, "/checkout?user=dora")
	e.rules.variantFor = func(string) string { return "b" }
	for range 3 {
		get(t, srv, "/checkout?user=dora")
	}
	e.settle(t)

	var variants []string
	for _, x := range e.recorder.Exposures() {
		variants = append(variants, x.Variant)
	}
	assert.Equal(t, []string{"Variant A", "Variant B"}, variants)
	st := e.tracker.Stats()
	assert.Equal(t, uint64(1), st.Counts[exposure.StageCrossover])
	assert.Equal(t, uint64(2), st.Counts[exposure.StageDuplicate])

	// Back to A, and to B again, within the window: two more crossovers,
	// nothing sent: each variant was sent once already.
	e.rules.variantFor = nil
	get(t, srv, "/checkout?user=dora")
	e.rules.variantFor = func(string) string { return "b" }
	get(t, srv, "/checkout?user=dora")
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 2)
	assert.Equal(t, uint64(3), e.tracker.Stats().Counts[exposure.StageCrossover])
	assert.Equal(t, uint64(4), e.tracker.Stats().Counts[exposure.StageDuplicate])
}

// A crawler's request renders the variant but is not exposed; it is
// counted. Browsers and Go's HTTP client are not bots.
func TestBotsRenderButAreNotExposed(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	const googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	status, body := getAs(t, srv, "/checkout?user=crawler", googlebot)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "checkout classic", body, "the bot sees the page")
	getAs(t, srv, "/checkout?user=human", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36")
	get(t, srv, "/checkout?user=script")
	e.settle(t)

	var exposed []string
	for _, x := range e.recorder.Exposures() {
		exposed = append(exposed, x.Identity.DistinctID)
	}
	assert.ElementsMatch(t, []string{"human", "script"}, exposed)
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageBot])

	// The crawler's next visit is still not exposed, and a human later
	// with the same id is: the bot's mark claimed nothing.
	getAs(t, srv, "/checkout?user=crawler", googlebot)
	get(t, srv, "/checkout?user=crawler")
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 3)
	assert.Equal(t, uint64(2), e.tracker.Stats().Counts[exposure.StageBot])
}

func TestBotFilterOption(t *testing.T) {
	_, err := exposure.NewTracker(exposure.WithSink(discardSink{}), exposure.WithBotFilter(nil))
	require.ErrorIs(t, err, exposure.ErrInvalidConfig)
	assert.ErrorContains(t, err, "WithBotFilter")

	// A custom filter replaces the default: here, nobody is a bot except
	// the monitor.
	e := newEnv(t, exposure.WithBotFilter(func(r *http.Request) bool { return r.Header.Get("User-Agent") == "monitor" }))
	srv := e.server(t)
	getAs(t, srv, "/checkout?user=g", "Googlebot/2.1")
	getAs(t, srv, "/checkout?user=m", "monitor")
	e.settle(t)
	require.Len(t, e.recorder.Exposures(), 1)
	assert.Equal(t, "g", e.recorder.Exposures()[0].Identity.DistinctID)
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageBot])
}

// A streaming handler that commits early does not expose a bot either.
func TestBotsAreNotExposedByAnEarlyCommit(t *testing.T) {
	e := newEnv(t)
	h := e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = e.client.StringValue(r.Context(), flagKey, "classic", userCtx("streamer"))
		require.NoError(t, exposure.ScopeFromContext(r.Context()).Commit(r.Context()))
		_ = exposure.MarkRendered(r.Context(), flagKey) // delivered at once for a human
	}))
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)")
	h.ServeHTTP(httptest.NewRecorder(), req)
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures())
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageBot])
}

// holdoutProvider evaluates "pricing" as an experiment inside a holdout,
// with event properties, the way a provider names them in flag metadata.
func holdoutProvider(inHoldout func(user string) bool) *memprovider.InMemoryProvider {
	eval := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[openfeature.TargetingKey].(string)
		meta := openfeature.FlagMetadata{
			"experiment.1.name":                "Q4 holdout",
			"experiment.1.variant":             "passthrough",
			"experiment.1.property.Holdout id": int(7),
		}
		if inHoldout(user) {
			meta["experiment.1.variant"] = "held out"
			meta[exposure.MetadataInExperiment] = false // the experiment did not run
			return f.Variants["control"], openfeature.ProviderResolutionDetail{Variant: "control", Reason: openfeature.SplitReason, FlagMetadata: meta}
		}
		meta[exposure.MetadataExperimentName] = "Pricing"
		meta[exposure.MetadataExperimentVariant] = "cheaper"
		meta[exposure.MetadataInExperiment] = true
		meta[exposure.MetadataPropertyPrefix+"$experiment_id"] = "exp-123"
		meta[exposure.MetadataPropertyPrefix+"$is_qa_tester"] = false
		meta[exposure.MetadataPropertyPrefix+"ratio"] = 0.5
		meta[exposure.MetadataPropertyPrefix+"ignored"] = []string{"not a property type"}
		return f.Variants["cheaper"], openfeature.ProviderResolutionDetail{Variant: "cheaper", Reason: openfeature.SplitReason, FlagMetadata: meta}
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"pricing": {Key: "pricing", State: memprovider.Enabled, DefaultVariant: "control",
			Variants: map[string]any{"control": "9.99", "cheaper": "7.99"}, ContextEvaluator: &eval},
	})
}

// One evaluation that assigns two experiments (a holdout and the
// experiment inside it) exposes both at render, each with its properties.
func TestOneEvaluationSeveralAssignments(t *testing.T) {
	e := newEnv(t)
	client := newClient(t, holdoutProvider(func(u string) bool { return u == "held" }), e.tracker.Hook())
	render := func(user string) {
		ctx, scope := e.tracker.Scope(t.Context())
		_, err := client.StringValue(ctx, "pricing", "9.99", userCtx(user))
		require.NoError(t, err)
		require.NoError(t, exposure.MarkRendered(ctx, "pricing"))
		require.NoError(t, scope.Commit(ctx))
	}
	render("ann")
	render("ann") // a refresh: two duplicates
	render("held")
	e.settle(t)

	type row struct {
		who, experiment, variant string
		props                    map[string]any
	}
	var got []row
	for _, x := range e.recorder.Exposures() {
		assert.Equal(t, "pricing", x.FlagKey)
		assert.Empty(t, x.Related, "sinks get each assignment on its own")
		got = append(got, row{x.Identity.DistinctID, x.Experiment, x.Variant, x.Properties})
	}
	assert.ElementsMatch(t, []row{
		{"ann", "Pricing", "cheaper", map[string]any{"$experiment_id": "exp-123", "$is_qa_tester": false, "ratio": 0.5}},
		{"ann", "Q4 holdout", "passthrough", map[string]any{"Holdout id": int64(7)}},
		{"held", "Q4 holdout", "held out", map[string]any{"Holdout id": int64(7)}},
	}, got)
	st := e.tracker.Stats()
	assert.Equal(t, uint64(5), st.Counts[exposure.StageAssigned], "two per render of ann, one for held")
	assert.Equal(t, uint64(5), st.Counts[exposure.StageMarked])
	assert.Equal(t, uint64(3), st.Counts[exposure.StageCommitted])
	assert.Equal(t, uint64(2), st.Counts[exposure.StageDuplicate])
}

// A handed-off assignment carries its related assignments and properties:
// the confirming party commits all of them.
func TestHandOffCarriesRelatedAssignments(t *testing.T) {
	e := newEnv(t)
	client := newClient(t, holdoutProvider(func(string) bool { return false }), e.tracker.Hook())
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := client.StringValue(ctx, "pricing", "9.99", userCtx("ann"))
	require.NoError(t, err)
	a, err := scope.HandOff("pricing")
	require.NoError(t, err)
	require.Len(t, a.Related, 1)
	assert.Equal(t, "exp-123", a.Properties["$experiment_id"])
	require.NoError(t, scope.Commit(ctx))
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures(), "handed off: the scope sends nothing")

	require.NoError(t, e.tracker.Confirm(t.Context(), a))
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 2)
}

// Properties over Mixpanel's limits make the evaluation no assignment,
// like any field over them.
func TestPropertiesAreBounded(t *testing.T) {
	long := string(make([]byte, 256))
	for name, meta := range map[string]openfeature.FlagMetadata{
		"long value": {exposure.MetadataPropertyPrefix + "p": long},
		"long name":  {exposure.MetadataPropertyPrefix + long: "x"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			eval := func(f memprovider.InMemoryFlag, _ openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
				m := openfeature.FlagMetadata{exposure.MetadataExperimentName: "E", exposure.MetadataExperimentVariant: "v"}
				for k, v := range meta {
					m[k] = v
				}
				return true, openfeature.ProviderResolutionDetail{Variant: "v", FlagMetadata: m}
			}
			client := newClient(t, memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
				"f": {Key: "f", State: memprovider.Enabled, DefaultVariant: "v", Variants: map[string]any{"v": true}, ContextEvaluator: &eval},
			}), e.tracker.Hook())
			ctx, _ := e.tracker.Scope(t.Context())
			_, _ = client.BooleanValue(ctx, "f", false, userCtx("u"))
			assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageSkipped])
			assert.Zero(t, e.tracker.Stats().Counts[exposure.StageAssigned])
		})
	}
}

// Two confirmations of one subject's assignments to two variants, posted
// in turn (two browser tokens replayed), send each variant once: the
// flips are counted as crossovers, not sent.
func TestAlternatingConfirmationsSendEachVariantOnce(t *testing.T) {
	e := newEnv(t)
	a := exposure.Assignment{FlagKey: flagKey, Experiment: "Checkout Redesign", Variant: "Variant A", Identity: exposure.Identity{DistinctID: "eve"}}
	b := a
	b.Variant = "Variant B"
	for _, x := range []exposure.Assignment{a, a, b, a, b, a} {
		require.NoError(t, e.tracker.Confirm(t.Context(), x))
	}
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 2)
	st := e.tracker.Stats()
	assert.Equal(t, uint64(4), st.Counts[exposure.StageCrossover], "A→B, B→A, A→B, B→A")
	assert.Equal(t, uint64(4), st.Counts[exposure.StageDuplicate])
}

// The bot filter is asked only for a request that has something to
// expose: most requests mark nothing and pay nothing for it.
func TestBotFilterIsAskedOnlyWhenSomethingIsExposed(t *testing.T) {
	var asked atomic.Int32
	e := newEnv(t, exposure.WithBotFilter(func(*http.Request) bool { asked.Add(1); return false }))
	srv := e.server(t)
	get(t, srv, "/home?user=ann") // evaluates, marks nothing
	assert.Zero(t, asked.Load())
	get(t, srv, "/checkout?user=ann")
	assert.Equal(t, int32(1), asked.Load())
}
