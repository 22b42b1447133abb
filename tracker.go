package exposure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// Tracker turns rendered experiment assignments into delivered exposures.
// It is safe for concurrent use. Create it with [NewTracker] and stop it
// with [Tracker.Close], which delivers what is queued.
type Tracker struct {
	reg      *registry
	deduper  Deduper
	window   time.Duration
	log      *slog.Logger
	identity func(openfeature.EvaluationContext) (Identity, error)
	now      func() time.Time
	queues   []*queue
	hook     *hook
	ledger   ledger

	closed       atomic.Bool
	unscopedOnce sync.Once
	dedupeLog    rateLimitedLog
	misuseLog    rateLimitedLog
	closeOnce    sync.Once
	closeErr     error
}

// NewTracker returns a Tracker configured by opts. Every invalid option is
// reported, joined in one error wrapping [ErrInvalidConfig] that names the
// offending value: a nil option, two experiments sharing a flag or a name
// (names that differ only in case, spaces, dashes or underscores count as
// the same), an empty experiment name or one longer than 255 bytes, or no
// sink.
func NewTracker(opts ...Option) (*Tracker, error) {
	c := config{window: defaultDedupeWindow, identity: DefaultIdentity, now: clock.Now}
	var errs []error
	for i, o := range opts {
		if o == nil {
			errs = append(errs, fmt.Errorf("%w: option %d is nil", ErrInvalidConfig, i))
			continue
		}
		if err := o(&c); err != nil {
			errs = append(errs, err)
		}
	}
	reg, err := newRegistry(c.experiments)
	if err != nil {
		errs = append(errs, err)
	}
	if len(c.sinks) == 0 {
		errs = append(errs, fmt.Errorf("%w: no sink: add at least one WithSink", ErrInvalidConfig))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.deduper == nil {
		c.deduper = newMemoryDeduper(defaultDedupeCapacity)
	}
	t := &Tracker{
		reg: reg, deduper: c.deduper, window: c.window, log: c.logger,
		identity: c.identity, now: c.now,
	}
	t.ledger.observers = c.observers
	t.hook = &hook{t: t}
	for _, s := range c.sinks {
		t.queues = append(t.queues, newQueue(s.sink, s.cfg, c.logger, &t.ledger))
	}
	return t, nil
}

// Experiments returns the experiments given to [WithExperiments], in
// registration order.
func (t *Tracker) Experiments() []Experiment {
	return slices.Clone(t.reg.list)
}

// Flush delivers everything queued when it is called and waits until it is
// delivered, has failed for good, or ctx ends. It reports exposures that
// failed for good during the flush with an error wrapping [ErrUndelivered].
func (t *Tracker) Flush(ctx context.Context) error {
	type result struct {
		failed int
		err    error
	}
	results := make([]result, len(t.queues))
	var wg sync.WaitGroup
	for i, q := range t.queues {
		wg.Go(func() {
			n, err := q.flush(ctx)
			results[i] = result{n, err}
		})
	}
	wg.Wait()
	var errs []error
	failed := 0
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
		failed += r.failed
	}
	if failed > 0 {
		errs = append(errs, fmt.Errorf("%w: %d exposure(s) failed for good", ErrUndelivered, failed))
	}
	return errors.Join(errs...)
}

// Close stops accepting exposures, delivers everything queued, and waits
// for retries in flight until ctx ends. Then it aborts them and returns an
// error wrapping [ErrUndelivered] that says how many exposures were not
// delivered. Close never leaves a goroutine behind; a second call returns
// the first one's result. Observers see StageClosed last.
func (t *Tracker) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		counts := make([]uint64, len(t.queues))
		var wg sync.WaitGroup
		for i, q := range t.queues {
			wg.Go(func() { counts[i] = q.close(ctx) })
		}
		wg.Wait()
		var total uint64
		for _, n := range counts {
			total += n
		}
		if total > 0 {
			t.closeErr = fmt.Errorf("%w: %d exposure(s) still pending when the context ended", ErrUndelivered, total)
		}
		t.ledger.record(StageClosed, nil)
	})
	return t.closeErr
}
