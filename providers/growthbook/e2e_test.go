package growthbook_test

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
	"github.com/exposurekit/exposure/providers/growthbook"
)

// anyPage renders the variant of any flag: /page?flag=…&user=….
var anyPage = template.Must(template.New("page").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx .Flag }}<p class="{{ .Value }}">{{ .Flag }}</p>`))

var checkoutPage = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout-redesign" }}<button class="{{ .Variant }}">Pay</button>`))

// ingestor is a local GrowthBook event ingestor: it records the events the
// GrowthBook tracking plugin posts to /track.
type ingestor struct {
	*httptest.Server
	mu     sync.Mutex
	events []map[string]any
}

func newIngestor(t *testing.T) *ingestor {
	t.Helper()
	in := &ingestor{}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/track" || r.URL.Query().Get("client_key") == "" {
			http.NotFound(w, r)
			return
		}
		var batch []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		in.events = append(in.events, batch...)
		in.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(in.Close)
	return in
}

func (in *ingestor) all() []map[string]any {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]map[string]any(nil), in.events...)
}

// app is a web app with GrowthBook behind OpenFeature, and exposures going
// to Mixpanel (the fake) and to GrowthBook's ingestor (the local one).
type app struct {
	gbClient *gb.Client
	provider *growthbook.Provider
	legacy   *tracking // the app's old GrowthBook tracking callbacks
	ingest   *ingestor
	tracking *gb.Client // the client whose plugin posts to the ingestor
	gbSink   *growthbook.Sink
	mp       *mixpaneltest.Server
	tracker  *exposure.Tracker
	of       *openfeature.Client
	handler  http.Handler
}

