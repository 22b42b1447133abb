package beacon_test

// End-to-end tests of the browser module (beacon/js) in a real headless
// Chromium: single-page apps, one plain (testdata/vanilla-app.js), one in
// React (testdata/react-app.jsx) and one in Vue (testdata/vue-app.js), the
// last two bundled at test time with the real frameworks, draw the
// "pricing-page" experiment after a client-side route change, from the
// variant and token a JSON API gave them (Confirmer.Token), and observe the
// panel with the module. A real Confirmer, Tracker and Recorder sit
// behind the httptest server.

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pricingFlag = "pricing-page"

// spaPage is the shell of the apps: a view the app fills in, and whatever
// markup a test injects (no script: the page's CSP allows only 'self').
var spaPage = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spa test</title>
<link rel="stylesheet" href="/app.css">
<script type="module" src="{{ .Script }}"></script></head>
<body><nav><a data-route href="/app/">home</a> <a data-route href="/app/pricing">pricing</a></nav>
<main id="view"></main>{{ .Inject }}</body></html>`))

const spaCSS = `body{margin:0;font:16px sans-serif}.panel{height:200px;background:#eef}.spacer{height:4000px}`

// spaCSP is the page's policy: the module needs nothing beyond 'self'.
const spaCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src data:"

// spaSite serves an app (its script at /app.js), the API, the module and
// the Confirmer.
type spaSite struct {
	*env
	srv   *httptest.Server
	posts atomic.Int64 // POSTs to the confirmation endpoint
}

func newSPASite(t *testing.T, appJS []byte) *spaSite {
	t.Helper()
	provider := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		pricingFlag: {Key: pricingFlag, State: memprovider.Enabled, DefaultVariant: "annual-first",
			Variants: map[string]any{"control": "monthly-first", "annual-first": "annual-first"}},
	})
	e := newEnvWith(t, []exposure.Experiment{{FlagKey: pricingFlag, Name: "Pricing Page Test",
		Variants: map[string]string{"control": "Control", "annual-first": "Annual First"}}}, provider)
	s := &spaSite{env: e}

	api := http.NewServeMux()
	api.HandleFunc("GET /api/pricing", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil)
		variant, err := e.client.StringValue(r.Context(), pricingFlag, "monthly-first", ec)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tok, err := e.confirmer.Token(r.Context(), pricingFlag)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"variant": variant, "token": tok})
	})

	mux := http.NewServeMux()
	mux.Handle("/api/", e.tracker.Middleware(api))
	mux.Handle("/exposure/js/", http.StripPrefix("/exposure/js/", e.confirmer.Module()))
	mux.HandleFunc("/exposure/beacon", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			s.posts.Add(1)
		}
		e.confirmer.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(appJS)
	})
	mux.HandleFunc("GET /app.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		_, _ = w.Write([]byte(spaCSS))
	})
	mux.HandleFunc("GET /app/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", spaCSP)
		_ = spaPage.Execute(w, map[string]any{
			"Script": "/app.js",
			"Inject": template.HTML(r.URL.Query().Get("inject")), //nolint:gosec // the test's own injection
		})
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// url is the app's URL at path for user, with the knobs in query.
func (s *spaSite) url(path, user string, query url.Values) string {
	q := url.Values{"user": {user}}
	for k, v := range query {
		q[k] = v
	}
	return s.srv.URL + path + "?" + q.Encode()
}

// exposures is what the sink received, after a flush.
func (s *spaSite) exposures(t *testing.T) int {
	t.Helper()
	require.NoError(t, s.tracker.Flush(t.Context()))
	return len(s.recorder.Exposures())
}

func (s *spaSite) waitAccepted(t *testing.T, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return s.confirmer.Stats().Accepted >= n }, browserWait, 20*time.Millisecond,
		"waiting for %d confirmation(s); stats %+v, posts %d", n, s.confirmer.Stats(), s.posts.Load())
}

