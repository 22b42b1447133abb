package audit_test

// The audit page in a real headless Chromium, driven by chromedp: the
// browser lays out the experiment table and draws the SVG chart.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	// mismatch the page must show.
	e.rules.variantFor = threeToOne
	for u := range 80 {
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
	assert.Equal(t, []string{"Variant A", "60", "60", "100.0%", "60"}, got.VariantRows[0][:5])
	assert.Equal(t, []string{"Variant B", "20", "20", "100.0%", "20"}, got.VariantRows[1][:5])
	assert.Equal(t, "50.0%", got.VariantRows[0][8], "expected split")
	assert.Equal(t, "75.0%", got.VariantRows[0][9], "observed split")
	assert.Equal(t, "60", got.VariantRows[0][10], "assignments")

	// The chart is drawn: observed bars 75% and 25% of 300 px, expected 50%.
	assert.Greater(t, got.ChartWidth, 300.0)
	assert.Greater(t, got.ChartHeight, 50.0)
	require.Len(t, got.ObservedBars, 2)
	assert.InDelta(t, 225, got.ObservedBars[0], 0.5)
	assert.InDelta(t, 75, got.ObservedBars[1], 0.5)
	assert.Equal(t, []float64{150, 150}, got.ExpectedBars)

	assert.Contains(t, got.SRM, "mismatch")
	require.NotEmpty(t, got.Flags)
	assert.Contains(t, got.Flags[0], "chi-square 20.00")
	assert.Equal(t, 80, got.Recent)

	if dir := os.Getenv("EXPOSURE_SCREENSHOT_DIR"); dir != "" { // for a person to look at
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "audit-page.png"), png, 0o644))
	}
}
