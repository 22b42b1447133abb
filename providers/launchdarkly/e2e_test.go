package launchdarkly

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
	"github.com/launchdarkly/go-server-sdk/v7/testhelpers/ldtestdata"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var checkoutPage = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout-redesign" }}<button class="{{ .Variant }}">Pay</button>`))

var checkoutExp = exposure.Experiment{
	FlagKey:  "checkout-redesign",
	Name:     "Checkout Redesign",
	Variants: map[string]string{"control": "Control", "redesign": "Variant B"},
}

// app is a web app with LaunchDarkly behind OpenFeature and exposures going
// to Mixpanel (the fake) and to LaunchDarkly (the event server).
type app struct {
	td      *ldtestdata.TestDataSource
	ld      *eventServer
	mp      *mixpaneltest.Server
	ldSink  *Sink
	tracker *exposure.Tracker
	handler http.Handler
	of      *openfeature.Client
}

func newApp(t *testing.T) *app {
	t.Helper()
	a := &app{td: testData(), ld: newEventServer(t)}
	names := WithVariationNames(map[string]map[int]string{"checkout-redesign": {0: "control", 1: "redesign"}})

	evalClient := newClient(t, a.td, a.ld, false) // pointed at the event server too: it must stay silent
	p, err := NewProvider(evalClient, names)
	require.NoError(t, err)
	sinkClient := newClient(t, a.td, a.ld, true)
	// The Sink is told nothing about the registry that renames the
	// variants: it compares the provider's names with the exposure's
	// ProviderVariant.
	a.ldSink, err = NewSink(p, sinkClient)
	require.NoError(t, err)

	a.mp = mixpaneltest.Start(t)
	mpSink, err := mixpanel.NewSink(a.mp.Token(), mixpanel.WithEndpoint(a.mp.URL))
	require.NoError(t, err)

	a.tracker, err = exposure.NewTracker(
		exposure.WithExperiments(checkoutExp),
		exposure.WithSink(mpSink),
		exposure.WithSink(a.ldSink),
	)
	require.NoError(t, err)

	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	api.AddHooks(a.tracker.Hook())
	a.of = api.NewClient()
	t.Cleanup(func() {
		require.NoError(t, a.tracker.Close(context.Background()))
		_ = sinkClient.Close()
		_ = api.Shutdown(context.Background())
	})

	mux := http.NewServeMux()
	variant := func(r *http.Request) string {
		v, _ := a.of.StringValue(r.Context(), "checkout-redesign", "control",
			openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil))
		return v
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_ = variant(r) // evaluated (say, to prefetch), never drawn
		_, _ = w.Write([]byte("home"))
	})
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		v := variant(r)
		if err := checkoutPage.Execute(w, map[string]any{"Ctx": r.Context(), "Variant": v}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	a.handler = a.tracker.Middleware(mux)
	return a
}

func (a *app) get(t *testing.T, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

// settle delivers everything queued: to Mixpanel, and to LaunchDarkly, whose
// Sink waits for its event processor to post what it recorded.
func (a *app) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.tracker.Flush(ctx))
}

func TestEndToEndExposureAtRenderOnly(t *testing.T) {
	a := newApp(t)

	// 1. Evaluations without a render: nothing to LaunchDarkly, nothing to Mixpanel.
	a.get(t, "/?user=u-1")
	a.get(t, "/?user=u-1")
	a.settle(t)
	assert.Zero(t, a.ld.postCount(), "evaluation must send nothing to LaunchDarkly")
	assert.Zero(t, a.mp.Len(), "evaluation must send nothing to Mixpanel")

	// 2. The render: one LaunchDarkly evaluation event, one Mixpanel
	// exposure, both for the variant the user saw.
	body := a.get(t, "/checkout?user=u-1")
	require.Contains(t, body, `class="redesign"`)
	a.settle(t)

	features := a.ld.ofKind("feature")
	require.Len(t, features, 1, "exactly one LaunchDarkly evaluation event")
	ev := features[0]
	assert.Equal(t, "checkout-redesign", ev["key"])
	assert.Equal(t, float64(1), ev["variation"], "the variation the user saw")
	assert.Equal(t, "redesign", ev["value"])
	reason, _ := ev["reason"].(map[string]any)
	assert.Equal(t, true, reason["inExperiment"], "LaunchDarkly counts it in the experiment")
	evCtx, _ := ev["context"].(map[string]any)
	assert.Equal(t, "u-1", evCtx["key"])
	assert.Equal(t, 1, a.ld.evaluations("checkout-redesign"), "LaunchDarkly was told of one evaluation")

	mpEvents := a.mp.Events()
	require.Len(t, mpEvents, 1, "exactly one Mixpanel exposure")
	assert.Equal(t, "$experiment_started", mpEvents[0].Name)
	assert.Equal(t, "u-1", mpEvents[0].DistinctID)
	assert.Equal(t, "Checkout Redesign", mpEvents[0].Properties["Experiment name"])
	assert.Equal(t, "Variant B", mpEvents[0].Properties["Variant name"])

	// 3. A refresh: deduplicated, nothing new to either.
	postsBefore := a.ld.postCount()
	a.get(t, "/checkout?user=u-1")
	a.settle(t)
	assert.Len(t, a.ld.ofKind("feature"), 1)
	assert.Equal(t, postsBefore, a.ld.postCount(), "a refresh sends nothing to LaunchDarkly")
	assert.Equal(t, 1, a.mp.Len(), "a refresh sends nothing to Mixpanel")
	assert.Equal(t, SinkStats{Sent: 1}, a.ldSink.Stats())
}

func TestEndToEndChangedVariationIsNotSentToLaunchDarkly(t *testing.T) {
	a := newApp(t)

	// u-2 sees "redesign"; the flag then moves everyone to "control"
	// before the exposure is delivered.
	ctx, scope := a.tracker.Scope(context.Background())
	v, err := a.of.StringValue(ctx, "checkout-redesign", "control", openfeature.NewEvaluationContext("u-2", nil))
	require.NoError(t, err)
	require.Equal(t, "redesign", v)
	require.NoError(t, exposure.MarkRendered(ctx, "checkout-redesign"))
	changed := checkoutExperiment(2, 0)
	a.td.UsePreconfiguredFlag(changed.Build())
	require.NoError(t, scope.Commit(ctx))
	a.settle(t)

	assert.Empty(t, a.ld.ofKind("feature"), "LaunchDarkly would count u-2 in a variant never seen")
	assert.Equal(t, SinkStats{Mismatched: 1}, a.ldSink.Stats())
	// Mixpanel records what the user saw.
	require.Equal(t, 1, a.mp.Len())
	assert.Equal(t, "Variant B", a.mp.Events()[0].Properties["Variant name"])
}
