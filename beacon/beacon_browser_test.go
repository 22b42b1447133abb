package beacon_test

// End-to-end tests of exposures confirmed in the browser: a real headless
// Chromium, driven through the DevTools protocol by chromedp, loads pages
// from a real server running the Tracker's middleware and the Confirmer.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/exposurekit/exposure/internal/chromiumtest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const (
	// browserDwell is the dwell the browser tests configure: short, for speed.
	browserDwell = 200 * time.Millisecond
	// browserQuiet is how long a test waits to be sure nothing else is sent:
	// several dwells after the moment something would have been.
	browserQuiet = 4 * browserDwell
	// browserWait bounds every wait for something to happen.
	browserWait = 15 * time.Second
)

// The page's render sites, one experiment flag each.
var beaconFlags = []string{"top-exp", "hidden-exp", "invisible-exp", "slow-exp", "below-exp", "late-exp"}

const beaconPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>beacon test</title>
<style>body{margin:0;font:16px sans-serif}.box{height:150px}#spacer{height:4000px}</style>
<script src="/exposure/beacon" defer></script></head>
<body>
<div id="top" class="box" {{ exposureBeacon .Ctx "top-exp" }}>top: visible at load</div>
<div id="hidden" class="box" style="display:none" {{ exposureBeacon .Ctx "hidden-exp" }}>hidden by display:none</div>
<div id="invisible" class="box" style="visibility:hidden" {{ exposureBeacon .Ctx "invisible-exp" }}>hidden by visibility</div>
<div id="slow" class="box" data-exposure-dwell="600000" {{ exposureBeacon .Ctx "slow-exp" }}>needs ten minutes on screen</div>
<div id="spacer"></div>
<div id="below" class="box" {{ exposureBeacon .Ctx "below-exp" }}>below the fold</div>
<template id="later"><div id="late" class="box" {{ exposureBeacon .Ctx "late-exp" }}>added later</div></template>
</body></html>`

// beaconSite is a real server with the page at /page?user=… and the beacon
// handler at /exposure/beacon, both behind the Tracker's middleware.
type beaconSite struct {
	*env
	srv *httptest.Server
	mux *http.ServeMux // more routes may be added

	mu    sync.Mutex
	posts []string // the Content-Type of each POST to the beacon endpoint
}

// postTypes returns the Content-Type of each confirmation received.
func (s *beaconSite) postTypes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

func newBeaconSite(t *testing.T) *beaconSite {
	t.Helper()
	return newPageSite(t, beaconFlags, beaconPage, nil)
}

// newPageSite is a beaconSite whose page is pageText, with an experiment
// flag for each of flagKeys (variant "on" for everyone). The page is
// rendered with .Ctx, the request's context, and with the fields data
// returns for the request, if data is not nil.
func newPageSite(t *testing.T, flagKeys []string, pageText string, data func(*http.Request) map[string]any) *beaconSite {
	t.Helper()
	var exps []exposure.Experiment
	flags := map[string]memprovider.InMemoryFlag{}
	for _, f := range flagKeys {
		exps = append(exps, exposure.Experiment{FlagKey: f, Name: f})
		flags[f] = memprovider.InMemoryFlag{Key: f, State: memprovider.Enabled, DefaultVariant: "on",
			Variants: map[string]any{"on": "shown", "off": "classic"}}
	}
	e := newEnvWith(t, exps, memprovider.NewInMemoryProvider(flags), beacon.WithVisibility(0.5, browserDwell))
	page := e.template(t, pageText)

	mux := http.NewServeMux()
	site := &beaconSite{env: e, mux: mux}
	mux.HandleFunc("/exposure/beacon", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			site.mu.Lock()
			site.posts = append(site.posts, r.Header.Get("Content-Type"))
			site.mu.Unlock()
		}
		e.confirmer.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil)
		for _, f := range flagKeys {
			if _, err := e.client.StringValue(r.Context(), f, "classic", ec); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fields := map[string]any{}
		if data != nil {
			fields = data(r)
		}
		fields["Ctx"] = r.Context()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, fields); err != nil {
			t.Errorf("rendering the page: %v", err)
		}
	})
	site.srv = httptest.NewServer(e.tracker.Middleware(mux))
	t.Cleanup(site.srv.Close)
	return site
}

// exposed counts the exposures the sink received for flag.
func (s *beaconSite) exposed(flag string) int {
	n := 0
	for _, x := range s.recorder.Exposures() {
		if x.FlagKey == flag {
			n++
		}
	}
	return n
}

func (s *beaconSite) waitExposed(t *testing.T, flag string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return s.exposed(flag) >= n }, browserWait, 20*time.Millisecond,
		"waiting for %d exposure(s) of %s; stats %+v", n, flag, s.confirmer.Stats())
}

// newBrowser is chromiumtest.Start for the beacon tests, which also fail if a
// goroutine is left behind.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	ignore := []goleak.Option{goleak.IgnoreCurrent(),
		// OpenFeature keeps an event goroutine per registered provider domain.
		goleak.IgnoreTopFunction("github.com/open-feature/go-sdk/openfeature.(*eventExecutor).startListeningAndShutdownOld.func1"),
		goleak.IgnoreTopFunction("github.com/open-feature/go-sdk/openfeature.(*eventExecutor).startListeningAndShutdownOld.(*eventExecutor).startEventListener.func3.1"),
		// and, since go-sdk v1.20, one event listener per process, started
		// by the first provider registered.
		goleak.IgnoreTopFunction("github.com/open-feature/go-sdk/openfeature.(*eventExecutor).startEventListener.func1.1")}
	t.Cleanup(func() { goleak.VerifyNone(t, ignore...) }) // registered first: runs last
	return chromiumtest.Start(t, 1024, 768)
}

// run runs actions in a tab, bounded by browserWait.
func run(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWait)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// eval runs JavaScript in a tab, ignoring its result.
func eval(js string) chromedp.Action[chromedp.Void] { return chromedp.Evaluate[chromedp.Void](js) }

// TestBrowserBeacon shares one browser between its cases, since starting
// one is the slow part; each case has its own tabs, server and Tracker.
func TestBrowserBeacon(t *testing.T) {
	browser := newBrowser(t)
	t.Run("confirms only what is seen", func(t *testing.T) { testConfirmsOnlyWhatIsSeen(t, browser) })
	t.Run("a second tab sends nothing new", func(t *testing.T) { testSecondTabSendsNothingNew(t, browser) })
	t.Run("falls back to fetch when sendBeacon refuses", func(t *testing.T) { testFetchFallback(t, browser) })
}

// newTab opens a tab, closed at the end of the test.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, closeTab := chromedp.NewContext(browser)
	t.Cleanup(closeTab)
	// The first run opens the tab; as for the browser, without a deadline.
	require.NoError(t, chromedp.Do(tab), "opening a tab")
	return tab
}

func testConfirmsOnlyWhatIsSeen(t *testing.T, browser context.Context) {
	tab := newTab(t, browser)
	site := newBeaconSite(t)

	run(t, tab, chromedp.Navigate(site.srv.URL+"/page?user=ana"))
	// The element at the top is seen: its exposure arrives, one dwell after
	// the load. Everything else would have been sent by now too.
	site.waitExposed(t, "top-exp", 1)
	time.Sleep(browserQuiet)
	st := site.confirmer.Stats()
	assert.Equal(t, uint64(len(beaconFlags)), st.Issued)
	assert.Equal(t, uint64(1), st.Accepted, "only the element on screen confirmed")
	for _, f := range []string{"below-exp", "hidden-exp", "invisible-exp", "slow-exp", "late-exp"} {
		assert.Zero(t, site.exposed(f), "%s sent without being seen", f)
	}

	// Scrolled into view, the element below the fold sends one exposure.
	run(t, tab, chromedp.ScrollIntoView(chromedp.ID("below")))
	site.waitExposed(t, "below-exp", 1)
	// Away and back again: the browser does not post it a second time.
	run(t, tab, eval(`window.scrollTo(0, 0)`))
	time.Sleep(browserQuiet)
	run(t, tab, chromedp.ScrollIntoView(chromedp.ID("below")))
	time.Sleep(browserQuiet)
	assert.Equal(t, 1, site.exposed("below-exp"))
	assert.Equal(t, uint64(2), site.confirmer.Stats().Accepted, "one post per element")

	// An element added after the load is watched too.
	run(t, tab,
		eval(`window.scrollTo(0, 0); document.body.prepend(document.getElementById("later").content.cloneNode(true))`),
		chromedp.WaitVisible(chromedp.ID("late")))
	site.waitExposed(t, "late-exp", 1)

	// The hidden elements sat in the viewport all along and never sent.
	time.Sleep(browserQuiet)
	assert.Zero(t, site.exposed("hidden-exp"), "display:none sent")
	assert.Zero(t, site.exposed("invisible-exp"), "visibility:hidden sent")
	assert.Zero(t, site.exposed("slow-exp"), "an element's own dwell was ignored")
	st = site.confirmer.Stats()
	assert.Equal(t, uint64(3), st.Accepted)
	assert.Zero(t, st.Rejected)
	assert.Equal(t, uint64(len(beaconFlags)), site.count(exposure.StageHandedOff), "every render site handed off")
	assert.Equal(t, uint64(3), site.count(exposure.StageCommitted), "every exposure came from the browser")
	assert.Zero(t, site.count(exposure.StageDuplicate))
	assert.Equal(t, []string{sendBeaconType, sendBeaconType, sendBeaconType}, site.postTypes(), "posted with sendBeacon")
}

// The Content-Type Chromium gives a string body: sendBeacon adds the
// charset, the script's fetch fallback sets plain text.
const (
	sendBeaconType = "text/plain;charset=UTF-8"
	fetchType      = "text/plain"
)

func testFetchFallback(t *testing.T, browser context.Context) {
	site := newBeaconSite(t)
	tab := newTab(t, browser)
	// A browser whose beacon queue is full: sendBeacon answers false.
	run(t, tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `navigator.sendBeacon = function () { return false; };`,
		})
		return err
	}), chromedp.Navigate(site.srv.URL+"/page?user=cy"))
	site.waitExposed(t, "top-exp", 1)
	assert.Equal(t, []string{fetchType}, site.postTypes())
}

func testSecondTabSendsNothingNew(t *testing.T, browser context.Context) {
	site := newBeaconSite(t)
	url := site.srv.URL + "/page?user=bo"

	run(t, newTab(t, browser), chromedp.Navigate(url))
	site.waitExposed(t, "top-exp", 1)

	run(t, newTab(t, browser), chromedp.Navigate(url))
	// The second tab confirms its own token; the dedupe keeps the exposure
	// single.
	require.Eventually(t, func() bool { return site.confirmer.Stats().Accepted >= 2 }, browserWait, 20*time.Millisecond,
		"the second tab's confirmation")
	require.NoError(t, site.tracker.Flush(t.Context()))
	time.Sleep(browserQuiet)
	assert.Equal(t, uint64(2), site.confirmer.Stats().Accepted)
	assert.Equal(t, uint64(1), site.count(exposure.StageDuplicate))
	assert.Equal(t, 1, site.exposed("top-exp"), "a second tab sent a new exposure")
	assert.Len(t, site.recorder.Exposures(), 1, fmt.Sprint(site.recorder.Exposures()))
}
