package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

// mixpanelFaults are what 30% of Mixpanel's requests suffer, in equal
// shares: 429 with and without Retry-After, 500 and 503, and the
// connection dropped before or after the events are stored (the sink
// cannot tell those two apart; Mixpanel's $insert_id dedupe keeps the
// second from storing twice).
var mixpanelFaults = []mixpaneltest.Fault{
	{Status: 429, RetryAfter: time.Second},
	{Status: 429},
	{Status: 500},
	{Status: 503},
	{Drop: true},
	{DropAfterStore: true},
}

const mixpanelFaultRate = 0.30

// An outage is one Redis fault of a round: it begins when the round's
// progress (visits answered, 0 to 1) reaches from, and ends once it lasted
// at least lasts and progress reached until. The schedule goes by progress,
// not time, so that a small run meets every fault too.
type outage struct {
	name        string
	from, until float64
	lasts       time.Duration
	begin, end  func(*redisServer) error
}

// redisOutages are the Redis faults of every round:
//
//   - frozen (SIGSTOP) for 1.5 s: connections stay open, nothing answers;
//     the deduper waits up to its timeout, retries, then falls back;
//   - killed (SIGKILL) for 1.5 s, then restarted: connections are refused,
//     the deduper falls back at once, cools down, probes, comes back;
//   - killed and restarted at once, as a supervisor does: the round trip
//     in flight loses its answer and the client reconnects within its own
//     retries.
//
// 1.5 s is longer than the deduper's one-second cool-down, so that it
// probes a Redis that still does not answer.
var redisOutages = []outage{
	{name: "frozen (SIGSTOP)", from: 0.15, until: 0.25, lasts: 1500 * time.Millisecond,
		begin: (*redisServer).Pause, end: (*redisServer).Resume},
	{name: "killed (SIGKILL), restarted after 1.5s", from: 0.40, until: 0.50, lasts: 1500 * time.Millisecond,
		begin: (*redisServer).Kill, end: (*redisServer).Start},
	{name: "killed (SIGKILL), restarted at once", from: 0.70, until: 0.70,
		begin: (*redisServer).Kill, end: (*redisServer).Start},
}

const scheduleResolution = 5 * time.Millisecond

// window is a span of time.
type window struct{ from, to time.Time }

// redisSchedule applies the Redis outages while a round's visits run.
type redisSchedule struct {
	redis *redisServer
	start time.Time // the run's start, for the log

	mu      sync.Mutex
	events  []string // what happened when, for the figures and for failures
	counts  map[string]int
	windows []window // when Redis was frozen or dead

	down atomic.Int64 // nanoseconds Redis was frozen or dead
}

func (s *redisSchedule) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, fmt.Sprintf("%7.3fs ", time.Since(s.start).Seconds())+fmt.Sprintf(format, args...))
}

// run applies the outages as progress() passes their marks. An outage
// ends early when finished is closed: a round never ends with Redis down.
// An outage the round ended before is skipped, and not counted.
func (s *redisSchedule) run(progress func() float64, finished <-chan struct{}) error {
	for _, o := range redisOutages {
		if !s.waitFor(func() bool { return progress() >= o.from }, finished) {
			return nil
		}
		if err := o.begin(s.redis); err != nil {
			return fmt.Errorf("Redis %s: %w", o.name, err)
		}
		began := time.Now()
		s.note("Redis %s at %.0f%% of the round", o.name, 100*progress())
		s.waitFor(func() bool { return time.Since(began) >= o.lasts && progress() >= o.until }, finished)
		err := o.end(s.redis)
		s.down.Add(int64(time.Since(began)))
		s.mu.Lock()
		s.windows = append(s.windows, window{began, time.Now()})
		s.mu.Unlock()
		s.note("Redis back after %v, at %.0f%% of the round", time.Since(began).Round(time.Millisecond), 100*progress())
		if err != nil {
			return fmt.Errorf("bringing Redis back: %w", err)
		}
		s.mu.Lock()
		if s.counts == nil {
			s.counts = map[string]int{}
		}
		s.counts[o.name]++
		s.mu.Unlock()
	}
	return nil
}

// waitFor polls cond until it holds (true) or finished is closed (false).
func (s *redisSchedule) waitFor(cond func() bool, finished <-chan struct{}) bool {
	t := time.NewTicker(scheduleResolution)
	defer t.Stop()
	for !cond() {
		select {
		case <-finished:
			return cond()
		case <-t.C:
		}
	}
	return true
}

// flusher calls Flush with deadlines of 1 to 50 ms, every 50 to 250 ms,
// as a health check or a request-scoped flush would: most end at their
// deadline, none may find an exposure that failed for good.
type flusher struct {
	calls, ok, deadline atomic.Int64
	mu                  sync.Mutex
	unexpected          []error
}

func (f *flusher) run(tr *exposure.Tracker, rng *rand.Rand, finished <-chan struct{}) {
	for {
		wait := time.NewTimer(time.Duration(50+rng.IntN(200)) * time.Millisecond)
		select {
		case <-finished:
			wait.Stop()
			return
		case <-wait.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rng.IntN(50))*time.Millisecond)
		err := tr.Flush(ctx)
		cancel()
		f.calls.Add(1)
		switch {
		case err == nil:
			f.ok.Add(1)
		case errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, exposure.ErrUndelivered):
			f.deadline.Add(1)
		default:
			f.mu.Lock()
			f.unexpected = append(f.unexpected, err)
			f.mu.Unlock()
		}
	}
}
