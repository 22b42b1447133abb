package exposure

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/exposurekit/exposure/internal/dedupetable"
)

// The claim stage. A Deduper other than the in-memory one does I/O (Redis:
// a round trip). No request waits for it: commits hand their marked
// assignments to this bounded stage and return; one goroutine claims them
// in batches across requests (one round trip for many, when the Deduper is
// a BatchDeduper), queues the new ones and releases the claims it could not
// queue. When the stage is full (the Deduper is slower than the traffic,
// say Redis frozen under a busy site), an assignment is not dropped: it is
// claimed at once in an in-process deduper of the stage (overflow), queued,
// and counted as a dedupe error. A repeat is better than a loss: another
// instance that did not see that claim may expose the subject once more.
// Later claims of the same exposure that the Deduper would grant are
// answered by the overflow's claim, so that within this instance it stays
// one exposure.
//
// Because no request waits, the Deduper may take its time to be right: a
// slow answer delays exposures, it does not slow pages.
const (
	claimCapacity = 100_000 // assignments waiting for their claim
	claimBatch    = 512     // assignments claimed in one round trip, at most
)

type claimer struct {
	t        *Tracker
	capacity int // assignments that may wait for their claim

	mu        sync.Mutex
	pending   []Assignment
	closed    bool // no more submissions
	abandoned bool // Close gave up: settle, do not queue
	submitted uint64
	processed uint64
	waiters   []claimWaiter
	wake      chan struct{} // capacity 1

	ctx    context.Context // the claims' context; canceled when Close gives up
	cancel context.CancelFunc
	done   chan struct{}

	// overflow claims what the stage had no room for, and remembers what
	// the Deduper granted; overflowed is set once it claimed something, so
	// that the stage's claims consult it only then.
	overflow   *memoryDeduper
	overflowed atomic.Bool

	// undelivered counts, under mu, what Close gave up on before its claim:
	// each assignment once per sink, as the sinks count their exposures
	// (some may have turned out to be duplicates: nobody asked).
	undelivered uint64
}

type claimWaiter struct {
	mark uint64
	done chan struct{}
}

func newClaimer(t *Tracker) *claimer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &claimer{t: t, capacity: claimCapacity, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		overflow: newMemoryDeduper(defaultDedupeCapacity)}
	go c.run()
	return c
}

// submit hands as to the stage without waiting.
func (c *claimer) submit(as []Assignment) {
	c.mu.Lock()
	room := c.capacity - len(c.pending)
	if c.closed {
		room = 0
	}
	take := min(room, len(as))
	c.pending = append(c.pending, as[:take]...)
	c.submitted += uint64(take)
	c.mu.Unlock()
	if take < len(as) {
		// No room: claim in process rather than lose the exposures.
		c.overflowed.Store(true)
		for i := take; i < len(as); i++ {
			c.t.ledger.recordErr(StageDedupeError, &as[i], errClaimStageFull)
		}
		c.t.commitInline(c.overflow, as[take:])
	}
	if take > 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

var errClaimStageFull = fmt.Errorf("exposure: the claim stage is full (%d exposures wait for the deduper): claimed in process", claimCapacity)

func (c *claimer) run() {
	defer close(c.done)
	for {
		c.mu.Lock()
		if len(c.pending) == 0 || c.abandoned {
			if c.closed || c.abandoned {
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			<-c.wake
			continue
		}
		n := min(len(c.pending), claimBatch)
		batch := make([]Assignment, n)
		copy(batch, c.pending)
		c.pending = append(c.pending[:0], c.pending[n:]...)
		c.mu.Unlock()

		c.process(batch)

		c.mu.Lock()
		c.processed += uint64(n)
		c.answer()
		c.mu.Unlock()
	}
}

// process claims batch for every sink in one call when it can, and queues.
func (c *claimer) process(batch []Assignment) {
	t := c.t
	n := len(t.queues)
	keys := make([]string, 0, len(batch)*n)
	for i := range batch {
		key := dedupeKey(&batch[i])
		for j := range n {
			keys = append(keys, sinkKey(key, j))
		}
	}
	first, crossover := t.claim(c.ctx, batch, keys)
	// The overflow and the Deduper must agree. The overflow claims every
	// claim the Deduper granted, so that an overflowing refresh is a
	// duplicate, not a second exposure. Once it overflowed, a claim the
	// Deduper grants but the overflow refuses (a variant the overflow sent,
	// though the Deduper never saw it, or a move back to one) is not sent.
	// mirror keeps the overflow's claims, to take them back with the
	// Deduper's when no queue takes the exposure.
	overflowed := c.overflowed.Load()
	mirror := make([]dedupetable.Undo, len(keys))
	for i := range batch {
		h, tag := c.overflow.assignmentHash(&batch[i]), c.overflow.variantTag(batch[i].Variant)
		for j := range n {
			k := i*n + j
			if !first[k] {
				continue
			}
			mine, _, _, undo := c.overflow.claimHash(h^sinkSalt(j), tag, t.window)
			mirror[k] = undo
			if overflowed && !mine {
				first[k] = false
			}
		}
	}
	c.mu.Lock()
	abandoned := c.abandoned
	perSink := uint64(len(batch) * n)
	if abandoned {
		c.undelivered += perSink
	}
	c.mu.Unlock()
	if abandoned {
		// Close gave up while these were being claimed: they are reported
		// undelivered; their claims are released so that a later render
		// (after a restart) sends them.
		t.ledger.counts[StageUndelivered].Add(perSink)
		for k, f := range first {
			if f {
				_ = t.deduper.Release(context.WithoutCancel(c.ctx), keys[k])
			}
		}
		return
	}
	t.commitClaimed(c.ctx, batch, keys, first, crossover, mirror)
}

// answer wakes, under mu, the flushes whose assignments are all processed.
func (c *claimer) answer() {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if c.processed >= w.mark || c.abandoned {
			close(w.done)
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// flush waits until every assignment submitted before it was claimed and
// queued, or ctx ends.
func (c *claimer) flush(ctx context.Context) error {
	c.mu.Lock()
	if c.processed >= c.submitted {
		c.mu.Unlock()
		return nil
	}
	w := claimWaiter{mark: c.submitted, done: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close takes no more submissions; run ends once the pending ones are
// claimed and queued.
func (c *claimer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// giveUp settles as undelivered what waits for its claim, and cancels the
// claims in flight: Close's context has ended.
func (c *claimer) giveUp() {
	c.mu.Lock()
	if c.abandoned {
		c.mu.Unlock()
		return
	}
	c.abandoned, c.closed = true, true
	left := uint64(len(c.pending) * len(c.t.queues))
	c.undelivered += left
	c.pending = nil
	c.answer()
	c.mu.Unlock()
	c.t.ledger.counts[StageUndelivered].Add(left)
	c.cancel()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// undeliveredCount is how many assignments the stage settled undelivered.
func (c *claimer) undeliveredCount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.undelivered
}
