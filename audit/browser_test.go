package audit_test

// The audit page in a real headless Chromium, driven by chromedp: the
// browser lays out the experiment table and draws the SVG chart.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure/internal/chromiumtest"
)

// renderedChart is what the browser reports about the page it laid out.
type renderedChart struct {
	Title        string     `json:"title"`
	Experiments  []string   `json:"experiments"`
	VariantRows  [][]string `json:"variantRows"`
	ChartWidth   float64    `json:"chartWidth"`
	ChartHeight  float64    `json:"chartHeight"`
	ObservedBars []float64  `json:"observedBars"` // rendered widths
	ExpectedBars []float64  `json:"expectedBars"`
	SRM          string     `json:"srm"`
	Flags        []string   `json:"flags"`
	Recent       int        `json:"recent"`
	Refresh      string     `json:"refresh"`
}

const inspectAuditPage = `(() => {
	const cells = r => [...r.querySelectorAll('td')].map(td => td.textContent.trim());
	const svg = document.querySelector('svg.srm-chart');
	const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
	return {
		title: document.title,
		experiments: [...document.querySelectorAll('section.experiment h3')].map(h => h.firstChild.textContent.trim()),
		variantRows: [...document.querySelectorAll('table.experiment-table tr.variant-row')].map(cells),
		chartWidth: box.width, chartHeight: box.height,
		observedBars: [...document.querySelectorAll('svg.srm-chart rect.observed')].map(r => r.getBBox().width),
		expectedBars: [...document.querySelectorAll('svg.srm-chart rect.expected')].map(r => r.getBBox().width),
		srm: (document.querySelector('p.srm') || {}).textContent || '',
		flags: [...document.querySelectorAll('div.flag')].map(d => d.textContent.trim()),
		recent: document.querySelectorAll('table#recent tr').length - 1,
		refresh: (document.querySelector('meta[http-equiv="refresh"]') || {content: ''}).content,
	};
})()`

func TestBrowserShowsThePage(t *testing.T) {
	browser := chromiumtest.Start(t, 1280, 1024)
	e := newEnv(t, checkout, nil)
	// 3 of 4 users get variant A while the weights say 50/50: a sample-ratio
	// mismatch the page must show (150/50: the sequential test flags it;
	// 60/20 would be flagged by a one-look chi-square, not by it).
	e.rules.variantFor = threeToOne
	for u := range 200 {
		e.get(t, fmt.Sprintf("/checkout?user=u%d", u))
	}
	e.settle(t)

	tab, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(e.srv.URL+"/debug/exposures"),
		chromedp.WaitVisible(chromedp.CSS("table.experiment-table")),
		chromedp.WaitVisible(chromedp.CSS("svg.srm-chart")),
	))
	got, err := chromedp.Run(tab, chromedp.Evaluate[renderedChart](inspectAuditPage))
	require.NoError(t, err)

	assert.Equal(t, "Exposures: audit", got.Title)
	assert.Equal(t, "5", got.Refresh)
	assert.Equal(t, []string{"Checkout Redesign"}, got.Experiments)
	require.Len(t, got.VariantRows, 2)
	// variant, subjects assigned, subjects exposed, exposure rate, exposures, ...
	assert.Equal(t, []string{"Variant A", "150", "150", "100.0%", "150"}, got.VariantRows[0][:5])
	assert.Equal(t, []string{"Variant B", "50", "50", "100.0%", "50"}, got.VariantRows[1][:5])
	assert.Equal(t, "50.0%", got.VariantRows[0][8], "expected split")
	assert.Equal(t, "75.0%", got.VariantRows[0][9], "observed split")
	assert.Equal(t, "150", got.VariantRows[0][10], "assignments")

	// The chart is drawn: observed bars 75% and 25% of 300 px, expected 50%.
	assert.Greater(t, got.ChartWidth, 300.0)
	assert.Greater(t, got.ChartHeight, 50.0)
	require.Len(t, got.ObservedBars, 2)
	assert.InDelta(t, 225, got.ObservedBars[0], 0.5)
	assert.InDelta(t, 75, got.ObservedBars[1], 0.5)
	assert.Equal(t, []float64{150, 150}, got.ExpectedBars)

	assert.Contains(t, got.SRM, "mismatch")
	assert.Contains(t, got.SRM, "sequential p = 6.84e-08")
	require.NotEmpty(t, got.Flags)
	assert.Contains(t, got.Flags[0], "sequential p = 6.8e-08 < 0.001")
	assert.Contains(t, got.Flags[0], "chi-square 50.00")
	assert.Equal(t, 100, got.Recent, "the latest DefaultRecent")

	if dir := os.Getenv("EXPOSURE_SCREENSHOT_DIR"); dir != "" { // for a person to look at
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "audit-page.png"), png, 0o644))
	}
}

