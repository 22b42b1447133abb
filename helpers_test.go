package exposure_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/require"
)

const flagKey = "checkout-redesign"

var checkout = exposure.Experiment{
	FlagKey:  flagKey,
	Name:     "Checkout Redesign",
	Variants: map[string]string{"a": "Variant A", "b": "Variant B"},
}

// flagRules decides the test flag's variants, so a test can predict and
// change them.
type flagRules struct {
	// variantFor decides the variant of a user; nil means always "a".
	variantFor func(user string) string
}

// newProvider is OpenFeature's real in-memory provider with:
//   - checkout-redesign: a string experiment flag split by rules;
//   - disabled-exp: a registered experiment flag that is disabled;
//   - broken-exp: a registered experiment flag whose provider errors;
//   - plain-flag: a flag that is no experiment.
func newProvider(rules *flagRules) *memprovider.InMemoryProvider {
	split := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[openfeature.TargetingKey].(string)
		v := "a"
		if rules != nil && rules.variantFor != nil {
			v = rules.variantFor(user)
		}
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason}
	}
	broken := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		return nil, openfeature.ProviderResolutionDetail{
			ResolutionError: openfeature.NewGeneralResolutionError("upstream unavailable"),
			Reason:          openfeature.ErrorReason,
		}
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flagKey: {Key: flagKey, State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "classic", "b": "one-page"}, ContextEvaluator: &split},
		"disabled-exp": {Key: "disabled-exp", State: memprovider.Disabled, DefaultVariant: "on",
			Variants: map[string]any{"on": true, "off": false}},
		"broken-exp": {Key: "broken-exp", State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "x"}, ContextEvaluator: &broken},
		"plain-flag": {Key: "plain-flag", State: memprovider.Enabled, DefaultVariant: "on",
			Variants: map[string]any{"on": true}},
	})
}

var domainSeq atomic.Int64

// newClient registers provider under a fresh domain and returns a client
// with the tracker's hook, so tests do not share OpenFeature's global state.
func newClient(t testing.TB, provider openfeature.FeatureProvider, hooks ...openfeature.Hook) *openfeature.Client {
	t.Helper()
	domain := fmt.Sprintf("test-%d", domainSeq.Add(1))
	require.NoError(t, openfeature.SetNamedProviderAndWait(domain, provider))
	c := openfeature.NewClient(domain)
	c.AddHooks(hooks...)
	return c
}

type env struct {
	tracker  *exposure.Tracker
	recorder *exposuretest.Recorder
	client   *openfeature.Client
	rules    *flagRules
}

func newEnv(t testing.TB, opts ...exposure.Option) *env {
	t.Helper()
	e := &env{recorder: exposuretest.NewRecorder(), rules: &flagRules{}}
	all := append([]exposure.Option{
		exposure.WithLogger(quietLogger),
		exposure.WithExperiments(checkout,
			exposure.Experiment{FlagKey: "disabled-exp", Name: "Disabled Experiment"},
			exposure.Experiment{FlagKey: "broken-exp", Name: "Broken Experiment"}),
		exposure.WithSink(e.recorder, exposure.WithFlushInterval(10*time.Millisecond)),
	}, opts...)
	tr, err := exposure.NewTracker(all...)
	require.NoError(t, err)
	e.tracker = tr
	t.Cleanup(func() { _ = tr.Close(t.Context()) })
	e.client = newClient(t, newProvider(e.rules), tr.Hook())
	return e
}

func userCtx(user string) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(user, nil)
}

// server is a real HTTP server: /home evaluates, /checkout evaluates and
// marks, /fail and /panic evaluate, mark and then fail, and /error
// evaluates and fails before it marks.
func (e *env) server(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	eval := func(r *http.Request) string {
		v, _ := e.client.StringValue(r.Context(), flagKey, "classic", userCtx(r.URL.Query().Get("user")))
		return v
	}
	mux.HandleFunc("/home", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, "home ", eval(r))
	})
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		v := eval(r)
		if err := exposure.MarkRendered(r.Context(), flagKey); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		_, _ = fmt.Fprint(w, "checkout ", v)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		eval(r)
		_ = exposure.MarkRendered(r.Context(), flagKey)
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
		eval(r)
		http.Error(w, "boom before the render", http.StatusInternalServerError)
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		eval(r)
		_ = exposure.MarkRendered(r.Context(), flagKey)
		panic(http.ErrAbortHandler) // net/http recovers this one quietly
	})
	srv := httptest.NewServer(e.tracker.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv
}

func get(t testing.TB, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	return getAs(t, srv, path, "")
}

// getAs is get with a User-Agent ("" for Go's own).
func getAs(t testing.TB, srv *httptest.Server, path, userAgent string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b [256]byte
	n, _ := resp.Body.Read(b[:])
	return resp.StatusCode, string(b[:n])
}

// settle flushes delivery so the recorder holds everything committed.
func (e *env) settle(t testing.TB) {
	t.Helper()
	require.NoError(t, e.tracker.Flush(t.Context()))
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func countLines(s, substr string) int {
	n := 0
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// quietLogger keeps expected warnings (retries, drops) out of test output.
var quietLogger = slog.New(slog.DiscardHandler)

// eventLog is an Observer that keeps every event, for tests.
type eventLog struct {
	mu     sync.Mutex
	events []exposure.Event
}

func (l *eventLog) Observe(ev exposure.Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// of returns the events of one stage, in order.
func (l *eventLog) of(stage exposure.Stage) []exposure.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []exposure.Event
	for _, ev := range l.events {
		if ev.Stage == stage {
			out = append(out, ev)
		}
	}
	return out
}

// counts tallies the events by stage, weighting each by its Count.
func (l *eventLog) counts() map[exposure.Stage]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[exposure.Stage]uint64{}
	for _, ev := range l.events {
		m[ev.Stage] += uint64(ev.Count)
	}
	return m
}