// quiet waits long enough for anything pending to have been sent, then
// checks the posts received and the exposures delivered.
func (s *spaSite) quiet(t *testing.T, wait time.Duration, posts int64, exposures int, msg string) {
	t.Helper()
	time.Sleep(wait)
	assert.Equal(t, posts, s.posts.Load(), "posts: %s", msg)
	assert.Equal(t, exposures, s.exposures(t), "exposures: %s", msg)
}

// goTo navigates inside the app (history.pushState), waiting for the app
// to be ready first.
func goTo(t *testing.T, tab context.Context, path string) {
	t.Helper()
	run(t, tab, poll(`typeof window.app === "object" && typeof window.app.go === "function"`),
		eval(`window.app.go(`+jsString(path)+`)`))
}

// poll waits until the JavaScript expression js is truthy.
func poll(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](js)(ctx, tg)
		return err
	})
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitPanel waits until the app drew the pricing panel.
func waitPanel(t *testing.T, tab context.Context) {
	t.Helper()
	run(t, tab, chromedp.WaitVisible(chromedp.ID("panel")))
}

// setHidden minimizes (hidden) or restores (visible) the tab's window: a
// real background tab, document.visibilityState included.
func setHidden(t *testing.T, tab context.Context, hidden bool) {
	t.Helper()
	id := chromedp.FromContext(tab).Target.TargetID
	win, err := chromedp.CallBrowser(tab, browser.GetWindowForTarget, browser.GetWindowForTargetParams{TargetID: id})
	require.NoError(t, err)
	state, want := browser.WindowStateNormal, "visible"
	if hidden {
		state, want = browser.WindowStateMinimized, "hidden"
	}
	_, err = chromedp.CallBrowser(tab, browser.SetWindowBounds,
		browser.SetWindowBoundsParams{WindowID: win.WindowID, Bounds: &browser.Bounds{WindowState: state}})
	require.NoError(t, err)
	run(t, tab, poll(`document.visibilityState === `+jsString(want)))
}

func vanillaApp(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("js", "testdata", "vanilla-app.js"))
	require.NoError(t, err)
	return b
}

// TestBrowserModule runs the single-page scenarios with the plain module.
func TestBrowserModule(t *testing.T) {
	b := newBrowser(t)
	testSPA(t, b, vanillaApp(t), true)
}

// TestBrowserModuleReact runs them with the React hook, real React from
// npm bundled by esbuild from beacon/js/testdata/node_modules.
func TestBrowserModuleReact(t *testing.T) {
	bundle := bundleApp(t, "react-app.jsx", []string{"react", "react-dom"}, "--jsx=automatic")
	b := newBrowser(t)
	testSPA(t, b, bundle, false)
}

// TestBrowserModuleVue runs them with the v-exposure directive in real Vue
// 3 from npm, bundled by esbuild: the panel drawn after a route change is
// confirmed once after its dwell, one unmounted before its dwell sends
// nothing, a remounted one does not send twice.
func TestBrowserModuleVue(t *testing.T) {
	bundle := bundleApp(t, "vue-app.js", []string{"vue"},
		// The feature flags of Vue's esm-bundler build, as a Vue app's
		// bundler configuration sets them.
		"--define:__VUE_OPTIONS_API__=true", "--define:__VUE_PROD_DEVTOOLS__=false",
		"--define:__VUE_PROD_HYDRATION_MISMATCH_DETAILS__=false")
	b := newBrowser(t)
	testSPA(t, b, bundle, false)
}

