package beacon_test

// End-to-end tests of the script on hostile pages, in a real headless
// Chromium: a page of one origin framed by a page of another (two
// httptest servers, two ports: two origins) to make it confirm what
// nobody saw, and markup injected into the page to steer it (DOM
// clobbering).

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The render sites of the hostile-page tests: one in plain view, one
// nearly transparent, one under an opaque sibling.
var hostileFlags = []string{"seen-exp", "faint-exp", "covered-exp"}

const hostilePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hostile page test</title>
<style>body{margin:0;font:16px sans-serif}.box{height:150px}.wrap{position:relative}
.overlay{position:absolute;inset:0;background:#fff}
.cover{position:fixed;inset:0;background:#fff;z-index:10}</style>
<script src="/exposure/beacon" defer {{ with .Allow }}data-allow-framing="{{ . }}" {{ end }}{{ with .Endpoint }}data-endpoint="{{ . }}" {{ end }}></script></head>
<body>
<div id="seen" class="box" {{ exposureBeacon .Ctx "seen-exp" }}>in plain view</div>
<div id="faint" class="box" style="opacity:0.01" {{ exposureBeacon .Ctx "faint-exp" }}>nearly transparent</div>
<div class="wrap"><div id="covered" class="box" {{ exposureBeacon .Ctx "covered-exp" }}>covered</div><div class="overlay"></div></div>
{{ .Inject }}
</body></html>`

// hostileData passes the page's query to it: allow and endpoint become
// attributes of the script, inject is markup added to the body (the
// injection the clobbering tests make).
func hostileData(r *http.Request) map[string]any {
	q := r.URL.Query()
	return map[string]any{
		"Allow": q.Get("allow"), "Endpoint": q.Get("endpoint"),
		"Inject": template.HTML(q.Get("inject")), //nolint:gosec // the test's own injection
	}
}

// framingPage frames src with a style, under a full-screen cover if cover.
var framingPage = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>framer</title>
<style>body{margin:0}iframe{border:0;display:block;width:100vw;height:100vh}
.cover{position:fixed;inset:0;background:#fff;z-index:10}</style></head>
<body><iframe src="{{ .Src }}" style="{{ .Style }}"></iframe>{{ if .Cover }}<div class="cover"></div>{{ end }}</body></html>`))

// frame serves framingPage: /frame?src=…&style=…&cover=1.
func frame(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = framingPage.Execute(w, map[string]any{
		"Src": template.URL(q.Get("src")), "Style": template.CSS(q.Get("style")), //nolint:gosec // the test's own page
		"Cover": q.Get("cover") != "",
	})
}

// otherOrigin is a server of another origin than the sites': it frames
// pages (/frame) and counts whatever is sent to /collect.
type otherOrigin struct {
	srv       *httptest.Server
	collected atomic.Int64
}

