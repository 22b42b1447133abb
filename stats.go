package exposure

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Tracker's counters since it was created.
type Stats struct {
	// Evaluations is every flag evaluation the hook saw.
	Evaluations uint64
	// Assignments is the experiment evaluations recorded as pending.
	Assignments uint64
	// Skipped is experiment-flag evaluations that were not assignments:
	// errored, disabled, or outside the experiment's sample.
	Skipped uint64
	// Unscoped is experiment evaluations made outside any Scope.
	Unscoped uint64
	// NoSubject is experiment evaluations whose context had no subject.
	NoSubject uint64
	// Marks is MarkRendered calls that found their assignment.
	Marks uint64
	// UnassignedMarks is MarkRendered calls for a flag not assigned in
	// the scope: a render-site bug.
	UnassignedMarks uint64
	// Committed is new exposures handed to the sinks' queues.
	Committed uint64
	// Duplicates is exposures suppressed because the subject had already
	// been exposed to that variant within the dedupe window.
	Duplicates uint64
	// Discarded is marked assignments dropped because their request
	// failed (a panic or a status >= 500) or their scope was discarded.
	Discarded uint64
	// DedupeErrors is claims the Deduper failed; the exposure was sent.
	DedupeErrors uint64
	// Beacon counts exposures confirmed in the browser.
	Beacon BeaconStats
	// Sinks has one entry per sink, in the order they were configured.
	Sinks []SinkStats
}

// SinkStats are the delivery counters of one sink.
type SinkStats struct {
	// Name is the sink's name: its Name method if it has one, else its type.
	Name string
	// Queued is how many exposures wait in the queue now.
	Queued int
	// Enqueued is exposures accepted into the queue.
	Enqueued uint64
	// Dropped is exposures refused because the queue was full or closed.
	Dropped uint64
	// Delivered is exposures the sink accepted.
	Delivered uint64
	// Failed is exposures that failed for good (a permanent error, or
	// retries older than the retry policy's MaxAge).
	Failed uint64
	// Retried is exposures sent again after a retryable failure.
	Retried uint64
	// Undelivered is exposures still pending when Close's context ended.
	Undelivered uint64
	// LastError is the latest send error and when it happened.
	LastError   string
	LastErrorAt time.Time
}

type trackerCounters struct {
	evaluations, assignments, skipped, unscoped, noSubject atomic.Uint64
	marks, unassignedMarks                                 atomic.Uint64
	committed, duplicates, discarded, dedupeErrors         atomic.Uint64
}

type sinkCounters struct {
	enqueued, dropped, delivered, failed, retried, undelivered atomic.Uint64

	mu          sync.Mutex
	lastError   string
	lastErrorAt time.Time
}

func (c *sinkCounters) recordError(err error, at time.Time) {
	c.mu.Lock()
	c.lastError, c.lastErrorAt = err.Error(), at
	c.mu.Unlock()
}

// Stats returns a snapshot of the Tracker's counters.
func (t *Tracker) Stats() Stats {
	c := &t.counters
	s := Stats{
		Evaluations:     c.evaluations.Load(),
		Assignments:     c.assignments.Load(),
		Skipped:         c.skipped.Load(),
		Unscoped:        c.unscoped.Load(),
		NoSubject:       c.noSubject.Load(),
		Marks:           c.marks.Load(),
		UnassignedMarks: c.unassignedMarks.Load(),
		Committed:       c.committed.Load(),
		Duplicates:      c.duplicates.Load(),
		Discarded:       c.discarded.Load(),
		DedupeErrors:    c.dedupeErrors.Load(),
		Beacon:          t.beacon.stats(),
		Sinks:           make([]SinkStats, len(t.queues)),
	}
	for i, q := range t.queues {
		sc := &q.counters
		sc.mu.Lock()
		lastErr, lastAt := sc.lastError, sc.lastErrorAt
		sc.mu.Unlock()
		s.Sinks[i] = SinkStats{
			Name:        q.name,
			Queued:      q.queued(),
			Enqueued:    sc.enqueued.Load(),
			Dropped:     sc.dropped.Load(),
			Delivered:   sc.delivered.Load(),
			Failed:      sc.failed.Load(),
			Retried:     sc.retried.Load(),
			Undelivered: sc.undelivered.Load(),
			LastError:   lastErr,
			LastErrorAt: lastAt,
		}
	}
	return s
}
