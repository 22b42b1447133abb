package statsig

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
	"github.com/exposurekit/exposure/providers/statsig/statsigtest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const buttonFlag = "checkout_redesign.button_color"

var checkoutPage = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout_redesign.button_color" }}<button class="{{ .Color }}">Pay</button>`))

var checkoutExp = exposure.Experiment{
	FlagKey:  buttonFlag,
	Name:     "Checkout Redesign",
	Variants: map[string]string{"Test": "Redesign"}, // Statsig's group "Test" is "Redesign" in Mixpanel; the Sink is not told
}

// app is a web app with Statsig (the fake API) behind OpenFeature and
// exposures going to Mixpanel (the fake) and to Statsig.
type app struct {
	statsig *statsigtest.Server
	mp      *mixpaneltest.Server
	sink    *Sink
	p       *Provider
	tracker *exposure.Tracker
	api     interface{ Shutdown(context.Context) error }
	of      *openfeature.Client
	handler http.Handler
	closed  bool
}

func newApp(t *testing.T) *app {
	t.Helper()
	a := &app{statsig: newAPI(t)}
	o := a.statsig.Options()
	o.LoggingInterval = 50 * time.Millisecond
	o.ConfigSyncInterval = 50 * time.Millisecond
	var err error
	a.p, err = NewProvider("secret-test", o)
	require.NoError(t, err)
	// The Sink is told nothing about the registry that renames the group:
	// it compares Statsig's group with the exposure's ProviderVariant.
	a.sink, err = NewSink(a.p)
	require.NoError(t, err)

	a.mp = mixpaneltest.Start(t)
	mpSink, err := mixpanel.NewSink(a.mp.Token(), mixpanel.WithEndpoint(a.mp.URL))
	require.NoError(t, err)
	a.tracker, err = exposure.NewTracker(
		exposure.WithExperiments(checkoutExp),
		exposure.WithSink(mpSink),
		exposure.WithSink(a.sink),
	)
	require.NoError(t, err)

	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), a.p))
	api.AddHooks(a.tracker.Hook())
	a.api, a.of = api, api.NewClient()
	t.Cleanup(func() { a.shutdown(t) })

	mux := http.NewServeMux()
	color := func(r *http.Request) string {
		v, _ := a.of.StringValue(r.Context(), buttonFlag, "grey", openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil))
		return v
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_ = color(r) // evaluated, never drawn
		_, _ = w.Write([]byte("home"))
	})
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		if err := checkoutPage.Execute(w, map[string]any{"Ctx": r.Context(), "Color": color(r)}); err != nil {
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

func (a *app) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.tracker.Flush(ctx))
}

// shutdown closes the tracker, then the provider, whose Statsig client
// posts everything it has logged: after it, the fake API holds all of it.
func (a *app) shutdown(t *testing.T) {
	t.Helper()
	if a.closed {
		return
	}
	a.closed = true
	require.NoError(t, a.tracker.Close(context.Background()))
	require.NoError(t, a.api.Shutdown(context.Background()))
}

func TestEndToEndExposureAtRenderOnly(t *testing.T) {
	a := newApp(t)

	// 1. Evaluations without a render.
	a.get(t, "/?user=u-1")
	a.get(t, "/?user=u-1")
	a.flush(t)
	time.Sleep(200 * time.Millisecond) // four of Statsig's logging intervals
	assert.Empty(t, a.statsig.Exposures(), "evaluation must log nothing to Statsig")
	assert.Zero(t, a.mp.Len(), "evaluation must send nothing to Mixpanel")

	// 2. The render.
	require.Contains(t, a.get(t, "/checkout?user=u-1"), `class="green"`)
	a.flush(t)
	require.Eventually(t, func() bool { return len(a.statsig.Exposures()) > 0 }, 5*time.Second, 20*time.Millisecond)

	// 3. A refresh.
	require.Contains(t, a.get(t, "/checkout?user=u-1"), `class="green"`)
	a.flush(t)

	// Shut down: Statsig's client posts whatever it still holds, so what
	// the fake API has now is everything the three steps logged.
	a.shutdown(t)
	exps := a.statsig.Exposures()
	require.Len(t, exps, 1, "exactly one Statsig exposure, for the render")
	assert.Equal(t, "statsig::config_exposure", exps[0].Name)
	assert.Equal(t, "u-1", exps[0].UserID)
	assert.Equal(t, "checkout_redesign", exps[0].Metadata["config"])
	assert.Equal(t, "4DaE7EMTjt5pD8sIFNc7bX", exps[0].Metadata["ruleID"], "the Test group the user saw")
	assert.Equal(t, "true", exps[0].Metadata["isManualExposure"])
	assert.Zero(t, a.statsig.Exceptions())

	mpEvents := a.mp.Events()
	require.Len(t, mpEvents, 1, "exactly one Mixpanel exposure")
	assert.Equal(t, "$experiment_started", mpEvents[0].Name)
	assert.Equal(t, "u-1", mpEvents[0].DistinctID)
	assert.Equal(t, "Checkout Redesign", mpEvents[0].Properties["Experiment name"])
	assert.Equal(t, "Redesign", mpEvents[0].Properties["Variant name"])
	assert.Equal(t, SinkStats{Logged: 1}, a.sink.Stats())
}

