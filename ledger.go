package exposure

import (
	"log/slog"
	"sync"
	"sync/atomic"
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
func (l *ledger) record(stage Stage, a *Assignment) { l.recordErr(stage, a, nil) }

// recordErr is record with the error that caused the event. An
// assignment's related assignments are each an event of their own.
func (l *ledger) recordErr(stage Stage, a *Assignment, err error) {
	l.counts[stage].Add(1)
	if a != nil {
		for i := range a.Related {
			l.recordErr(stage, &a.Related[i], err)
		}
	}
	if len(l.observers) == 0 {
		return
	}
	ev := Event{Stage: stage, Count: 1, Err: err}
	if a != nil {
		ev.Exposure.Assignment = *a
		ev.Exposure.Related = nil // reported on their own
	}
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
	log    *slog.Logger // the Tracker's, with the sink's name
	counts [numStages]atomic.Uint64

	mu        sync.Mutex
	lastError string

	// settleMu orders the settlements of exposures (delivered, failed,
	// undelivered) with Close giving up on the queue, so that an exposure
	// is settled once: by its sender, or by Close.
	settleMu  sync.Mutex
	abandoned bool
}

// record counts n exposures of one sink at stage and reports them.
func (s *sinkLedger) record(stage Stage, n int, e *Exposure, err error) {
	if n <= 0 {
		return
	}
	s.count(stage, n)
	s.emit(stage, n, e, err)
}

// count counts n exposures at stage, for the sink and the Tracker.
func (s *sinkLedger) count(stage Stage, n int) {
	s.counts[stage].Add(uint64(n))
	s.parent.counts[stage].Add(uint64(n))
}

// emit reports n exposures at stage to the observers.
func (s *sinkLedger) emit(stage Stage, n int, e *Exposure, err error) {
	if len(s.parent.observers) == 0 {
		return
	}
	ev := Event{Stage: stage, Sink: s.name, Count: n, Err: err}
	if e != nil {
		ev.Exposure = *e
	}
	s.parent.emit(ev)
}

// settle records the final stage of n exposures: StageDelivered,
// StageFailed or StageUndelivered. After Close gave up on the queue they
// were already settled as undelivered: it only logs what happened.
func (s *sinkLedger) settle(stage Stage, n int, err error) {
	if n <= 0 {
		return
	}
	s.settleMu.Lock()
	defer s.settleMu.Unlock()
	if s.abandoned {
		if stage == StageDelivered {
			s.log.Warn("exposure: a sink delivered exposures after Close gave up on them and counted them undelivered",
				"exposures", n)
		}
		return
	}
	s.record(stage, n, nil, err)
}

// abandon settles as undelivered every exposure queued and not settled
// yet, and makes later settlements no-ops.
func (s *sinkLedger) abandon() {
	s.settleMu.Lock()
	defer s.settleMu.Unlock()
	if s.abandoned {
		return
	}
	settled := s.counts[StageDelivered].Load() + s.counts[StageFailed].Load() + s.counts[StageUndelivered].Load()
	if open := s.counts[StageQueued].Load() - settled; open > 0 {
		s.record(StageUndelivered, int(open), nil, nil)
		s.log.Warn("exposure: Close's context ended; exposures not delivered", "exposures", open)
	}
	s.abandoned = true
}

func (s *sinkLedger) recordError(err error) {
	s.mu.Lock()
	s.lastError = err.Error()
	s.mu.Unlock()
}
