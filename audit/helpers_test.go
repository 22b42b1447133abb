package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
	"github.com/exposurekit/exposure/exposuretest"
)

const flagKey = "checkout-redesign"

// checkout is the test experiment, weighted 50/50.
var checkout = exposure.Experiment{
	FlagKey:  flagKey,
	Name:     "Checkout Redesign",
	Variants: map[string]string{"a": "Variant A", "b": "Variant B"},
	Weights:  map[string]float64{"Variant A": 50, "Variant B": 50},
}

// flagRules decides the test flag's variants, so a test can predict and
// change them. variantFor is set before the first evaluation.
type flagRules struct {
	// variantFor decides the variant of a user; nil means always "a".
	variantFor func(user string) string
}

// newProvider is OpenFeature's real in-memory provider with
// checkout-redesign, a string experiment flag split by rules, and
// plain-flag, a flag that is no experiment.
func newProvider(rules *flagRules) *memprovider.InMemoryProvider {
	split := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[openfeature.TargetingKey].(string)
		v := "a"
		if rules.variantFor != nil {
			v = rules.variantFor(user)
		}
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason}
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flagKey: {Key: flagKey, State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "classic", "b": "one-page"}, ContextEvaluator: &split},
		"plain-flag": {Key: "plain-flag", State: memprovider.Enabled, DefaultVariant: "on",
			Variants: map[string]any{"on": true}},
	})
}

var domainSeq atomic.Int64

// newClient registers provider under a fresh domain and returns a client
// with hooks, so tests do not share OpenFeature's global state.
func newClient(t testing.TB, provider openfeature.FeatureProvider, hooks ...openfeature.Hook) *openfeature.Client {
	t.Helper()
	domain := fmt.Sprintf("audit-test-%d", domainSeq.Add(1))
	require.NoError(t, openfeature.SetNamedProviderAndWait(domain, provider))
	c := openfeature.NewClient(domain)
	c.AddHooks(hooks...)
	return c
}

func userCtx(user string) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(user, nil)
}

var quietLogger = slog.New(slog.DiscardHandler)

// env is a Tracker observed by an Auditor, with the recorder sink, a
// client whose flags follow rules, and a real HTTP server with the audit
// page at /debug/exposures and these pages:
//
//	/home       evaluates the experiment flag (an assignment)
//	/checkout   evaluates and marks it, except for variant b when skipMark
//	            is set (a render site that forgets one variant)
//	/orphan     marks the flag without evaluating it, and a flag never
//	            evaluated (two unassigned marks)
//	/flaky      evaluates and marks it, then fails with a 500 for variant
//	            b when the user's number is a multiple of 5 (a variant that
//	            breaks the page for one user in five)
type env struct {
	tracker  *exposure.Tracker
	auditor  *audit.Auditor
	recorder *exposuretest.Recorder
	client   *openfeature.Client
	rules    *flagRules
	srv      *httptest.Server
	skipMark bool
}

// newEnv builds an env for exp with the auditor's options aopts and the
// tracker's extra options topts.
func newEnv(t testing.TB, exp exposure.Experiment, aopts []audit.Option, topts ...exposure.Option) *env {
	t.Helper()
	aud, err := audit.NewAuditor(aopts...)
	require.NoError(t, err)
	e := &env{auditor: aud, recorder: exposuretest.NewRecorder(), rules: &flagRules{}}
	tr, err := exposure.NewTracker(append([]exposure.Option{
		exposure.WithLogger(quietLogger),
		exposure.WithExperiments(exp),
		exposure.WithObserver(aud),
		exposure.WithSink(e.recorder, exposure.WithFlushInterval(10*time.Millisecond)),
	}, topts...)...)
	require.NoError(t, err)
	e.tracker = tr
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	e.client = newClient(t, newProvider(e.rules), tr.Hook())

	mux := http.NewServeMux()
	eval := func(r *http.Request) string {
		v, _ := e.client.StringValue(r.Context(), flagKey, "classic", userCtx(r.URL.Query().Get("user")))
		return v
	}
	mux.HandleFunc("/home", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "home "+eval(r)) })
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		v := eval(r)
		if !(e.skipMark && v == "one-page") {
			_ = exposure.MarkRendered(r.Context(), flagKey)
		}
		_, _ = io.WriteString(w, "checkout "+v)
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		v := eval(r)
		_ = exposure.MarkRendered(r.Context(), flagKey)
		var n int
		_, _ = fmt.Sscanf(r.URL.Query().Get("user"), "u%d", &n)
		if v == "one-page" && n%5 == 0 {
			http.Error(w, "the one-page checkout broke", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "checkout "+v)
	})
	mux.HandleFunc("/orphan", func(w http.ResponseWriter, r *http.Request) {
		_ = exposure.MarkRendered(r.Context(), flagKey)
		_ = exposure.MarkRendered(r.Context(), "never-evaluated")
	})
	app := tr.Middleware(mux)
	root := http.NewServeMux()
	root.Handle("/debug/exposures", aud.Handler(tr)) // outside the middleware
	root.Handle("/", app)
	e.srv = httptest.NewServer(root)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) get(t testing.TB, path string) string {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, b)
	return string(b)
}

// request gets path with the User-Agent agent (Go's when empty) and
// returns the status.
func (e *env) request(t testing.TB, path, agent string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	require.NoError(t, err)
	if agent != "" {
		req.Header.Set("User-Agent", agent)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	return resp.StatusCode
}

// report fetches the JSON report through the handler.
func (e *env) report(t testing.TB) audit.Report {
	t.Helper()
	var r audit.Report
	require.NoError(t, json.Unmarshal([]byte(e.get(t, "/debug/exposures?format=json")), &r))
	return r
}

// settle flushes delivery so the recorder holds everything committed.
func (e *env) settle(t testing.TB) {
	t.Helper()
	require.NoError(t, e.tracker.Flush(context.Background()))
}

func findExperiment(t testing.TB, r audit.Report, name string) audit.Experiment {
	t.Helper()
	for _, e := range r.Experiments {
		if e.Name == name {
			return e
		}
	}
	require.Failf(t, "experiment missing", "%q not in %+v", name, r.Experiments)
	return audit.Experiment{}
}

func findVariant(t testing.TB, e audit.Experiment, name string) audit.Variant {
	t.Helper()
	for _, v := range e.Variants {
		if v.Name == name {
			return v
		}
	}
	require.Failf(t, "variant missing", "%q not in %+v", name, e.Variants)
	return audit.Variant{}
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

// threeToOne assigns variant b to every fourth user, a to the others.
func threeToOne(user string) string {
	var n int
	_, _ = fmt.Sscanf(user, "u%d", &n)
	if n%4 == 0 {
		return "b"
	}
	return "a"
}