func TestEndToEndChangedGroupIsNotLogged(t *testing.T) {
	a := newApp(t)

	ctx, scope := a.tracker.Scope(context.Background())
	v, err := a.of.StringValue(ctx, buttonFlag, "grey", openfeature.NewEvaluationContext("u-1", nil))
	require.NoError(t, err)
	require.Equal(t, "green", v, "u-1 is in Test")
	require.NoError(t, exposure.MarkRendered(ctx, buttonFlag))

	// The experiment is reallocated: everyone is in Control now.
	require.NoError(t, a.statsig.SetSpecs(readSpecs(t, "specs_control.json")))
	require.Eventually(t, func() bool {
		u, _ := UserFrom(openfeature.NewEvaluationContext("u-1", nil))
		return a.p.Client().GetExperimentWithExposureLoggingDisabled(u, "checkout_redesign").GroupName == "Control"
	}, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, scope.Commit(ctx))
	a.flush(t)
	a.shutdown(t)

	assert.Empty(t, a.statsig.Exposures(), "Statsig would count u-1 in a group never seen")
	assert.Equal(t, SinkStats{Mismatched: 1}, a.sink.Stats())
	require.Equal(t, 1, a.mp.Len(), "Mixpanel records what the user saw")
	assert.Equal(t, "Redesign", a.mp.Events()[0].Properties["Variant name"])
}

func TestSinkClassifiesEachExposure(t *testing.T) {
	srv := newAPI(t)
	p, err := NewProvider("secret-test", srv.Options())
	require.NoError(t, err)
	s, err := NewSink(p)
	require.NoError(t, err)
	assert.Equal(t, "statsig", s.Name())

	// exp is an exposure as the Tracker makes it: the group as the Provider
	// named it in ProviderVariant, and Variant renamed by a registry the
	// Sink knows nothing of.
	exp := func(flag, group string, ec openfeature.EvaluationContext) exposure.Exposure {
		return exposure.Exposure{Assignment: exposure.Assignment{FlagKey: flag, Variant: "renamed " + group, ProviderVariant: group, Context: ec}}
	}
	// unnamed is an exposure without a ProviderVariant: the Sink compares
	// its Variant instead.
	unnamed := func(flag, variant string, ec openfeature.EvaluationContext) exposure.Exposure {
		return exposure.Exposure{Assignment: exposure.Assignment{FlagKey: flag, Variant: variant, Context: ec}}
	}
	u1 := openfeature.NewEvaluationContext("u-1", nil)
	batch := []exposure.Exposure{exp(buttonFlag, "Test", u1)}

	// Before Init: retry later.
	retry, _ := exposure.IsRetryable(s.Send(ctxBG, batch))
	assert.True(t, retry)

	require.NoError(t, p.Init(openfeature.EvaluationContext{}))
	batch = []exposure.Exposure{
		exp(buttonFlag, "Test", u1),    // logged (experiment)
		exp(buttonFlag, "Control", u1), // mismatch: u-1 is in Test
		exp("new_nav", "true", openfeature.NewEvaluationContext("u-1", map[string]any{"country": "FR"})), // logged (gate)
		exp("new_nav", "true", u1),       // mismatch: the gate is false for u-1
		exp("pricing", "default", u1),    // logged (dynamic config, default rule)
		exp("growthbook-flag", "on", u1), // skipped: not Statsig's
		exp(buttonFlag, "grey", openfeature.NewEvaluationContext("u-2", map[string]any{"country": "CN"})), // mismatch: outside the experiment
		exp(buttonFlag, "Test", openfeature.NewTargetlessEvaluationContext(nil)),                          // failed: no user
		unnamed(buttonFlag, "Test", u1),     // logged: the Variant is Statsig's group
		unnamed(buttonFlag, "Redesign", u1), // mismatch: a renamed Variant is not Statsig's group
	}
	err = s.Send(ctxBG, batch)
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	assert.Contains(t, be.Failed, 7)
	assert.Equal(t, SinkStats{Logged: 4, Mismatched: 4, Skipped: 1, Failed: 1}, s.Stats())

	p.Shutdown() // flushes Statsig's log
	byName := map[string]int{}
	for _, e := range srv.Exposures() {
		byName[e.Name]++
		assert.Equal(t, "true", e.Metadata["isManualExposure"])
	}
	assert.Equal(t, map[string]int{"statsig::config_exposure": 3, "statsig::gate_exposure": 1}, byName)
}
