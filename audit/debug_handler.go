package exposure

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// AuditReport is what [Tracker.DebugHandler] shows, and its JSON form
// (?format=json). Counts are since the Tracker was created, in this process.
type AuditReport struct {
	// GeneratedAt is when the report was made (RFC 3339 in JSON).
	GeneratedAt time.Time `json:"generated_at"`
	// IDsMasked says whether distinct, device and user ids are replaced by
	// keyed hashes ("masked:1a2b3c4d"); see [WithDebugShowIDs].
	IDsMasked bool `json:"ids_masked"`
	// Totals are the Tracker's counters, as in [Tracker.Stats].
	Totals AuditTotals `json:"totals"`
	// Experiments has one entry per experiment: the registered ones first,
	// in registration order, then the ones providers named, as first seen.
	Experiments []ExperimentAudit `json:"experiments"`
	// UnassignedMarks counts MarkRendered calls for flags that were not
	// assigned in their scope, by flag, most first: render-site bugs.
	UnassignedMarks []FlagCount `json:"unassigned_marks"`
	// Sinks has one entry per sink, in configuration order.
	Sinks []SinkAudit `json:"sinks"`
	// Recent is the latest exposures handed to the sinks, newest first, as
	// they will be sent (see [WithDebugRecent]).
	Recent []RecentExposure `json:"recent_exposures"`
	// RecentTotal is how many exposures went through the recent buffer
	// since the start; Recent holds the last of them.
	RecentTotal uint64 `json:"recent_total"`
	// Untracked counts events of experiments or variants beyond the audit's
	// bounds (128 experiments, 16 variants each), left out of Experiments.
	Untracked uint64 `json:"untracked"`
}

// AuditTotals are a Tracker's counters; each field is documented on
// [Stats].
type AuditTotals struct {
	Evaluations     uint64 `json:"evaluations"`
	Assignments     uint64 `json:"assignments"`
	Skipped         uint64 `json:"skipped"`
	Unscoped        uint64 `json:"unscoped"`
	NoSubject       uint64 `json:"no_subject"`
	Marks           uint64 `json:"marks"`
	UnassignedMarks uint64 `json:"unassigned_marks"`
	Committed       uint64 `json:"committed"`
	Duplicates      uint64 `json:"duplicates"`
	Discarded       uint64 `json:"discarded"`
	DedupeErrors    uint64 `json:"dedupe_errors"`
}

// ExperimentAudit is the accounting of one experiment.
type ExperimentAudit struct {
	// Name is the canonical experiment name (Mixpanel "Experiment name").
	Name string `json:"name"`
	// FlagKey is the OpenFeature flag key (for experiments named by a
	// provider: the flag of their first assignment).
	FlagKey string `json:"flag_key"`
	// Registered says whether the experiment was given to WithExperiments.
	Registered bool `json:"registered"`
	// Variants has one entry per variant: those of Experiment.Weights
	// first (sorted), then the others as first seen.
	Variants []VariantAudit `json:"variants"`
	// UnassignedMarks is MarkRendered calls of the experiment's flag in a
	// scope where it was not assigned (registered experiments only).
	UnassignedMarks uint64 `json:"unassigned_marks"`
	// SRM is the sample-ratio check.
	SRM SRMCheck `json:"srm"`
}

// VariantAudit is the accounting of one variant of one experiment.
//
// Subjects are distinct distinct_ids: counted exactly up to 384 per variant,
// then estimated with a HyperLogLog of 4096 registers (standard error 1.6%);
// 16 KiB per variant.
type VariantAudit struct {
	// Name is the variant name (Mixpanel "Variant name").
	Name string `json:"name"`
	// Assignments is assignments recorded in a scope (an evaluation
	// repeated with the same result in one scope counts once).
	Assignments uint64 `json:"assignments"`
	// SubjectsAssigned is distinct subjects assigned the variant.
	SubjectsAssigned uint64 `json:"subjects_assigned"`
	// SubjectsExposed is distinct subjects whose exposure was handed to the
	// sinks.
	SubjectsExposed uint64 `json:"subjects_exposed"`
	// ExposureRate is SubjectsExposed / SubjectsAssigned; null when no
	// subject was assigned. Estimates can put it slightly above 1.
	ExposureRate *float64 `json:"exposure_rate"`
	// Exposures is exposures handed to the sinks' queues.
	Exposures uint64 `json:"exposures"`
	// Duplicates is exposures suppressed because the subject had already
	// been exposed to the variant within the dedupe window.
	Duplicates uint64 `json:"duplicates"`
	// Drops is exposures a sink's queue refused (full or closed), per sink.
	Drops uint64 `json:"drops"`
	// MedianRenderMillis is the median time from the evaluation to the
	// commit of the exposure, in milliseconds, estimated from a histogram
	// with buckets growing by sqrt(2) (below 1 ms: within 1 ms); null
	// before the first exposure.
	MedianRenderMillis *float64 `json:"median_render_ms"`
	// ExpectedShare is the variant's share of the expected split: its
	// weight over the sum of weights, or an equal share.
	ExpectedShare float64 `json:"expected_share"`
	// ObservedShare is the variant's share of the exposed subjects of the
	// experiment; 0 when there are none.
	ObservedShare float64 `json:"observed_share"`
}

