package exposure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure/internal/options"
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
	claims   *claimer // nil with the in-memory deduper

	isBot         func(*http.Request) bool
	discardFailed bool

	closed       atomic.Bool
	unscopedOnce sync.Once
	dedupeLog    rateLimitedLog
	misuseLog    rateLimitedLog
	boundsLog    rateLimitedLog
	closeOnce    sync.Once
	closedOnce   sync.Once
	shutdown     chan struct{} // closed when every queue has ended
	// undeliveredBefore is each queue's undelivered count when Close began.
	undeliveredBefore []uint64
}

// NewTracker returns a Tracker configured by opts. Every invalid option is
// reported, joined in one error wrapping [ErrInvalidConfig] that names the
// offending value: a nil option, two experiments sharing a flag or a name
// (names that differ only in case, spaces, dashes or underscores count as
// the same), an empty experiment name or one longer than 255 bytes, or no
// sink.
func NewTracker(opts ...Option) (*Tracker, error) {
	c := config{window: defaultDedupeWindow, identity: DefaultIdentity, now: clock.Now, isBot: IsKnownBot}
	errs := options.Apply(&c, "exposure.NewTracker", opts)
	reg, err := newRegistry(c.experiments)
	if err != nil {
		errs = append(errs, err)
	}
	if !c.sinkGiven {
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
		isBot: c.isBot, discardFailed: c.discardFailed,
		shutdown: make(chan struct{}),
	}
	t.ledger.observers = c.observers
	t.hook = &hook{t: t}
	for _, s := range c.sinks {
		t.queues = append(t.queues, newQueue(s.sink, s.cfg, c.logger, &t.ledger))
	}
	if _, inline := c.deduper.(*memoryDeduper); !inline {
		t.claims = newClaimer(t)
	}
	return t, nil
}

// claim asks the deduper which keys are new, in one call when it can. A
// failing deduper counts as "new": a repeat is better than a loss.
func (t *Tracker) claim(ctx context.Context, as []Assignment, keys []string) (first, crossover []bool) {
	n := max(len(t.queues), 1)
	variants := make([]string, len(keys))
	for k := range keys {
		variants[k] = as[k/n].Variant
	}
	if bd, ok := t.deduper.(BatchDeduper); ok && len(keys) > 1 {
		first, crossover, err := bd.ClaimBatch(ctx, keys, variants, t.window)
		if err == nil && (len(first) != len(keys) || len(crossover) != len(keys)) {
			err = fmt.Errorf("ClaimBatch answered %d and %d results for %d keys", len(first), len(crossover), len(keys))
		}
		if err == nil {
			return first, crossover
		}
		t.logDedupeError(err)
		first = make([]bool, len(keys))
		for k := range keys {
			first[k] = true
			t.ledger.recordErr(StageDedupeError, &as[k/n], err)
		}
		return first, make([]bool, len(keys))
	}
	first, crossover = make([]bool, len(keys)), make([]bool, len(keys))
	for k, key := range keys {
		f, c, err := t.deduper.Claim(ctx, key, variants[k], t.window)
		if err != nil {
			t.logDedupeError(err)
			t.ledger.recordErr(StageDedupeError, &as[k/n], err)
			f, c = true, false
		}
		first[k], crossover[k] = f, c
	}
	return first, crossover
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
	if t.claims != nil {
		if err := t.claims.flush(ctx); err != nil {
			return err
		}
	}
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
// delivered. It returns by ctx's end.
//
// Close may be called again, and concurrently: each call waits for the
// same shutdown until its own ctx ends, and once the shutdown is over every
// call returns the same result. Observers see StageClosed last.
//
// Close leaves no goroutine behind once the sinks' Sends have returned: a
// Send is given a context that Close cancels when its ctx ends. A Send that
// ignores its context keeps its goroutine until it returns; its exposures
// are counted undelivered.
func (t *Tracker) Close(ctx context.Context) error {
	t.closeOnce.Do(t.beginClose)
	select {
	case <-t.shutdown:
	case <-ctx.Done():
		if t.claims != nil {
			t.claims.giveUp()
		}
		for _, q := range t.queues {
			q.beginClose()
			q.giveUp()
		}
	}
	t.closedOnce.Do(func() { t.ledger.record(StageClosed, nil) })
	var undelivered uint64
	if t.claims != nil {
		undelivered += t.claims.undeliveredCount()
	}
	for i, q := range t.queues {
		undelivered += q.ledger.counts[StageUndelivered].Load() - t.undeliveredBefore[i]
	}
	if undelivered > 0 {
		return fmt.Errorf("%w: %d exposure(s) still pending when the context ended", ErrUndelivered, undelivered)
	}
	return nil
}

// beginClose closes the claim stage, then the queues, and watches their
// shutdown.
func (t *Tracker) beginClose() {
	t.closed.Store(true)
	t.undeliveredBefore = make([]uint64, len(t.queues))
	for i, q := range t.queues {
		t.undeliveredBefore[i] = q.ledger.counts[StageUndelivered].Load()
	}
	if t.claims != nil {
		t.claims.close()
	}
	go func() {
		if t.claims != nil {
			<-t.claims.done // what it claims goes to the queues
		}
		for _, q := range t.queues {
			q.beginClose()
		}
		for _, q := range t.queues {
			<-q.done
			q.finish()
		}
		close(t.shutdown)
	}()
}
