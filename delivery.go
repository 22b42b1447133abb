package exposure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Delivery defaults, per sink.
const (
	DefaultQueueSize     = 100_000
	DefaultBatchSize     = 2000
	DefaultBatchBytes    = 2 << 20 // uncompressed, estimated
	DefaultFlushInterval = time.Second
	DefaultSenders       = 2
)

// SinkOption configures the delivery of one sink; see [WithSink].
type SinkOption func(*sinkConfig) error

type sinkConfig struct {
	queueSize     int
	batchSize     int
	batchBytes    int
	flushInterval time.Duration
	senders       int
	retry         *RetryPolicy
}

// WithQueueSize bounds how many exposures wait for delivery; when the queue
// is full, new exposures are dropped (and counted) rather than block a
// request. The delivery goroutine holds at most as many again while it
// sends. Default [DefaultQueueSize].
func WithQueueSize(n int) SinkOption {
	return func(c *sinkConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: queue size must be positive, got %d", ErrInvalidConfig, n)
		}
		c.queueSize = n
		return nil
	}
}

// WithBatchSize bounds how many exposures one Send gets. Default
// [DefaultBatchSize], Mixpanel's limit.
func WithBatchSize(n int) SinkOption {
	return func(c *sinkConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: batch size must be positive, got %d", ErrInvalidConfig, n)
		}
		c.batchSize = n
		return nil
	}
}

// WithBatchBytes bounds the estimated uncompressed size of one batch.
// Default [DefaultBatchBytes].
func WithBatchBytes(n int) SinkOption {
	return func(c *sinkConfig) error {
		if n < 1024 {
			return fmt.Errorf("%w: batch bytes must be at least 1024, got %d", ErrInvalidConfig, n)
		}
		c.batchBytes = n
		return nil
	}
}

// WithFlushInterval is the longest an exposure waits for its batch to fill.
// Default [DefaultFlushInterval].
func WithFlushInterval(d time.Duration) SinkOption {
	return func(c *sinkConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: flush interval must be positive, got %v", ErrInvalidConfig, d)
		}
		c.flushInterval = d
		return nil
	}
}

// WithSenders sets how many batches of the sink may be in flight at once,
// 1 to 64. With more than one, a batch is encoded and sent while another
// waits for its answer, and a batch in retry does not hold up the others.
// Default [DefaultSenders].
func WithSenders(n int) SinkOption {
	return func(c *sinkConfig) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("%w: senders must be 1 to 64, got %d", ErrInvalidConfig, n)
		}
		c.senders = n
		return nil
	}
}

// WithRetryPolicy sets the sink's retry schedule, overriding the sink's own
// (see [RetryPolicySink]) and [DefaultRetryPolicy].
func WithRetryPolicy(p RetryPolicy) SinkOption {
	return func(c *sinkConfig) error {
		if err := p.validate(); err != nil {
			return err
		}
		c.retry = &p
		return nil
	}
}

// queue delivers the exposures of one sink: a bounded channel filled by
// commits, drained by one goroutine that batches, sends and retries.
type queue struct {
	name   string
	sink   Sink
	cfg    sinkConfig
	policy RetryPolicy
	log    *slog.Logger

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

	counters sinkCounters
	dropLog  rateLimitedLog
}

