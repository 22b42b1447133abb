package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/chromiumtest"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newTestApp is the demo behind an httptest server, printing to out.
func newTestApp(t *testing.T) (*httptest.Server, *exposure.Tracker, *lockedbuf.Buffer) {
	t.Helper()
	out := &lockedbuf.Buffer{}
	handler, tracker, err := newApp(slog.New(slog.DiscardHandler), out)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tracker.Close(context.Background()) })
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv, tracker, out
}

// exposures are the exposure lines printed so far.
func exposures(out *lockedbuf.Buffer) []string {
	var lines []string
	for line := range strings.Lines(out.String()) {
		if strings.Contains(line, `"Experiment name":"Pricing Page Test"`) {
			lines = append(lines, line)
		}
	}
	return lines
}

// The API as a client sees it: the variant and a token, no exposure
// printed (the client confirms it); the page, its modules and the
// browser module are served, under a CSP of 'self' only.
func TestAPI(t *testing.T) {
	srv, tracker, out := newTestApp(t)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		return resp, string(b)
	}

	for _, route := range []string{"/", "/pricing", "/about"} {
		resp, body := get(route)
		assert.Contains(t, body, `<script type="module" src="/static/app.js">`, route)
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'; connect-src 'self'")
	}
	_, js := get("/static/app.js")
	assert.Contains(t, js, `from "/exposure/js/index.js"`)
	resp, module := get("/exposure/js/index.js")
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, module, "export function observe")

	var first, second pricingAnswer
	resp, body := get("/api/pricing")
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.Unmarshal([]byte(body), &first))
	assert.Contains(t, []string{"monthly-first", "annual-first"}, first.Variant)
	assert.Regexp(t, `^[A-Za-z0-9_-]{40,}$`, first.Token)
	_, body = get("/api/pricing")
	require.NoError(t, json.Unmarshal([]byte(body), &second))
	assert.Equal(t, first.Variant, second.Variant, "stable for the visitor (the cookie)")

	require.NoError(t, tracker.Flush(t.Context()))
	assert.Empty(t, exposures(out), "the API hands the exposure to the client")
	assert.Equal(t, uint64(2), tracker.Stats().Counts[exposure.StageHandedOff])

	// The client confirms: one exposure, however often the token comes.
	for _, tok := range []string{first.Token, first.Token, second.Token} {
		resp, err := client.Post(srv.URL+"/exposure/beacon", "text/plain", strings.NewReader(tok))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	}
	require.NoError(t, tracker.Flush(t.Context()))
	assert.Len(t, exposures(out), 1, "%s", out.String())

	// A forged visitor cookie is replaced by a fresh id.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/pricing", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: "visitor", Value: strings.Repeat("x", 4000)})
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	var minted string
	for _, c := range resp.Cookies() {
		if c.Name == "visitor" {
			minted = c.Value
		}
	}
	assert.Regexp(t, `^[0-9a-f]{32}$`, minted)
}

// The demo in a real Chromium, as the README tells a visitor to use it.
func TestBrowser(t *testing.T) {
	browser := chromiumtest.Start(t, 1024, 768)
	srv, tracker, out := newTestApp(t)
	const wait = 20 * time.Second
	// quiet is several dwells (the default, a second) on a loaded machine.
	const quiet = 3 * time.Second
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, wait)
		defer cancel()
		require.NoError(t, chromedp.Do(ctx, steps...))
	}
	printed := func() int {
		t.Helper()
		require.NoError(t, tracker.Flush(t.Context()))
		return len(exposures(out))
	}

	do(chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("nav-pricing")))
	// The route change draws the panel, below the fold: nothing yet.
	do(chromedp.Click(chromedp.ID("nav-pricing")), chromedp.WaitReady(chromedp.ID("pricing")))
	time.Sleep(quiet)
	assert.Zero(t, printed(), "the plans below the fold were not seen")

	// Scrolled into view: one exposure printed.
	do(chromedp.ScrollIntoView(chromedp.ID("pricing")))
	require.Eventually(t, func() bool { return printed() >= 1 }, wait, 50*time.Millisecond, "the exposure printed")
	line := exposures(out)[0]
	assert.Contains(t, line, `"Variant name":`)

	// Away and back, scrolled into view again: nothing new.
	do(chromedp.Click(chromedp.ID("nav-about")), poll(`document.querySelector("main h1")?.textContent === "About"`))
	do(chromedp.Click(chromedp.ID("nav-pricing")), chromedp.WaitReady(chromedp.ID("pricing")),
		chromedp.ScrollIntoView(chromedp.ID("pricing")))
	time.Sleep(quiet)
	assert.Equal(t, 1, printed(), "one exposure: %s", out.String())
	status, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	require.NoError(t, err)
	assert.Contains(t, status, "Already confirmed")
}

// poll waits until the JavaScript expression js is truthy.
func poll(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](js)(ctx, tg)
		return err
	})
}