// renderedChecks is what the browser reports about the checks of failed
// requests, bots and crossovers.
type renderedChecks struct {
	Header       []string  `json:"header"`
	FailureRates []string  `json:"failureRates"`
	Failures     string    `json:"failures"`
	Crossovers   string    `json:"crossovers"`
	Flags        []string  `json:"flags"`
	FlagWidths   []float64 `json:"flagWidths"`
}

const inspectChecks = `(() => {
	const flags = [...document.querySelectorAll('div.flag')];
	return {
		header: [...document.querySelectorAll('table.experiment-table th')].map(th => th.textContent.trim()),
		failureRates: [...document.querySelectorAll('table.experiment-table tr.variant-row td.failure-rate')].map(td => td.textContent.trim()),
		failures: (document.querySelector('p.failures') || {}).textContent || '',
		crossovers: (document.querySelector('p.crossovers') || {}).textContent || '',
		flags: flags.map(d => d.textContent.trim()),
		flagWidths: flags.map(d => d.getBoundingClientRect().width),
	};
})()`

// Variant B breaks the page for one user in five, a crawler visits, and
// 30 subjects are switched to the other variant mid-run: the page shows
// the failure rates, flags their difference and the crossovers.
func TestBrowserShowsTheChecks(t *testing.T) {
	browser := chromiumtest.Start(t, 1600, 1200)
	e := newEnv(t, checkout, nil)
	var switched atomic.Bool
	e.rules.variantFor = func(user string) string {
		var n int
		_, _ = fmt.Sscanf(user, "u%d", &n)
		if switched.Load() && n%10 == 1 {
			return "a" // was b
		}
		return byParity(user)
	}
	for u := range 300 {
		e.request(t, fmt.Sprintf("/flaky?user=u%d", u), "") // 30 of B's 150 fail after the mark
	}
	for u := range 20 {
		e.request(t, fmt.Sprintf("/checkout?user=u%d", 1000+u), googlebot)
	}
	switched.Store(true)
	for u := 1; u < 300; u += 10 {
		e.get(t, fmt.Sprintf("/checkout?user=u%d", u)) // 30 crossovers into A
	}
	e.settle(t)

	tab, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(e.srv.URL+"/debug/exposures"),
		chromedp.WaitVisible(chromedp.CSS("p.failures")),
	))
	got, err := chromedp.Run(tab, chromedp.Evaluate[renderedChecks](inspectChecks))
	require.NoError(t, err)

	assert.Subset(t, got.Header, []string{"failed renders", "failed requests", "failure rate", "bot marks", "bot share", "crossovers in"})
	// A: 150 + 10 crawler + 30 switched assignments, none failed; B: 30 of
	// 150 + 10 crawler.
	assert.Equal(t, []string{"0.0%", fmt.Sprintf("%.1f%%", 100*30.0/160)}, got.FailureRates)
	assert.Contains(t, got.Failures, "30 of 350 assignments")
	assert.Contains(t, got.Failures, "rates differ by variant")
	assert.Contains(t, got.Crossovers, "30 of 330 exposures")
	assert.Contains(t, got.Crossovers, "too many")
	assert.Contains(t, got.Crossovers, "bot marks, not exposed: 20")
	var failureFlag, crossoverFlag bool
	for i, f := range got.Flags {
		assert.Greater(t, got.FlagWidths[i], 100.0, "laid out: %q", f)
		failureFlag = failureFlag || strings.Contains(f, "failure rates differ between variants (Variant B 18.8%")
		crossoverFlag = crossoverFlag || strings.Contains(f, "30 exposures (9.1% of 330")
	}
	assert.True(t, failureFlag, "%q", got.Flags)
	assert.True(t, crossoverFlag, "%q", got.Flags)

	if dir := os.Getenv("EXPOSURE_SCREENSHOT_DIR"); dir != "" {
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "audit-checks.png"), png, 0o644))
	}
}