func newQueue(s Sink, cfg sinkConfig, log *slog.Logger) *queue {
	policy := DefaultRetryPolicy
	if rp, ok := s.(RetryPolicySink); ok {
		if p := rp.RetryPolicy(); p.validate() == nil {
			policy = p
		}
	}
	if cfg.retry != nil {
		policy = *cfg.retry
	}
	name := fmt.Sprintf("%T", s)
	if n, ok := s.(interface{ Name() string }); ok {
		name = n.Name()
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &queue{
		name: name, sink: s, cfg: cfg, policy: policy,
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
		q.counters.dropped.Add(1)
		if q.dropLog.allow(time.Minute) {
			q.log.Warn("exposure: queue full or closed, dropping exposures", "capacity", q.capacity, "closed", closed)
		}
		return false
	}
	q.pending = append(q.pending, e)
	n := len(q.pending)
	q.mu.Unlock()
	q.counters.enqueued.Add(1)
	if n == q.cfg.batchSize {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// queued is how many exposures wait for the worker.
func (q *queue) queued() int {
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

// batcher accumulates exposures into batches bounded by count and bytes.
type batcher struct {
	q     *queue
	batch []Exposure
	bytes int
}

func (b *batcher) add(e *Exposure) {
	size := e.approxSize()
	if len(b.batch) > 0 && b.bytes+size > b.q.cfg.batchBytes {
		b.send()
	}
	b.batch = append(b.batch, *e)
	b.bytes += size
	if len(b.batch) >= b.q.cfg.batchSize {
		b.send()
	}
}

// drain moves everything queued now into batches, sending each full one,
// until the queue is empty (exposures queued meanwhile included). With
// partial, it sends the last, partial batch too; without (a wake-up because
// a batch filled), the remainder waits for more exposures or the interval.
func (b *batcher) drain(partial bool) {
	for {
		taken := b.q.take()
		for _, e := range taken {
			b.add(e)
		}
		b.q.giveBack(taken)
		if len(taken) == 0 {
			break
		}
	}
	if partial {
		b.send()
	}
}

// send hands the batch to a sender, blocking while all are busy: the
// queue, not the batcher, is where exposures wait.
func (b *batcher) send() {
	if len(b.batch) == 0 {
		return
	}
	b.q.inflight.Add(1)
	b.q.sendq <- b.batch
	b.batch, b.bytes = make([]Exposure, 0, cap(b.batch)), 0
}

func (q *queue) sendLoop() {
	for batch := range q.sendq {
		q.flushFailed.Add(int64(q.deliver(batch)))
		q.inflight.Done()
	}
}

// deliver sends batch, retrying what is retryable until the policy's MaxAge
// or until the queue is aborted. It returns how many failed for good.
func (q *queue) deliver(batch []Exposure) (failed int) {
	c := &q.counters
	if q.sendCtx.Err() != nil {
		c.undelivered.Add(uint64(len(batch)))
		return 0
	}
	first := time.Now()
	pending := batch
	for attempt := 1; ; attempt++ {
		err := q.safeSend(pending)
		if err == nil {
			c.delivered.Add(uint64(len(pending)))
			return failed
		}
		c.recordError(err, time.Now())

		var retry []Exposure
		var retryAfter time.Duration
		var be *BatchError
		switch ok, after := IsRetryable(err); {
		case errors.As(err, &be):
			bad, rejected := 0, 0
			var firstRejected *Failure
			for i, f := range be.Failures {
				if f.Index < 0 || f.Index >= len(pending) {
					continue
				}
				bad++
				if ok, after := IsRetryable(f.Err); ok {
					retry = append(retry, pending[f.Index])
					retryAfter = max(retryAfter, after)
					continue
				}
				rejected++
				if firstRejected == nil {
					firstRejected = &be.Failures[i]
				}
			}
			if rejected > 0 {
				failed += rejected
				c.failed.Add(uint64(rejected))
				e := &pending[firstRejected.Index]
				// One line per batch: a 400 can refuse 2000 records at once.
				q.log.Error("exposure: exposures rejected by sink", "rejected", rejected,
					"first_experiment", e.Experiment, "first_variant", e.Variant, "first_insert_id", e.InsertID, "first_err", firstRejected.Err)
			}
			c.delivered.Add(uint64(len(pending) - bad))
		case ok:
			retry, retryAfter = pending, after
		default:
			failed += len(pending)
			c.failed.Add(uint64(len(pending)))
			q.log.Error("exposure: batch failed for good", "exposures", len(pending), "err", err)
			return failed
		}
		if len(retry) == 0 {
			return failed
		}
		if time.Since(first) > q.policy.MaxAge {
			failed += len(retry)
			c.failed.Add(uint64(len(retry)))
			q.log.Error("exposure: giving up on exposures after retrying", "exposures", len(retry), "max_age", q.policy.MaxAge, "err", err)
			return failed
		}
		wait := max(q.policy.backoff(attempt), retryAfter)
		q.log.Warn("exposure: send failed, retrying", "exposures", len(retry), "attempt", attempt, "in", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-q.sendCtx.Done():
			timer.Stop()
			c.undelivered.Add(uint64(len(retry)))
			return failed
		}
		c.retried.Add(uint64(len(retry)))
		pending = retry
	}
}

// safeSend calls the sink, turning a panic into a permanent error.
func (q *queue) safeSend(batch []Exposure) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("exposure: sink %s panicked: %v", q.name, r)
		}
	}()
	return q.sink.Send(q.sendCtx, batch)
}

// backoff is the wait before retry number attempt: full jitter over an
// exponentially growing ceiling.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.MaxBackoff
	if attempt < 32 {
		ceiling = min(p.MinBackoff<<(attempt-1), p.MaxBackoff)
	}
	// Never below MinBackoff, so a retry storm cannot start from zero.
	return p.MinBackoff + rand.N(max(ceiling-p.MinBackoff, 1))
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
	before := q.counters.undelivered.Load()
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
	if c, ok := q.sink.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return q.counters.undelivered.Load() - before
}

// approxSize estimates the exposure's size once encoded, for batch bytes.
func (e *Exposure) approxSize() int {
	// A Mixpanel event's fixed part (names, time, token, library) is about 300 bytes.
	return 300 + len(e.Experiment) + len(e.Variant) + len(e.Identity.DistinctID) +
		len(e.Identity.DeviceID) + len(e.Identity.UserID) + len(e.InsertID)
}

// rateLimitedLog lets one message through per interval.
type rateLimitedLog struct{ last atomic.Int64 }

func (r *rateLimitedLog) allow(every time.Duration) bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(every) && r.last.CompareAndSwap(last, now)
}