// bundleApp bundles the app entry of beacon/js/testdata with esbuild (and
// args), or skips the test when node, npm or the installed packages (pkgs,
// and esbuild) are absent.
func bundleApp(t *testing.T, entry string, pkgs []string, args ...string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the %s tests need Node.js and npm (then run npm ci in beacon/js/testdata, or ./scripts/test)", tool, entry)
		}
	}
	dir, err := filepath.Abs(filepath.Join("js", "testdata"))
	require.NoError(t, err)
	esbuild := filepath.Join(dir, "node_modules", ".bin", "esbuild")
	need := []string{esbuild}
	for _, p := range pkgs {
		need = append(need, filepath.Join(dir, "node_modules", p))
	}
	for _, p := range need {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			t.Skipf("%s missing: run npm ci in beacon/js/testdata or ./scripts/test", p)
		}
	}
	out := filepath.Join(t.TempDir(), "app.js")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, esbuild, append([]string{entry, "--bundle", "--format=esm",
		"--log-level=warning", "--outfile=" + out}, args...)...)
	cmd.Dir = dir
	// react.js imports "react" from beacon/js, outside testdata: resolve it
	// from testdata/node_modules.
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "esbuild: %s", msg)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	return b
}

// testSPA runs the single-page scenarios against app; full adds the
// scenarios about the page rather than the binding (background tab,
// second tab, hostile pages).
func testSPA(t *testing.T, b context.Context, app []byte, full bool) {
	t.Run("route change", func(t *testing.T) {
		site := newSPASite(t, app)
		tab := newTab(t, b)
		run(t, tab, chromedp.Navigate(site.url("/app/", "ana", nil)))
		goTo(t, tab, "/app/")
		site.quiet(t, browserQuiet, 0, 0, "the home route draws no variant")
		goTo(t, tab, "/app/pricing")
		waitPanel(t, tab)
		site.waitAccepted(t, 1)
		site.quiet(t, browserQuiet, 1, 1, "the panel drawn after the route change")
		assert.Equal(t, uint64(1), site.count(exposure.StageHandedOff), "the API handed the assignment to the client")
	})

	t.Run("scroll into view", func(t *testing.T) {
		site := newSPASite(t, app)
		tab := newTab(t, b)
		run(t, tab, chromedp.Navigate(site.url("/app/", "bo", url.Values{"below": {"1"}})))
		goTo(t, tab, "/app/pricing")
		run(t, tab, chromedp.WaitReady(chromedp.ID("panel")))
		site.quiet(t, browserQuiet, 0, 0, "the panel below the fold")
		run(t, tab, chromedp.ScrollIntoView(chromedp.ID("panel")))
		site.waitAccepted(t, 1)
		site.quiet(t, browserQuiet, 1, 1, "the panel scrolled into view")
	})

	t.Run("unmount before dwell, then remount", func(t *testing.T) {
		// A long dwell: the route is left well within it.
		const dwell = 3 * time.Second
		site := newSPASite(t, app)
		tab := newTab(t, b)
		run(t, tab, chromedp.Navigate(site.url("/app/", "cy", url.Values{"dwell": {"3000"}})))
		goTo(t, tab, "/app/pricing")
		waitPanel(t, tab)
		// Some frames on screen, visible, then away.
		run(t, tab, eval(`new Promise(r => setTimeout(r, 300))`), eval(`window.app.go("/app/")`))
		site.quiet(t, dwell+browserQuiet, 0, 0, "unmounted before its dwell")
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.app.wasSent(window.app.token)`))
		require.NoError(t, err)
		assert.False(t, ok)

		// Back: the same token (the app cached the API's answer), seen this time.
		goTo(t, tab, "/app/pricing")
		waitPanel(t, tab)
		site.waitAccepted(t, 1)
		// Away and back again: the token was posted, nothing more is.
		goTo(t, tab, "/app/")
		goTo(t, tab, "/app/pricing")
		waitPanel(t, tab)
		site.quiet(t, dwell+browserQuiet, 1, 1, "remounted after its exposure")
		draws, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.app.draws`))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, draws, 3, "the panel was drawn three times")
	})

	if !full {
		return
	}

	t.Run("removed without stop before dwell", func(t *testing.T) {
		site := newSPASite(t, app)
		tab := newTab(t, b)
		run(t, tab, chromedp.Navigate(site.url("/app/", "di", url.Values{"dwell": {"3000"}, "nostop": {"1"}})))
		goTo(t, tab, "/app/pricing")
		waitPanel(t, tab)
		run(t, tab, eval(`new Promise(r => setTimeout(r, 300))`), eval(`window.app.go("/app/")`))
		site.quiet(t, 3*time.Second+browserQuiet, 0, 0, "removed from the document before its dwell")
	})

	t.Run("background tab", func(t *testing.T) {
		site := newSPASite(t, app)
		tab := newTab(t, b)
		run(t, tab, chromedp.Navigate(site.url("/app/", "ed", url.Values{"dwell": {"2000"}})))
		goTo(t, tab, "/app/pricing")
		waitPanel(t, tab)
		// On screen for a moment, then the tab goes to the background
		// before the dwell is over: its clock stops.
		run(t, tab, eval(`new Promise(r => setTimeout(r, 300))`))
		setHidden(t, tab, true)
		site.quiet(t, 2*time.Second+browserQuiet, 0, 0, "a background tab")
		// In the foreground again, a full dwell later it is sent.
		setHidden(t, tab, false)
		site.waitAccepted(t, 1)
		site.quiet(t, browserQuiet, 1, 1, "back in the foreground")
	})

	t.Run("second tab", func(t *testing.T) {
		site := newSPASite(t, app)
		for range 2 {
			tab := newTab(t, b)
			run(t, tab, chromedp.Navigate(site.url("/app/", "fay", nil)))
			goTo(t, tab, "/app/pricing")
			waitPanel(t, tab)
		}
		// Each tab is a page life with its own token: both post, the
		// dedupe keeps one exposure.
		site.waitAccepted(t, 2)
		site.quiet(t, browserQuiet, 2, 1, "two tabs")
		assert.Equal(t, uint64(1), site.count(exposure.StageDuplicate), "the second tab's is a duplicate")
	})

	t.Run("hostile pages", func(t *testing.T) { testModuleHostile(t, b, app) })
}

