package exposure

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// queue delivers the exposures of one sink: a bounded channel filled by
// commits, drained by one goroutine that batches, sends and retries.
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
	spare    []*Exposure // the worker's previous slice, reused
	capacity int
	closed   bool
	wake     chan struct{} // capacity 1

	flushReq chan chan int // answered with the count that failed

	// The worker hands full batches to the senders; inflight counts the
	// batches handed over and not yet delivered, for Flush.
	sendq       chan []Exposure
	inflight    sync.WaitGroup
	senders     sync.WaitGroup
	flushFailed atomic.Int64 // permanent failures since the last flush began
	stop        chan struct{}
	done        chan struct{}
	sendCtx     context.Context
	abort       context.CancelFunc

	dropLog rateLimitedLog
}

func newQueue(s Sink, cfg sinkConfig, log *slog.Logger, parent *ledger) *queue {
	name := fmt.Sprintf("%T", s)
	if n, ok := s.(NamedSink); ok {
		name = n.Name()
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &queue{
		sink: s, cfg: cfg,
		ledger:   sinkLedger{name: name, parent: parent},
		log:      log.With("sink", name),
		capacity: cfg.queueSize,
		wake:     make(chan struct{}, 1),
		flushReq: make(chan chan int),
		sendq:    make(chan []Exposure),
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

// enqueue never blocks: a full or closed queue drops e and reports false.
func (q *queue) enqueue(e *Exposure) bool {
	q.mu.Lock()
	if q.closed || len(q.pending) >= q.capacity {
		closed := q.closed
		q.mu.Unlock()
		q.ledger.record(StageDropped, 1, e, nil)
		if q.dropLog.allow(time.Minute) {
			q.log.Warn("exposure: queue full or closed, dropping exposures", "capacity", q.capacity, "closed", closed)
		}
		return false
	}
	q.pending = append(q.pending, e)
	n := len(q.pending)
	q.mu.Unlock()
	q.ledger.record(StageQueued, 1, e, nil)
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
		case ack := <-q.flushReq:
			q.flushFailed.Store(0)
			b.drain(true)
			q.inflight.Wait()
			ack <- int(q.flushFailed.Load())
		case <-q.stop:
			b.drain(true)
			close(q.sendq)
			q.senders.Wait()
			return
		}
	}
}

// flush waits until everything queued when it was called is sent.
func (q *queue) flush(ctx context.Context) (failed int, err error) {
	ack := make(chan int, 1)
	select {
	case q.flushReq <- ack:
	case <-q.done:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case n := <-ack:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// close stops accepting exposures, delivers what is queued and waits until
// ctx ends; then it aborts the retries and counts what was left.
func (q *queue) close(ctx context.Context) (undelivered uint64) {
	q.mu.Lock()
	already := q.closed
	q.closed = true
	q.mu.Unlock()
	// From here on nothing is added to pending: the worker's last drain
	// sees everything.
	if already {
		<-q.done
		return 0
	}
	before := q.ledger.counts[StageUndelivered].Load()
	close(q.stop)
	select {
	case <-q.done:
	case <-ctx.Done():
		q.abort()
		<-q.done
	}
	q.abort()
	// Let an HTTP sink drop its keep-alive connections (and their
	// goroutines) now rather than when they time out.
	if c, ok := q.sink.(IdleConnectionsCloser); ok {
		c.CloseIdleConnections()
	}
	return q.ledger.counts[StageUndelivered].Load() - before
}
