package unleash_test

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
	"github.com/exposurekit/exposure/providers/unleash"
)

var checkoutPage = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout-redesign" }}<button class="{{ .Variant }}">Pay</button>`))

var checkoutExp = exposure.Experiment{
	FlagKey:  "checkout-redesign",
	Name:     "Checkout Redesign",
	Variants: map[string]string{"control": "Control", "redesign": "Variant B"},
}

// app is a web app with Unleash behind OpenFeature, and exposures going to
// Mixpanel (the fake) and to Unleash (the local server's metrics API, and
// the exposure client's impression events).
type app struct {
	srv      *server
	provider *unleash.Provider
	imps     *impressions
	uSink    *unleash.Sink
	mp       *mixpaneltest.Server
	tracker  *exposure.Tracker
	of       *openfeature.Client
	handler  http.Handler
}

func newApp(t *testing.T) *app {
	t.Helper()
	ctx := context.Background()
	a := &app{srv: newServer(t), imps: newImpressions()}
	a.provider = newProvider(t, a.srv)
	exposureClient := newExposureClient(t, a.srv, a.imps)
	var err error
	// The Sink is told nothing about the registry that renames the
	// variants: it compares Unleash's variant with the exposure's
	// ProviderVariant.
	a.uSink, err = unleash.NewSink(a.provider, exposureClient, unleash.WithLogger(quiet))
	require.NoError(t, err)

	a.mp = mixpaneltest.Start(t)
	mpSink, err := mixpanel.NewSink(a.mp.Token(), mixpanel.WithEndpoint(a.mp.URL), mixpanel.WithLogger(quiet))
	require.NoError(t, err)

	a.tracker, err = exposure.NewTracker(
		exposure.WithExperiments(checkoutExp),
		exposure.WithSink(mpSink),
		exposure.WithSink(a.uSink),
		exposure.WithLogger(quiet),
	)
	require.NoError(t, err)

	api := isolated.NewAPI()
	initCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, api.SetProviderAndWait(initCtx, a.provider))
	api.AddHooks(a.tracker.Hook())
	a.of = api.NewClient()
	// Cleanups run last-in first-out: the Tracker closes before the
	// exposure client (registered earlier) does.
	t.Cleanup(func() {
		require.NoError(t, a.tracker.Close(context.Background()))
		_ = api.Shutdown(context.Background())
	})

	mux := http.NewServeMux()
	variant := func(r *http.Request) string {
		v, _ := a.of.StringValue(r.Context(), "checkout-redesign", "classic",
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

func (a *app) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.tracker.Flush(ctx))
}

// waitCounts waits until the Unleash server's metrics for the exposure
// client reach want's total of yes counts, then returns them.
func (a *app) waitCounts(t *testing.T, yes int32) map[string]toggleCount {
	t.Helper()
	require.Eventually(t, func() bool {
		var total int32
		for _, c := range a.srv.counts(exposureInstance) {
			total += c.Yes
		}
		return total >= yes
	}, 5*time.Second, 5*time.Millisecond)
	return a.srv.counts(exposureInstance)
}

func TestEndToEndExposureAtRenderOnly(t *testing.T) {
	a := newApp(t)
	u1 := userIn(t, a.provider, "redesign")
	u2 := userIn(t, a.provider, "control")

	// 1. Evaluations without a render: nothing to Mixpanel, nothing to the
	// Unleash sink. The provider's client never posts anything; counts the
	// exposure client would have made are checked in step 3, since Unleash
	// metrics accumulate until posted.
	a.get(t, "/?user="+u1)
	a.get(t, "/?user="+u1)
	a.flush(t)
	assert.Zero(t, a.mp.Len(), "evaluation must send nothing to Mixpanel")
	assert.Equal(t, unleash.SinkStats{}, a.uSink.Stats(), "evaluation must not reach the Unleash sink")

	// 2. The render: one Mixpanel exposure, and in Unleash one count of the
	// variant the user saw and one impression event.
	body := a.get(t, "/checkout?user="+u1)
	require.Contains(t, body, `class="modern"`)
	a.flush(t)

	mpEvents := a.mp.Events()
	require.Len(t, mpEvents, 1, "exactly one Mixpanel exposure")
	assert.Equal(t, "$experiment_started", mpEvents[0].Name)
	assert.Equal(t, u1, mpEvents[0].DistinctID)
	assert.Equal(t, "Checkout Redesign", mpEvents[0].Properties["Experiment name"])
	assert.Equal(t, "Variant B", mpEvents[0].Properties["Variant name"], "the registry's name")

	assert.Equal(t, map[string]toggleCount{"checkout-redesign": {Yes: 1, Variants: map[string]int32{"redesign": 1}}},
		a.waitCounts(t, 1), "exactly one Unleash count, for the variant the user saw, by Unleash's name")
	require.Eventually(t, func() bool { return len(a.imps.all()) >= 1 }, 5*time.Second, 5*time.Millisecond)
	imp := a.imps.all()[0]
	assert.Equal(t, "checkout-redesign", imp.FeatureName)
	assert.Equal(t, unleashsdk.ImpressionEventTypeGetVariant, imp.EventType)
	assert.Equal(t, "redesign", imp.Variant)
	assert.Equal(t, u1, imp.Context.UserId)

	// 3. A refresh: deduplicated, nothing new to either. Then another user
	// renders: Unleash has exactly one count and one impression per user,
	// so neither the evaluations of step 1 nor the refresh were counted.
	a.get(t, "/checkout?user="+u1)
	a.flush(t)
	assert.Equal(t, 1, a.mp.Len(), "a refresh sends nothing to Mixpanel")
	assert.Equal(t, unleash.SinkStats{Sent: 1}, a.uSink.Stats(), "a refresh sends nothing to Unleash")

	require.Contains(t, a.get(t, "/checkout?user="+u2), `class="classic"`)
	a.flush(t)
	assert.Equal(t, map[string]toggleCount{"checkout-redesign": {Yes: 2, Variants: map[string]int32{"redesign": 1, "control": 1}}},
		a.waitCounts(t, 2))
	require.Eventually(t, func() bool { return len(a.imps.all()) >= 2 }, 5*time.Second, 5*time.Millisecond)
	var seen []string
	for _, e := range a.imps.all() {
		seen = append(seen, e.Context.UserId+"="+e.Variant)
	}
	assert.Equal(t, []string{u1 + "=redesign", u2 + "=control"}, seen)
	assert.Equal(t, 2, a.mp.Len())
	assert.Equal(t, "Control", a.mp.Events()[1].Properties["Variant name"])
	assert.Zero(t, a.srv.postsFrom(providerInstance), "the provider's client registered or posted metrics")
}
