package audit

import (
	"errors"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/latency"
	"github.com/exposurekit/exposure/internal/options"
	"github.com/exposurekit/exposure/internal/ring"
	"github.com/exposurekit/exposure/internal/tally"
)

// An Auditor keeps per-experiment and per-variant accounts of a Tracker's
// pipeline, and makes the [Report] that its [Auditor.Handler] shows. It is
// an [exposure.Observer]: give it to the Tracker with
// [exposure.WithObserver], and to one Tracker only, since a report joins
// the Auditor's accounts with that Tracker's Stats.
//
// Observing costs the request path a few atomic operations and no
// allocation once an experiment's variant has been seen, except for the
// copy of each committed exposure kept among the recent ones (see
// [WithRecent]). An Auditor is safe for concurrent use.
type Auditor struct {
	cfg    config
	mask   idMask
	table  *tally.Table[latency.Histogram] // Ext: time from evaluation to commit
	recent *ring.Ring[recentExposure]
	failed sinkFailures
	seq    sequentialTests // the live sample-ratio tests, updated by Report
}

var _ exposure.Observer = (*Auditor)(nil)

// recentExposure is what the Auditor keeps of a committed exposure: a
// copy of its strings, never the evaluation context the Event points to.
type recentExposure struct {
	flagKey, experiment, variant string
	identity                     exposure.Identity
	time                         time.Time
	insertID                     string
}

// NewAuditor returns an Auditor configured by opts. It reports every
// invalid option at once, joined in one error wrapping
// [exposure.ErrInvalidConfig]; a nil option is an error.
func NewAuditor(opts ...Option) (*Auditor, error) {
	c := config{recent: DefaultRecent, rateThreshold: DefaultRateThreshold}
	if errs := options.Apply(&c, "audit.NewAuditor", opts); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Auditor{
		cfg:    c,
		mask:   newIDMask(c.showIDs),
		table:  tally.NewTable[latency.Histogram](nil),
		recent: ring.New[recentExposure](c.recent),
	}, nil
}

// Observe accounts one event of the pipeline. The Tracker calls it; see
// [exposure.Observer].
func (a *Auditor) Observe(ev exposure.Event) {
	v := a.table.Record(&ev)
	if ev.Stage != exposure.StageCommitted {
		a.failed.observe(&ev)
		return
	}
	e := &ev.Exposure
	if a.cfg.recent > 0 {
		// The one allocation of an Observe: the Event's data must not be
		// retained, so the page keeps a copy of what it shows.
		a.recent.Push(&recentExposure{
			flagKey: e.FlagKey, experiment: e.Experiment, variant: e.Variant,
			identity: e.Identity, time: e.Time, insertID: e.InsertID,
		})
	}
	if v != nil && !e.EvaluatedAt.IsZero() {
		v.Ext.Observe(e.Time.Sub(e.EvaluatedAt))
	}
}