// The issue 13 defences hold for the module: no confirmation from inside
// another origin's frame unless allowed, no foreign endpoint, no switching
// off or steering by injected markup.
func testModuleHostile(t *testing.T, b context.Context, app []byte) {
	other := newOtherOrigin(t)
	collect := other.srv.URL + "/collect"
	tests := []struct {
		name   string
		query  url.Values
		framer bool // framed by the other origin
		want   int  // confirmations
	}{
		{name: "framed by another origin", framer: true},
		{name: "framed by an allowed origin", framer: true, query: url.Values{"allow": {other.srv.URL}}, want: 1},
		{name: "a foreign endpoint", query: url.Values{"endpoint": {collect}}},
		{name: "images named like the document's members", query: url.Values{"inject": {
			`<img name="visibilityState" src="data:,"><img name="documentElement" src="data:,">` +
				`<img name="addEventListener" src="data:,"><form name="location" action="` + collect + `"></form>`}}, want: 1},
		{name: "an anchor named like the module's state", query: url.Values{"inject": {
			`<a id="exposurekit.module.sent" href="#">x</a><a id="sendBeacon" href="#">x</a>`}}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := other.collected.Load()
			site := newSPASite(t, app)
			tab := newTab(t, b)
			target := site.url("/app/pricing", "gil", tc.query)
			if tc.framer {
				target = framed(other.srv.URL, target, "", false)
			}
			run(t, tab, chromedp.Navigate(target))
			if tc.want > 0 {
				site.waitAccepted(t, uint64(tc.want))
			}
			site.quiet(t, browserQuiet, int64(tc.want), tc.want, tc.name)
			assert.Equal(t, before, other.collected.Load(), "nothing was sent to the other origin")
			assert.Equal(t, uint64(1), site.confirmer.Stats().Issued, "the app drew the panel")
		})
	}
}