// SRMCheck is the sample-ratio check of one experiment: Pearson's
// chi-square of exposed subjects against Experiment.Weights (an equal split
// when absent), and the spread of exposure rates between variants.
type SRMCheck struct {
	// ChiSquare and PValue are from [SampleRatio]; null when the test
	// cannot run (see Note).
	ChiSquare *float64 `json:"chi_square"`
	PValue    *float64 `json:"p_value"`
	// DegreesOfFreedom is the number of variants tested minus one.
	DegreesOfFreedom int `json:"degrees_of_freedom"`
	// EnoughSubjects says whether every variant has at least
	// SRMMinSubjects exposed subjects; the p-value flags only then.
	EnoughSubjects bool `json:"enough_subjects"`
	// RateSpread is the largest minus the smallest exposure rate among
	// variants with at least SRMMinSubjects assigned subjects; null with
	// fewer than two such variants.
	RateSpread *float64 `json:"rate_spread"`
	// RateThreshold is the spread above which the check flags.
	RateThreshold float64 `json:"rate_threshold"`
	// Flagged says the split looks broken; Reasons says why, in words.
	Flagged bool     `json:"flagged"`
	Reasons []string `json:"reasons"`
	// Note says why the chi-square test could not run, if it could not.
	Note string `json:"note,omitempty"`
}

// FlagCount is a count for one flag key.
type FlagCount struct {
	Flag  string `json:"flag"`
	Count uint64 `json:"count"`
}

