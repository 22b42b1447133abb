package audit

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"

	"github.com/exposurekit/exposure"
)

// Handler returns an http.Handler for a page that shows, live, what
// tracker does: per experiment and variant, subjects assigned and exposed,
// exposure rate, duplicates, unassigned marks, drops, the median time
// from evaluation to render, failed requests, bot marks and crossovers;
// the sample-ratio check (its sequential p-value is the live alarm) with a
// chart of the observed against the expected split, and the checks of
// failure rates ([FailureCheck]) and crossovers ([CrossoverCheck]); per sink, delivery counts, queue
// depth and the last error; and the recent exposures with every property
// as it will be sent. The page refreshes itself every 5 seconds and loads
// nothing from elsewhere. With ?format=json it answers the [Report] as
// JSON. It answers GET and HEAD only.
//
// tracker is the Tracker the Auditor observes (see [Auditor.Report]). Ids
// and insert ids are masked unless [WithShowIDs] allows them. Mount the handler behind
// your own authentication, such as on an internal port, and outside the
// Tracker's middleware:
//
//	mux.Handle("/debug/exposures", aud.Handler(tracker))
func (a *Auditor) Handler(tracker *exposure.Tracker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		report := a.Report(tracker)
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Query().Get("format") == "json" {
			h.Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(report)
			return
		}
		view := pageView{
			Report: report, MinSubjects: SRMMinSubjects, PValueThreshold: SRMPValueThreshold,
			FailurePValueThreshold: FailurePValueThreshold, FailureMinAssignments: FailureMinAssignments,
			FailureMinFailures: FailureMinFailures, CrossoverMaxShare: CrossoverMaxShare,
			CrossoverMinSubjects: CrossoverMinSubjects,
		}
		for i := range report.Experiments {
			view.Charts = append(view.Charts, chartOf(&report.Experiments[i]))
		}
		var buf bytes.Buffer
		if err := page.Execute(&buf, view); err != nil {
			http.Error(w, "audit: rendering the page failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		_, _ = w.Write(buf.Bytes())
	})
}

//go:embed page.html
var pageFS embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	// count reads a count by stage name, such as "committed".
	"count": func(c StageCounts, name string) uint64 {
		for s, n := range c {
			if s.String() == name {
				return n
			}
		}
		return 0
	},
	"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"pctp": func(f *float64) string {
		if f == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100**f)
	},
	"ms": func(f *float64) string {
		switch {
		case f == nil:
			return "–"
		case *f < 1: // the clock is read to the millisecond
			return "< 1 ms"
		case *f < 10:
			return fmt.Sprintf("%.1f ms", *f)
		default:
			return fmt.Sprintf("%.0f ms", *f)
		}
	},
	"num": func(f *float64, format string) string {
		if f == nil {
			return "–"
		}
		return fmt.Sprintf(format, *f)
	},
	"millis": func(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05.000") },
	"when": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
}).ParseFS(pageFS, "page.html"))

// pageView is what the HTML template gets: the report and the charts.
type pageView struct {
	Report
	Charts      []srmChart // one per experiment, same order
	MinSubjects int
	// The thresholds of the checks, as the page states them.
	PValueThreshold, FailurePValueThreshold, CrossoverMaxShare      float64
	FailureMinAssignments, FailureMinFailures, CrossoverMinSubjects int
}

// srmChart is an SVG bar chart of observed against expected shares.
type srmChart struct {
	Width, Height int
	Bars          []srmBar
}

type srmBar struct {
	Label                              string
	Y, ExpY, ObsW, ExpW, LabelY, TextX int
	Observed, Expected                 float64
}

const (
	chartLabelW = 120
	chartBarW   = 300
	chartRowH   = 40
)

func chartOf(e *Experiment) srmChart {
	c := srmChart{Width: chartLabelW + chartBarW + 60, Height: max(len(e.Variants), 1)*chartRowH + 10}
	for i, v := range e.Variants {
		y := 5 + i*chartRowH
		b := srmBar{
			Label: v.Name, Y: y, ExpY: y + 18, LabelY: y + 14,
			ObsW:     int(math.Round(v.ObservedShare * chartBarW)),
			ExpW:     int(math.Round(v.ExpectedShare * chartBarW)),
			Observed: v.ObservedShare, Expected: v.ExpectedShare,
		}
		b.TextX = chartLabelW + max(b.ObsW, b.ExpW) + 6
		c.Bars = append(c.Bars, b)
	}
	return c
}
