package exposure

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// queue delivers the exposures of one sink: a bounded queue filled by
// commits, drained by one worker goroutine that batches, and sender
// goroutines that send and retry.
type queue struct {
	sink   Sink
	cfg    sinkConfig
	log    *slog.Logger
	ledger sinkLedger

	// pending is the queue: commits append under mu, the worker takes the
	// whole slice. A commit wakes the worker only when a batch is full, so
	// a busy request path does not pay for a goroutine wake-up per exposure.
	mu       sync.Mutex
	pending  []*Exposure
	bytes    int         // estimated size of pending
	spare    []*Exposure // the worker's previous slice, reused
	capacity int
	closed   bool
	wake     chan struct{} // capacity 1

	flushReq chan *flushWaiter
	inflight inflight

	// The worker hands batches to the senders.
	sendq   chan sendBatch
	senders sync.WaitGroup
	stop    chan struct{}
	done    chan struct{} // closed when the worker and the senders have ended
	sendCtx context.Context
	abort   context.CancelFunc

	dropLog rateLimitedLog
}

func newQueue(s Sink, cfg sinkConfig, log *slog.Logger, parent *ledger) *queue {
	name := fmt.Sprintf("%T", s)
	if n, ok := s.(NamedSink); ok {
		name = n.Name()
	}
	ctx, cancel := context.WithCancel(context.Background())
	log = log.With("sink", name)
	q := &queue{
		sink: s, cfg: cfg,
		ledger:   sinkLedger{name: name, parent: parent, log: log},
		log:      log,
		capacity: cfg.queueSize,
		wake:     make(chan struct{}, 1),
		flushReq: make(chan *flushWaiter),
		sendq:    make(chan sendBatch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		sendCtx:  ctx,
		abort:    cancel,
	}
	for range cfg.senders {
		q.senders.Go(q.sendLoop)
	}
	go q.run()
	return q
}

// enqueue never blocks: a full or closed queue drops e, of memorySize
// size, and reports false.
func (q *queue) enqueue(e *Exposure, size int) bool {
	q.mu.Lock()
	if q.closed || len(q.pending) >= q.capacity || q.bytes+size > q.cfg.queueBytes {
		closed, n, bytes := q.closed, len(q.pending), q.bytes
		q.mu.Unlock()
		q.ledger.record(StageDropped, 1, e, nil)
		if q.dropLog.allow(time.Minute) {
			q.log.Warn("exposure: queue full or closed, dropping exposures",
				"queued", n, "capacity", q.capacity, "bytes", bytes, "max_bytes", q.cfg.queueBytes, "closed", closed)
		}
		return false
	}
	q.bytes += size
	q.pending = append(q.pending, e)
	n := len(q.pending)
	// Counted under the lock, so that Close, which closes the queue under
	// it, sees every exposure that got in.
	q.ledger.count(StageQueued, 1)
	q.mu.Unlock()
	q.ledger.emit(StageQueued, 1, e, nil)
	if n == q.cfg.batchSize {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// depth is how many exposures wait for the worker.
func (q *queue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// take hands the worker everything queued.
func (q *queue) take() []*Exposure {
	q.mu.Lock()
	defer q.mu.Unlock()
	taken := q.pending
	q.pending = q.spare[:0]
	q.spare = nil
	q.bytes = 0
	return taken
}

// giveBack returns a drained slice for reuse, unless it grew large.
func (q *queue) giveBack(s []*Exposure) {
	if cap(s) > 4*q.cfg.batchSize {
		return
	}
	clear(s)
	q.mu.Lock()
	q.spare = s[:0]
	q.mu.Unlock()
}

// run is the worker: it batches what is queued and hands batches to the
// senders. It never waits for a batch to be delivered, so that a batch in
// retry holds up neither batching nor the other senders.
func (q *queue) run() {
	defer close(q.done)
	ticker := time.NewTicker(q.cfg.flushInterval)
	defer ticker.Stop()
	b := batcher{q: q, batch: make([]Exposure, 0, min(q.cfg.batchSize, 256))}
	for {
		select {
		case <-q.wake:
			b.drain(false)
		case <-ticker.C:
			b.drain(true)
		case w := <-q.flushReq:
			q.inflight.watch(w)
			b.drain(true)
			q.inflight.wait(w)
		case <-q.stop:
			b.drain(true)
			close(q.sendq)
			q.senders.Wait()
			return
		}
	}
}

// flush waits until everything queued when it was called has been
// delivered or has failed for good, or until ctx ends.
func (q *queue) flush(ctx context.Context) (failed int, err error) {
	w := &flushWaiter{done: make(chan int, 1)}
	select {
	case q.flushReq <- w:
	case <-q.done:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case n := <-w.done:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// beginClose stops accepting exposures and tells the worker to send what
// is queued and end. It reports false if the queue was already closing.
func (q *queue) beginClose() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	// From here on nothing is added to pending: the worker's last drain
	// sees everything.
	q.closed = true
	close(q.stop)
	return true
}

// giveUp aborts the retries and sends in flight and settles, as
// undelivered, every exposure of the queue not settled yet: Close's
// context has ended. A Send that ignores its context may still return
// later; what it says then is logged and no longer counted.
func (q *queue) giveUp() {
	q.abort()
	q.ledger.abandon()
}

// finish lets an HTTP sink drop its keep-alive connections (and their
// goroutines) now rather than when they time out.
func (q *queue) finish() {
	if c, ok := q.sink.(closeIdler); ok {
		c.CloseIdleConnections()
	}
}
