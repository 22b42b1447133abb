package exposure

import "sync/atomic"

// Stats is a snapshot of a Tracker's accounts since it was created: how
// many events of each [Stage] it saw, in all and per sink. They are the
// counts of the events an [Observer] receives.
type Stats struct {
	// Counts is the number of events by stage; a stage that never happened
	// is absent (and reads as 0). Counts of sink stages (StageQueued and
	// after) are summed over the sinks; an exposure queued to two sinks is
	// queued twice.
	Counts map[Stage]uint64
	// Sinks has one entry per sink, in the order they were configured.
	Sinks []SinkStats
}

// SinkStats are the accounts of one sink.
type SinkStats struct {
	// Name is the sink's name: its Name method if it has one (see
	// [NamedSink]), else its type.
	Name string
	// Counts is the number of exposures by sink stage: StageQueued,
	// StageDropped, StageDelivered, StageRetried, StageFailed and
	// StageUndelivered.
	Counts map[Stage]uint64
	// Depth is how many exposures wait in the queue now.
	Depth int
	// LastError is the latest send error ("" when none). When it happened
	// is in the events: the StageRetried and StageFailed events of the
	// sink carry each error as it is acted on.
	LastError string
}

// Stats returns a snapshot of the Tracker's accounts. Counts read together
// are not an atomic snapshot: the request path is never stopped to take it.
func (t *Tracker) Stats() Stats {
	s := Stats{Counts: countsOf(&t.ledger.counts), Sinks: make([]SinkStats, len(t.queues))}
	for i, q := range t.queues {
		l := &q.ledger
		l.mu.Lock()
		lastErr := l.lastError
		l.mu.Unlock()
		s.Sinks[i] = SinkStats{
			Name: l.name, Counts: countsOf(&l.counts), Depth: q.depth(),
			LastError: lastErr,
		}
	}
	return s
}

func countsOf(c *[numStages]atomic.Uint64) map[Stage]uint64 {
	m := make(map[Stage]uint64)
	for i := range c {
		if n := c[i].Load(); n != 0 {
			m[Stage(i)] = n
		}
	}
	return m
}
