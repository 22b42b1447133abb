package beacon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
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

// quietLogger keeps expected warnings out of test output.
var quietLogger = slog.New(slog.DiscardHandler)

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

// newKey is a fresh signing key.
func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, beacon.MinKeyBytes)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

// checkoutProvider is OpenFeature's real in-memory provider with the
// checkout experiment flag, variant "a" for everyone.
func checkoutProvider() *memprovider.InMemoryProvider {
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flagKey: {Key: flagKey, State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "classic", "b": "one-page"}},
	})
}

var domainSeq atomic.Int64

// newClient registers provider under a fresh domain and returns a client
// with hooks, so tests do not share OpenFeature's global state.
func newClient(t testing.TB, provider openfeature.FeatureProvider, hooks ...openfeature.Hook) *openfeature.Client {
	t.Helper()
	domain := fmt.Sprintf("beacon-test-%d", domainSeq.Add(1))
	require.NoError(t, openfeature.SetNamedProviderAndWait(domain, provider))
	c := openfeature.NewClient(domain)
	c.AddHooks(hooks...)
	return c
}

// env is a Tracker delivering to a Recorder, an OpenFeature client with
// its hook, and a Confirmer of the Tracker.
type env struct {
	tracker   *exposure.Tracker
	confirmer *beacon.Confirmer
	recorder  *exposuretest.Recorder
	client    *openfeature.Client
}

// newEnv is an env with the checkout experiment; opts configure the
// Confirmer, after a key and a quiet logger.
func newEnv(t testing.TB, opts ...beacon.Option) *env {
	t.Helper()
	return newEnvWith(t, []exposure.Experiment{checkout}, checkoutProvider(), opts...)
}

func newEnvWith(t testing.TB, exps []exposure.Experiment, provider openfeature.FeatureProvider, opts ...beacon.Option) *env {
	t.Helper()
	e := &env{recorder: exposuretest.NewRecorder()}
	tr, err := exposure.NewTracker(
		exposure.WithLogger(quietLogger),
		exposure.WithExperiments(exps...),
		exposure.WithSink(e.recorder, exposure.WithFlushInterval(10*time.Millisecond)),
	)
	require.NoError(t, err)
	e.tracker = tr
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	e.confirmer, err = beacon.NewConfirmer(tr, append([]beacon.Option{
		beacon.WithKeys(newKey(t)), beacon.WithLogger(quietLogger),
	}, opts...)...)
	require.NoError(t, err)
	e.client = newClient(t, provider, tr.Hook())
	return e
}

// template parses text with the template functions of the root and of
// the Confirmer.
func (e *env) template(t testing.TB, text string) *template.Template {
	t.Helper()
	tmpl, err := template.New("").Funcs(exposure.TemplateFuncs()).Funcs(e.confirmer.TemplateFuncs()).Parse(text)
	require.NoError(t, err)
	return tmpl
}

func userCtx(user string) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(user, nil)
}

// render evaluates the checkout flag with ec in a fresh Scope, renders
// tmpl with {"Ctx": ctx}, commits the Scope like the middleware would, and
// returns the output.
func (e *env) render(t testing.TB, tmpl *template.Template, ec openfeature.EvaluationContext) string {
	t.Helper()
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", ec)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, tmpl.Execute(&out, map[string]any{"Ctx": ctx}))
	require.NoError(t, scope.Commit(ctx))
	return out.String()
}

// tokenAttr is the attribute, as html/template renders it inside a tag.
var tokenAttr = regexp.MustCompile(`^<i data-exposure="([A-Za-z0-9_-]{40,})">$`)

// token renders the checkout flag's beacon for user and returns the token.
func (e *env) token(t testing.TB, user string) string {
	t.Helper()
	out := e.render(t, e.template(t, `<i {{ exposureBeacon .Ctx "checkout-redesign" }}>`), userCtx(user))
	m := tokenAttr.FindStringSubmatch(out)
	require.Len(t, m, 2, "exposureBeacon renders a data-exposure attribute: %q", out)
	return m[1]
}

// settle flushes delivery so the recorder holds everything committed.
func (e *env) settle(t testing.TB) {
	t.Helper()
	require.NoError(t, e.tracker.Flush(t.Context()))
}

// count is the Tracker's count of stage.
func (e *env) count(stage exposure.Stage) uint64 {
	return e.tracker.Stats().Counts[stage]
}

func post(t testing.TB, h http.Handler, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/exposure/beacon", body))
	return rec
}