// SinkAudit is the delivery state of one sink; the fields are those of
// [SinkStats].
type SinkAudit struct {
	Name        string `json:"name"`
	Enqueued    uint64 `json:"enqueued"`
	Delivered   uint64 `json:"delivered"`
	Failed      uint64 `json:"failed"`
	Retried     uint64 `json:"retried"`
	Dropped     uint64 `json:"dropped"`
	Undelivered uint64 `json:"undelivered"`
	// QueueDepth is how many exposures wait in the queue now.
	QueueDepth int `json:"queue_depth"`
	// LastError is the latest send error ("" when none) and LastErrorAt
	// when it happened (null when none).
	LastError   string     `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
}

// RecentExposure is one exposure as the Mixpanel sink sends it, without
// the project token.
type RecentExposure struct {
	// Event is always "$experiment_started".
	Event string `json:"event"`
	// FlagKey is the OpenFeature flag (not sent to Mixpanel).
	FlagKey    string               `json:"flag_key"`
	Properties RecentExposureFields `json:"properties"`
}

// RecentExposureFields are the properties of a $experiment_started event.
// Ids are masked unless [WithDebugShowIDs] allows them.
type RecentExposureFields struct {
	Experiment string `json:"Experiment name"`
	Variant    string `json:"Variant name"`
	DistinctID string `json:"distinct_id"`
	DeviceID   string `json:"$device_id,omitempty"`
	UserID     string `json:"$user_id,omitempty"`
	// Time is the exposure's time in milliseconds since the Unix epoch,
	// fixed when it was committed.
	Time     int64  `json:"time"`
	InsertID string `json:"$insert_id"`
}

// AuditReport returns the report [Tracker.DebugHandler] shows. It reads
// the counters without stopping the request path; counts taken together are
// not an atomic snapshot.
func (t *Tracker) AuditReport() AuditReport {
	au := t.audit
	st := t.Stats()
	r := AuditReport{
		GeneratedAt: time.Now(),
		IDsMasked:   !au.cfg.showIDs,
		Totals: AuditTotals{
			Evaluations: st.Evaluations, Assignments: st.Assignments, Skipped: st.Skipped,
			Unscoped: st.Unscoped, NoSubject: st.NoSubject, Marks: st.Marks,
			UnassignedMarks: st.UnassignedMarks, Committed: st.Committed, Duplicates: st.Duplicates,
			Discarded: st.Discarded, DedupeErrors: st.DedupeErrors,
		},
		Experiments:     []ExperimentAudit{},
		UnassignedMarks: []FlagCount{},
		Sinks:           make([]SinkAudit, 0, len(st.Sinks)),
		Recent:          []RecentExposure{},
		Untracked:       au.untracked.Load(),
	}
	unassigned := au.unassignedByFlag()
	for flag, n := range unassigned {
		r.UnassignedMarks = append(r.UnassignedMarks, FlagCount{Flag: flag, Count: n})
	}
	slices.SortFunc(r.UnassignedMarks, func(a, b FlagCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Flag, b.Flag)
	})
	for _, e := range au.experiments() {
		ea := ExperimentAudit{Name: e.name, FlagKey: e.flagKey, Registered: e.registered, Variants: []VariantAudit{}}
		if e.registered {
			ea.UnassignedMarks = unassigned[e.flagKey]
		}
		for _, v := range *e.variants.Load() {
			va := VariantAudit{
				Name:             v.name,
				Assignments:      v.assignments.Load(),
				SubjectsAssigned: v.subjectsAssigned.estimate(),
				SubjectsExposed:  v.subjectsExposed.estimate(),
				Exposures:        v.exposures.Load(),
				Duplicates:       v.duplicates.Load(),
				Drops:            v.drops.Load(),
			}
			if va.SubjectsAssigned > 0 {
				rate := float64(va.SubjectsExposed) / float64(va.SubjectsAssigned)
				va.ExposureRate = &rate
			}
			if ms, ok := v.toRender.median(); ok {
				va.MedianRenderMillis = &ms
			}
			ea.Variants = append(ea.Variants, va)
		}
		ea.SRM = checkSRM(&ea, e.weights, au.cfg.rateThreshold)
		r.Experiments = append(r.Experiments, ea)
	}
	for _, s := range st.Sinks {
		sa := SinkAudit{
			Name: s.Name, Enqueued: s.Enqueued, Delivered: s.Delivered, Failed: s.Failed,
			Retried: s.Retried, Dropped: s.Dropped, Undelivered: s.Undelivered,
			QueueDepth: s.Queued, LastError: s.LastError,
		}
		if !s.LastErrorAt.IsZero() {
			at := s.LastErrorAt
			sa.LastErrorAt = &at
		}
		r.Sinks = append(r.Sinks, sa)
	}
	recent, total := au.recent.newestFirst()
	r.RecentTotal = total
	for _, e := range recent {
		r.Recent = append(r.Recent, RecentExposure{
			Event:   "$experiment_started",
			FlagKey: e.FlagKey,
			Properties: RecentExposureFields{
				Experiment: e.Experiment, Variant: e.Variant,
				DistinctID: au.maskID(e.Identity.DistinctID),
				DeviceID:   au.maskID(e.Identity.DeviceID),
				UserID:     au.maskID(e.Identity.UserID),
				Time:       e.Time.UnixMilli(), InsertID: e.InsertID,
			},
		})
	}
	return r
}

// maskID replaces an id by a keyed hash, stable within the process, unless
// ids are shown. A "$device:" prefix is kept.
func (au *auditor) maskID(id string) string {
	if id == "" || au.cfg.showIDs {
		return id
	}
	prefix := ""
	if rest, ok := strings.CutPrefix(id, "$device:"); ok {
		prefix, id = "$device:", rest
	}
	var b [8]byte
	h := maphash.String(au.seed, id)
	for i := range b {
		b[i] = byte(h >> (8 * i))
	}
	return prefix + "masked:" + hex.EncodeToString(b[:4])
}

// checkSRM runs the sample-ratio check on the variants of ea and fills
// their expected and observed shares.
func checkSRM(ea *ExperimentAudit, weights map[string]float64, rateThreshold float64) SRMCheck {
	c := SRMCheck{RateThreshold: rateThreshold, Reasons: []string{}}
	observed := map[string]int{}
	total := 0
	for _, v := range ea.Variants {
		_, weighted := weights[v.Name]
		if len(weights) == 0 || weighted || v.SubjectsExposed > 0 {
			observed[v.Name] = int(min(v.SubjectsExposed, math.MaxInt32))
			total += observed[v.Name]
		}
	}
	sumW := 0.0
	for _, w := range weights {
		sumW += w
	}
	for i := range ea.Variants {
		v := &ea.Variants[i]
		if _, tested := observed[v.Name]; !tested {
			continue
		}
		switch {
		case sumW > 0:
			v.ExpectedShare = weights[v.Name] / sumW
		default:
			v.ExpectedShare = 1 / float64(len(observed))
		}
		if total > 0 {
			v.ObservedShare = float64(observed[v.Name]) / float64(total)
		}
	}

	chi2, p, err := SampleRatio(observed, weights)
	c.DegreesOfFreedom = max(len(observed)-1, 0)
	c.EnoughSubjects = len(observed) >= 2
	for _, n := range observed {
		if n < SRMMinSubjects {
			c.EnoughSubjects = false
		}
	}
	switch {
	case err == nil:
		c.ChiSquare, c.PValue = &chi2, &p
		if p < SRMPValueThreshold && c.EnoughSubjects {
			c.Flagged = true
			c.Reasons = append(c.Reasons, fmt.Sprintf(
				"exposed subjects split unlike the expected split: chi-square %.2f, p = %.2g < %g", chi2, p, SRMPValueThreshold))
		}
	case len(weights) > 0 && strings.Contains(err.Error(), "has no weight"):
		c.Flagged = true
		c.Note = strings.TrimPrefix(err.Error(), ErrSampleRatio.Error()+": ")
		c.Reasons = append(c.Reasons, "exposures of a variant missing from Experiment.Weights: "+c.Note)
	default:
		c.Note = strings.TrimPrefix(err.Error(), ErrSampleRatio.Error()+": ")
	}

	lo, hi := math.Inf(1), math.Inf(-1)
	var loName, hiName string
	rated := 0
	for _, v := range ea.Variants {
		if v.ExposureRate == nil || v.SubjectsAssigned < SRMMinSubjects {
			continue
		}
		rated++
		if r := *v.ExposureRate; r < lo {
			lo, loName = r, v.Name
		}
		if r := *v.ExposureRate; r > hi {
			hi, hiName = r, v.Name
		}
	}
	if rated >= 2 {
		spread := hi - lo
		c.RateSpread = &spread
		if spread > rateThreshold {
			c.Flagged = true
			c.Reasons = append(c.Reasons, fmt.Sprintf(
				"exposure rates differ by %.1f percentage points (%s %.1f%%, %s %.1f%%), more than %.1f: is the variant marked at every render site?",
				100*spread, hiName, 100*hi, loName, 100*lo, 100*rateThreshold))
		}
	}
	return c
}

//go:embed debug_handler.html
var debugFS embed.FS

var debugPage = template.Must(template.New("debug_handler.html").Funcs(template.FuncMap{
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
}).ParseFS(debugFS, "debug_handler.html"))

// debugView is what the HTML template gets: the report and the charts.
type debugView struct {
	AuditReport
	Charts      []srmChart // one per experiment, same order
	MinSubjects int
}

// srmChart is an SVG bar chart of observed vs expected shares.
type srmChart struct {
	Width, Height int
	Bars          []srmBar
}

type srmBar struct {
	Label                              string
	Y, ExpY, ObsW, ExpW, LabelY, TextX int
	Observed, Expected                 float64
	ObservedTip, ExpectTip             string
}

const (
	chartLabelW = 120
	chartBarW   = 300
	chartRowH   = 40
)

func chartOf(e *ExperimentAudit) srmChart {
	c := srmChart{Width: chartLabelW + chartBarW + 60, Height: max(len(e.Variants), 1)*chartRowH + 10}
	for i, v := range e.Variants {
		y := 5 + i*chartRowH
		c.Bars = append(c.Bars, srmBar{
			Label: v.Name, Y: y, ExpY: y + 18, LabelY: y + 14,
			ObsW:     int(math.Round(v.ObservedShare * chartBarW)),
			ExpW:     int(math.Round(v.ExpectedShare * chartBarW)),
			Observed: v.ObservedShare, Expected: v.ExpectedShare,
		})
		b := &c.Bars[len(c.Bars)-1]
		b.TextX = chartLabelW + max(b.ObsW, b.ExpW) + 6
	}
	return c
}

// DebugHandler returns an http.Handler for a page that shows, live, what
// the Tracker does: per experiment and variant, subjects assigned and
// exposed, exposure rate, duplicates, unassigned marks, drops and the median
// time from evaluation to render; the sample-ratio check with a chart of the
// observed against the expected split; per sink, delivery counters, queue
// depth and the last error; and the recent exposures with every property as
// it will be sent. The page refreshes itself every 5 seconds and loads
// nothing from elsewhere. With ?format=json it answers the [AuditReport]
// as JSON.
//
// Ids are masked unless [WithDebugShowIDs] allows them. Mount it behind
// your own authentication, such as on an internal port:
//
//	mux.Handle("/debug/exposures", tracker.DebugHandler())
func (t *Tracker) DebugHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		report := t.AuditReport()
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
		view := debugView{AuditReport: report, MinSubjects: SRMMinSubjects}
		for i := range report.Experiments {
			view.Charts = append(view.Charts, chartOf(&report.Experiments[i]))
		}
		var buf bytes.Buffer
		if err := debugPage.Execute(&buf, view); err != nil {
			t.log.Error("exposure: rendering the debug page", "err", err)
			http.Error(w, "exposure: rendering the debug page failed", http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		_, _ = w.Write(buf.Bytes())
	})
}
