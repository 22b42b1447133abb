package mixpanelflags_test

import (
	"context"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
	mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

// page renders a flag's value and marks it rendered.
var page = template.Must(template.New("page").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx .Flag }}<b>{{ .Value }}</b>`))

// app is a web app served over HTTP: Mixpanel's feature flags (the fake
// flags API) behind OpenFeature, the exposure Tracker's middleware, and
// exposures going to Mixpanel (the fake ingestion API).
type app struct {
	flags   *flagstest.Server
	mp      *mixpaneltest.Server
	tracker *exposure.Tracker
	web     *httptest.Server
}

type appConfig struct {
	mode        string
	down        bool // the flags API is down from the start
	experiments []exposure.Experiment
}

func newApp(t *testing.T, cfg appConfig) *app {
	t.Helper()
	a := &app{flags: flagstest.Start(t, definitions(t)), mp: mixpaneltest.Start(t)}
	a.flags.SetDown(cfg.down)
	mpSink, err := mixpanel.NewSink(a.mp.Token(), mixpanel.WithEndpoint(a.mp.URL))
	require.NoError(t, err)
	a.tracker, err = exposure.NewTracker(exposure.WithSink(mpSink), exposure.WithExperiments(cfg.experiments...))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.tracker.Close(context.Background()) })

	api := isolated.NewAPI()
	err = api.SetProviderAndWait(bg, providerFor(t, a.flags, cfg.mode))
	if cfg.down && cfg.mode == mixpanelflags.ModeLocal {
		require.Error(t, err, "no definitions: the provider is not ready")
	} else {
		require.NoError(t, err)
	}
	api.AddHooks(a.tracker.Hook())
	t.Cleanup(func() { _ = api.Shutdown(bg) })
	of := api.NewClient()

	evaluate := func(r *http.Request) (string, any) {
		q := r.URL.Query()
		attrs := map[string]any{}
		if plan := q.Get("plan"); plan != "" {
			attrs["plan"] = plan
		}
		flag := q.Get("flag")
		v, _ := of.ObjectValue(r.Context(), flag, "default", openfeature.NewEvaluationContext(q.Get("user"), attrs))
		return flag, v
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/prefetch", func(w http.ResponseWriter, r *http.Request) {
		_, _ = evaluate(r) // evaluated, never drawn
		_, _ = io.WriteString(w, "prefetched")
	})
	mux.HandleFunc("/show", func(w http.ResponseWriter, r *http.Request) {
		flag, v := evaluate(r)
		if err := page.Execute(w, map[string]any{"Ctx": r.Context(), "Flag": flag, "Value": v}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	a.web = httptest.NewServer(a.tracker.Middleware(mux))
	t.Cleanup(a.web.Close)
	return a
}

// get requests path over HTTP and flushes the Tracker.
func (a *app) get(t *testing.T, path string, q url.Values) string {
	t.Helper()
	resp, err := http.Get(a.web.URL + path + "?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	require.NoError(t, a.tracker.Flush(ctx))
	return string(body)
}

func q(flag, user string, kv ...string) url.Values {
	v := url.Values{"flag": {flag}, "user": {user}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func (a *app) assigned() uint64 { return a.tracker.Stats().Counts[exposure.StageAssigned] }

func TestEndToEndExposureAtRenderOnly(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			a := newApp(t, appConfig{mode: mode})

			// 1. Evaluations without a render.
			a.get(t, "/prefetch", q("checkout-redesign", "u-2"))
			a.get(t, "/prefetch", q("checkout-redesign", "u-2"))
			assert.Zero(t, a.mp.Len(), "evaluation sends nothing to Mixpanel")

			// 2. The render.
			require.Contains(t, a.get(t, "/show", q("checkout-redesign", "u-2")), "<b>green</b>")
			events := a.mp.Events()
			require.Len(t, events, 1, "exactly one exposure, for the render")
			e := events[0]
			assert.Equal(t, "$experiment_started", e.Name)
			assert.Equal(t, "u-2", e.DistinctID)
			assert.Equal(t, "checkout-redesign", e.Properties["Experiment name"], "Mixpanel names it by the flag key")
			assert.Equal(t, "redesign", e.Properties["Variant name"])
			// What Mixpanel's own exposure carries.
			assert.Equal(t, "exp-checkout-1", e.Properties["$experiment_id"])
			assert.Equal(t, true, e.Properties["$is_experiment_active"])
			assert.Equal(t, "feature_flag", e.Properties["$experiment_type"])
			assert.Equal(t, mode, e.Properties["Flag evaluation mode"])
			assert.IsType(t, json.Number(""), e.Properties["Variant fetch latency (ms)"])
			assert.NotContains(t, e.Properties, "$is_qa_tester")

			// 3. A refresh.
			require.Contains(t, a.get(t, "/show", q("checkout-redesign", "u-2")), "<b>green</b>")
			assert.Equal(t, 1, a.mp.Len(), "a refresh sends nothing new")

			// The flags API never saw an event (flagstest fails the test on one).
			assert.Empty(t, a.flags.Ingested())
			if mode == mixpanelflags.ModeRemote {
				assert.Equal(t, 4, a.flags.Requests()[flagstest.EndpointFlags], "one request per evaluation")
			}
		})
	}
}

// TestEndToEndFallbacksAreNotAssignments renders flags the SDK answers
// with a fallback. The flags are registered with the Tracker, so only the
// provider's answer keeps them from being assignments.
func TestEndToEndFallbacksAreNotAssignments(t *testing.T) {
	registered := []exposure.Experiment{{FlagKey: "beta", Name: "beta"}, {FlagKey: "nope", Name: "nope"},
		{FlagKey: "pro-pricing", Name: "pro-pricing"}, {FlagKey: "checkout-redesign", Name: "checkout-redesign"},
		{FlagKey: "new-nav", Name: "new-nav"}}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			a := newApp(t, appConfig{mode: mode, experiments: registered})
			for _, page := range []url.Values{
				q("nope", "u-1"),                        // flag not found
				q("beta", "u-1"),                        // no rollout match
				q("pro-pricing", "u-1", "plan", "free"), // runtime rule not met
				q("new-nav", "u-1"),                     // a flag linked to no experiment
			} {
				a.get(t, "/show", page)
			}
			if mode == mixpanelflags.ModeRemote {
				// Backend down. (In local mode the last definitions keep
				// serving: see TestLifecycle, and the next subtest.)
				a.flags.SetDown(true)
				assert.Contains(t, a.get(t, "/show", q("checkout-redesign", "u-2")), "<b>default</b>")
			}
			assert.Zero(t, a.assigned())
			assert.Zero(t, a.mp.Len())
		})
		t.Run(mode+"/down from the start", func(t *testing.T) {
			a := newApp(t, appConfig{mode: mode, down: true, experiments: registered})
			assert.Equal(t, "<b>default</b>", a.get(t, "/show", q("checkout-redesign", "u-2")))
			assert.Zero(t, a.assigned())
			assert.Zero(t, a.mp.Len())
		})
	}
}

func TestEndToEndRuntimeRule(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			a := newApp(t, appConfig{mode: mode})
			assert.Contains(t, a.get(t, "/show", q("pro-pricing", "u-1", "plan", "free")), "<b>default</b>")
			assert.Contains(t, a.get(t, "/show", q("pro-pricing", "u-3", "plan", "pro")), "<b>20</b>")
			events := a.mp.Events()
			require.Len(t, events, 1, "only the pro user is in the experiment")
			assert.Equal(t, "u-3", events[0].DistinctID)
			assert.Equal(t, "twenty", events[0].Properties["Variant name"])
			assert.Equal(t, "exp-pricing-2", events[0].Properties["$experiment_id"])
		})
	}
}

// TestEndToEndQATester: a QA tester's forced variant is an exposure
// flagged $is_qa_tester, as Mixpanel's SDK sends it.
func TestEndToEndQATester(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			a := newApp(t, appConfig{mode: mode})
			require.Contains(t, a.get(t, "/show", q("checkout-redesign", "qa-1")), "<b>green</b>")
			events := a.mp.Events()
			require.Len(t, events, 1)
			assert.Equal(t, "qa-1", events[0].DistinctID)
			assert.Equal(t, "redesign", events[0].Properties["Variant name"])
			assert.Equal(t, true, events[0].Properties["$is_qa_tester"])
			assert.Equal(t, "exp-checkout-1", events[0].Properties["$experiment_id"])
		})
	}
}

// TestEndToEndRenamedExperiment: the Tracker's registry renames the
// experiment; the exposure keeps $experiment_id, by which Mixpanel's
// Experiments report links it.
func TestEndToEndRenamedExperiment(t *testing.T) {
	a := newApp(t, appConfig{mode: mixpanelflags.ModeLocal, experiments: []exposure.Experiment{{
		FlagKey: "checkout-redesign", Name: "Checkout Redesign", Variants: map[string]string{"redesign": "Redesign"},
	}}})
	a.get(t, "/show", q("checkout-redesign", "u-2"))
	events := a.mp.Events()
	require.Len(t, events, 1)
	assert.Equal(t, "Checkout Redesign", events[0].Properties["Experiment name"])
	assert.Equal(t, "Redesign", events[0].Properties["Variant name"])
	assert.Equal(t, "exp-checkout-1", events[0].Properties["$experiment_id"])
}