// newApp builds the app; opts configure its Tracker further, such as with
// a registry.
func newApp(t *testing.T, opts ...exposure.Option) *app {
	t.Helper()
	ctx := context.Background()
	a := &app{legacy: &tracking{}, ingest: newIngestor(t)}
	a.gbClient = newTrackedClient(t, a.legacy)
	var err error
	a.provider, err = growthbook.NewProvider(a.gbClient)
	require.NoError(t, err)

	a.tracking, err = gb.NewClient(ctx, gb.WithClientKey("sdk-test"), gb.WithLogger(quiet),
		gb.WithGrowthBookTracking(gb.TrackingPluginConfig{IngestorHost: a.ingest.URL, BatchSize: 1, Logger: quiet}))
	require.NoError(t, err)
	a.gbSink, err = growthbook.NewSink(a.provider, growthbook.LogExperimentViewed(a.tracking), growthbook.WithLogger(quiet))
	require.NoError(t, err)

	a.mp = mixpaneltest.Start(t)
	mpSink, err := mixpanel.NewSink(a.mp.Token(), mixpanel.WithEndpoint(a.mp.URL), mixpanel.WithLogger(quiet))
	require.NoError(t, err)

	// No registry unless opts give one: the provider's metadata names the
	// experiment.
	a.tracker, err = exposure.NewTracker(append([]exposure.Option{
		exposure.WithSink(mpSink), exposure.WithSink(a.gbSink), exposure.WithLogger(quiet)}, opts...)...)
	require.NoError(t, err)

	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(ctx, a.provider))
	api.AddHooks(a.tracker.Hook())
	a.of = api.NewClient()
	t.Cleanup(func() {
		require.NoError(t, a.tracker.Close(context.Background()))
		_ = a.tracking.Close()
		_ = api.Shutdown(context.Background())
	})

	mux := http.NewServeMux()
	variant := func(r *http.Request) string {
		v, _ := a.of.StringValue(r.Context(), "checkout-redesign", "control",
			openfeature.NewEvaluationContext(r.URL.Query().Get("user"), map[string]any{"country": "FR"}))
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
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		flag := r.URL.Query().Get("flag")
		v, _ := a.of.StringValue(r.Context(), flag, "default",
			openfeature.NewEvaluationContext(r.URL.Query().Get("user"), map[string]any{"country": "FR"}))
		if err := anyPage.Execute(w, map[string]any{"Ctx": r.Context(), "Flag": flag, "Value": v}); err != nil {
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

func TestEndToEndExposureAtRenderOnly(t *testing.T) {
	a := newApp(t)
	u1 := userIn(t, a.provider, "red")
	u2 := userIn(t, a.provider, "ctl")

	// 1. Evaluations without a render: nothing to GrowthBook, nothing to
	// Mixpanel. The sink was never called, so the tracking plugin has
	// nothing to post.
	a.get(t, "/?user="+u1)
	a.get(t, "/?user="+u1)
	a.flush(t)
	assert.Zero(t, a.mp.Len(), "evaluation must send nothing to Mixpanel")
	assert.Equal(t, growthbook.SinkStats{}, a.gbSink.Stats(), "evaluation must not reach the GrowthBook sink")
	assert.Empty(t, a.ingest.all(), "evaluation must send nothing to GrowthBook")
	assert.Zero(t, a.legacy.calls(), "evaluation ran the app's GrowthBook tracking")

	// 2. The render: one Mixpanel exposure and one GrowthBook Experiment
	// Viewed event, both for the variation the user saw.
	body := a.get(t, "/checkout?user="+u1)
	require.Contains(t, body, `class="redesign"`)
	a.flush(t)

	mpEvents := a.mp.Events()
	require.Len(t, mpEvents, 1, "exactly one Mixpanel exposure")
	assert.Equal(t, "$experiment_started", mpEvents[0].Name)
	assert.Equal(t, u1, mpEvents[0].DistinctID)
	assert.Equal(t, "Checkout Redesign", mpEvents[0].Properties["Experiment name"])
	assert.Equal(t, "Redesign", mpEvents[0].Properties["Variant name"])

	require.Eventually(t, func() bool { return len(a.ingest.all()) >= 1 }, 5*time.Second, 5*time.Millisecond,
		"no Experiment Viewed event reached the ingestor")
	ev := a.ingest.all()[0]
	assert.Equal(t, gb.EventExperimentViewed, ev["event_name"])
	assert.Equal(t, map[string]any{"experimentId": "checkout-exp", "variationId": "red", "hashAttribute": "id", "hashValue": u1}, ev["properties_json"])
	assert.Equal(t, u1, ev["device_id"], "GrowthBook's id attribute")
	assert.Equal(t, map[string]any{"country": "FR"}, ev["context_json"])

	// 3. A refresh: deduplicated, nothing new to either. Then another user
	// renders, and closing the tracking client waits for every post in
	// flight: GrowthBook got exactly one event per user.
	a.get(t, "/checkout?user="+u1)
	a.flush(t)
	assert.Equal(t, 1, a.mp.Len(), "a refresh sends nothing to Mixpanel")
	assert.Equal(t, growthbook.SinkStats{Sent: 1}, a.gbSink.Stats(), "a refresh sends nothing to GrowthBook")

	require.Contains(t, a.get(t, "/checkout?user="+u2), `class="control"`)
	a.flush(t)
	require.NoError(t, a.tracking.Close())
	var users []string
	for _, e := range a.ingest.all() {
		p := e["properties_json"].(map[string]any)
		users = append(users, p["hashValue"].(string)+"="+p["variationId"].(string))
	}
	assert.Equal(t, []string{u1 + "=red", u2 + "=ctl"}, users)
	assert.Equal(t, 2, a.mp.Len())
	assert.Zero(t, a.legacy.calls())
}

func TestEndToEndChangedVariationIsNotSentToGrowthBook(t *testing.T) {
	a := newApp(t)
	u := userIn(t, a.provider, "red")

	// u sees "Redesign"; the experiment then moves everyone to control
	// before the exposure is delivered.
	ctx, scope := a.tracker.Scope(context.Background())
	v, err := a.of.StringValue(ctx, "checkout-redesign", "", openfeature.NewEvaluationContext(u, nil))
	require.NoError(t, err)
	require.Equal(t, "redesign", v)
	require.NoError(t, exposure.MarkRendered(ctx, "checkout-redesign"))
	require.NoError(t, a.gbClient.SetJSONFeatures(strings.Replace(featuresJSON(t), `"weights": [0.5, 0.5]`, `"weights": [1, 0]`, 1)))
	require.NoError(t, scope.Commit(ctx))
	a.flush(t)

	require.NoError(t, a.tracking.Close())
	assert.Empty(t, a.ingest.all(), "GrowthBook would count u in a variation never seen")
	assert.Equal(t, growthbook.SinkStats{Mismatched: 1}, a.gbSink.Stats())
	// Mixpanel records what the user saw.
	require.Equal(t, 1, a.mp.Len())
	assert.Equal(t, "Redesign", a.mp.Events()[0].Properties["Variant name"])
}

// A registry that renames the variation reaches GrowthBook all the same:
// the Sink compares GrowthBook's variation with the exposure's
// ProviderVariant, and was told nothing about the registry.
func TestEndToEndRenamedVariantReachesGrowthBook(t *testing.T) {
	a := newApp(t, exposure.WithExperiments(exposure.Experiment{
		FlagKey: "checkout-redesign", Name: "Checkout v2",
		Variants: map[string]string{"Redesign": "Variant B"},
	}))
	u := userIn(t, a.provider, "red")

	require.Contains(t, a.get(t, "/checkout?user="+u), `class="redesign"`)
	a.flush(t)
	require.NoError(t, a.tracking.Close())

	require.Equal(t, 1, a.mp.Len())
	assert.Equal(t, "Checkout v2", a.mp.Events()[0].Properties["Experiment name"])
	assert.Equal(t, "Variant B", a.mp.Events()[0].Properties["Variant name"])
	assert.Equal(t, growthbook.SinkStats{Sent: 1}, a.gbSink.Stats())
	events := a.ingest.all()
	require.Len(t, events, 1)
	assert.Equal(t, map[string]any{"experimentId": "checkout-exp", "variationId": "red", "hashAttribute": "id", "hashValue": u}, events[0]["properties_json"])
}