func newOtherOrigin(t *testing.T) *otherOrigin {
	t.Helper()
	o := &otherOrigin{}
	mux := http.NewServeMux()
	mux.HandleFunc("/frame", frame)
	mux.HandleFunc("/collect", func(w http.ResponseWriter, _ *http.Request) {
		o.collected.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	o.srv = httptest.NewServer(mux)
	t.Cleanup(o.srv.Close)
	return o
}

func newHostileSite(t *testing.T) *beaconSite {
	t.Helper()
	site := newPageSite(t, hostileFlags, hostilePage, hostileData)
	site.mux.HandleFunc("/frame", frame) // for frames of the page's own origin
	return site
}

// pageURL is the URL of the site's page for a fresh user, with query.
func (s *beaconSite) pageURL(query url.Values) string {
	q := url.Values{"user": {"u-1"}}
	for k, v := range query {
		q[k] = v
	}
	return s.srv.URL + "/page?" + q.Encode()
}

// framed is the URL of framer's page framing target, styled so.
func framed(framer, target, style string, cover bool) string {
	q := url.Values{"src": {target}, "style": {style}}
	if cover {
		q.Set("cover", "1")
	}
	return framer + "/frame?" + q.Encode()
}

// confirmedAfterQuiet waits until the site accepted want confirmations
// (want > 0) or, for want == 0, long enough for anything to have been
// sent, and returns what the site committed by flag.
func (s *beaconSite) confirmedAfterQuiet(t *testing.T, want int) map[string]int {
	t.Helper()
	if want > 0 {
		require.Eventually(t, func() bool { return s.confirmer.Stats().Accepted >= uint64(want) }, browserWait, 20*time.Millisecond,
			"waiting for %d confirmation(s); stats %+v", want, s.confirmer.Stats())
	}
	time.Sleep(browserQuiet)
	require.NoError(t, s.tracker.Flush(t.Context()))
	got := map[string]int{}
	for _, x := range s.recorder.Exposures() {
		got[x.FlagKey]++
	}
	return got
}

func TestBrowserHostilePages(t *testing.T) {
	browser := newBrowser(t)
	other := newOtherOrigin(t)

	// The tests below rely on IntersectionObserver v2, which this
	// Chromium must have: without it they would test the fallback only.
	tab := newTab(t, browser)
	run(t, tab, chromedp.Navigate("about:blank"))
	v2, err := chromedp.Run(tab, chromedp.Evaluate[bool](`'isVisible' in IntersectionObserverEntry.prototype`))
	require.NoError(t, err)
	require.True(t, v2, "this Chromium tracks visibility (IntersectionObserver v2)")

	t.Run("framing", func(t *testing.T) { testFraming(t, browser, other) })
	t.Run("what is not seen on the page itself", func(t *testing.T) { testUnseenOnThePage(t, browser) })
	t.Run("DOM clobbering", func(t *testing.T) { testClobbering(t, browser, other) })
}

// A page framed by another origin confirms nothing, visible or not,
// unless the script allows that origin; even then, and in a frame of the
// page's own origin, what is faded or covered is not confirmed.
func testFraming(t *testing.T, browser context.Context, other *otherOrigin) {
	tests := []struct {
		name string
		// own frames the page from its own origin; otherwise from the
		// other origin.
		own    bool
		allow  bool // the script allows the other origin to frame it
		style  string
		cover  bool
		wantOK bool // the element in plain view is confirmed
	}{
		{name: "another origin, visible", style: ""},
		{name: "another origin, opacity 0", style: "opacity:0"},
		{name: "another origin, opacity 0.01", style: "opacity:0.01"},
		{name: "another origin, under a full-screen cover", cover: true},
		{name: "an allowed origin, visible", allow: true, wantOK: true},
		{name: "an allowed origin, opacity 0", allow: true, style: "opacity:0"},
		{name: "an allowed origin, opacity 0.01", allow: true, style: "opacity:0.01"},
		{name: "an allowed origin, under a full-screen cover", allow: true, cover: true},
		{name: "its own origin, visible", own: true, wantOK: true},
		{name: "its own origin, opacity 0.01", own: true, style: "opacity:0.01"},
		{name: "its own origin, under a full-screen cover", own: true, cover: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			site := newHostileSite(t)
			query := url.Values{}
			if tc.allow {
				query.Set("allow", other.srv.URL)
			}
			framer := other.srv.URL
			if tc.own {
				framer = site.srv.URL
			}
			run(t, newTab(t, browser), chromedp.Navigate(framed(framer, site.pageURL(query), tc.style, tc.cover)))
			want := map[string]int{}
			if tc.wantOK {
				want["seen-exp"] = 1
			}
			assert.Equal(t, want, site.confirmedAfterQuiet(t, len(want)), "exposures confirmed")
			st := site.confirmer.Stats()
			assert.Equal(t, uint64(len(hostileFlags)), st.Issued, "the framed page was rendered")
			assert.Zero(t, st.Rejected)
		})
	}
}

// On the page itself, unframed: an element in plain view is confirmed;
// one nearly transparent or under an opaque sibling is not, and nothing
// is under a full-screen cover.
func testUnseenOnThePage(t *testing.T, browser context.Context) {
	t.Run("uncovered", func(t *testing.T) {
		site := newHostileSite(t)
		run(t, newTab(t, browser), chromedp.Navigate(site.pageURL(nil)))
		assert.Equal(t, map[string]int{"seen-exp": 1}, site.confirmedAfterQuiet(t, 1))
	})
	t.Run("under a full-screen cover", func(t *testing.T) {
		site := newHostileSite(t)
		run(t, newTab(t, browser), chromedp.Navigate(site.pageURL(url.Values{"inject": {`<div class="cover"></div>`}})))
		assert.Empty(t, site.confirmedAfterQuiet(t, 0))
		assert.Equal(t, uint64(len(hostileFlags)), site.confirmer.Stats().Issued)
	})
}

// Markup injected into the page (no script) cannot make the script post
// elsewhere or switch it off; the script's own data-endpoint is refused
// when it is of another origin.
func testClobbering(t *testing.T, browser context.Context, other *otherOrigin) {
	collect := other.srv.URL + "/collect"
	tests := []struct {
		name     string
		query    url.Values
		wantSeen int
	}{
		{"an img named currentScript with a foreign endpoint",
			url.Values{"inject": {`<img name="currentScript" src="data:," data-endpoint="` + collect + `">`}}, 1},
		{"a form named currentScript",
			url.Values{"inject": {`<form name="currentScript" data-endpoint="` + collect + `"></form>`}}, 1},
		{"an anchor with the id of the old loaded flag",
			url.Values{"inject": {`<a id="__exposureBeacon" href="#">x</a>`}}, 1},
		{"images named like the document's members",
			url.Values{"inject": {`<img name="visibilityState" src="data:,"><img name="documentElement" src="data:,">` +
				`<img name="addEventListener" src="data:,"><img name="querySelectorAll" src="data:,">`}}, 1},
		{"a foreign data-endpoint on the script itself", url.Values{"endpoint": {collect}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := other.collected.Load()
			site := newHostileSite(t)
			run(t, newTab(t, browser), chromedp.Navigate(site.pageURL(tc.query)))
			want := map[string]int{}
			if tc.wantSeen > 0 {
				want["seen-exp"] = tc.wantSeen
			}
			assert.Equal(t, want, site.confirmedAfterQuiet(t, tc.wantSeen), "confirmed at the page's own origin")
			assert.Equal(t, before, other.collected.Load(), "nothing was sent to the other origin")
		})
	}
}
