package exposure

import (
	"sync"
	"sync/atomic"
	"time"
)

// ledger is the one place every stage is reported to. It counts the stage
// (what Stats reads) and passes the event to the observers (what audit and
// metrics read), so the views cannot disagree. Each stage is reported by
// the part of the pipeline that sees it happen, and only there.
type ledger struct {
	counts    [numStages]atomic.Uint64
	observers []Observer
}

// observed reports whether building an Event is worth it.
func (l *ledger) observed() bool { return len(l.observers) != 0 }

// record counts one event of stage about a, and reports it. a may be nil.
// The assignment is copied into the event only when someone observes:
// the request path pays an atomic add otherwise.
func (l *ledger) record(stage Stage, a *Assignment) {
	l.counts[stage].Add(1)
	if len(l.observers) == 0 {
		return
	}
	ev := Event{Stage: stage, Count: 1}
	if a != nil {
		ev.Exposure.Assignment = *a
	}
	l.emit(ev)
}

// recordErr counts one event of stage about a, with the error that
// caused it.
func (l *ledger) recordErr(stage Stage, a *Assignment, err error) {
	l.counts[stage].Add(1)
	if len(l.observers) == 0 {
		return
	}
	ev := Event{Stage: stage, Count: 1, Err: err}
	ev.Exposure.Assignment = *a
	l.emit(ev)
}

// recordFlag counts one event of stage about a flag without assignment.
func (l *ledger) recordFlag(stage Stage, flagKey string, err error) {
	l.counts[stage].Add(1)
	if len(l.observers) == 0 {
		return
	}
	ev := Event{Stage: stage, Count: 1, Err: err}
	ev.Exposure.FlagKey = flagKey
	l.emit(ev)
}

// recordExposure counts one event of stage about an exposure.
func (l *ledger) recordExposure(stage Stage, e *Exposure) {
	l.counts[stage].Add(1)
	if len(l.observers) == 0 {
		return
	}
	l.emit(Event{Stage: stage, Count: 1, Exposure: *e})
}

func (l *ledger) emit(ev Event) {
	for _, o := range l.observers {
		o.Observe(ev)
	}
}

// sinkLedger is a sink's share of the ledger: the same stages counted for
// the sink alone, reported to the Tracker's ledger too.
type sinkLedger struct {
	name   string
	parent *ledger
	counts [numStages]atomic.Uint64

	mu          sync.Mutex
	lastError   string
	lastErrorAt time.Time
}

// record counts n exposures of one sink at stage.
func (s *sinkLedger) record(stage Stage, n int, e *Exposure, err error) {
	if n <= 0 {
		return
	}
	s.counts[stage].Add(uint64(n))
	s.parent.counts[stage].Add(uint64(n))
	if len(s.parent.observers) == 0 {
		return
	}
	ev := Event{Stage: stage, Sink: s.name, Count: n, Err: err}
	if e != nil {
		ev.Exposure = *e
	}
	s.parent.emit(ev)
}

func (s *sinkLedger) recordError(err error, at time.Time) {
	s.mu.Lock()
	s.lastError, s.lastErrorAt = err.Error(), at
	s.mu.Unlock()
}
