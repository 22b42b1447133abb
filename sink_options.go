package exposure

import (
	"fmt"
	"time"
)

// Delivery defaults, per sink.
const (
	defaultQueueSize     = 100_000
	defaultBatchSize     = 2000    // Mixpanel's limit per request
	defaultBatchBytes    = 2 << 20 // uncompressed, estimated
	defaultQueueBytes    = 64 << 20
	defaultFlushInterval = time.Second
	defaultSenders       = 2
)

// SinkOption configures the delivery of one sink; see [WithSink].
type SinkOption func(*sinkConfig) error

func defaultSinkConfig() sinkConfig {
	return sinkConfig{
		queueSize:     defaultQueueSize,
		batchSize:     defaultBatchSize,
		batchBytes:    defaultBatchBytes,
		queueBytes:    defaultQueueBytes,
		flushInterval: defaultFlushInterval,
		senders:       defaultSenders,
		retry:         defaultRetryPolicy,
	}
}

type sinkConfig struct {
	queueSize     int
	batchSize     int
	batchBytes    int
	queueBytes    int
	flushInterval time.Duration
	senders       int
	retry         retryPolicy
}

// WithQueueSize bounds how many exposures wait for delivery; when the queue
// is full, new exposures are dropped (and counted) rather than block a
// request. WithQueueBytes bounds the memory they take. Default 100,000.
func WithQueueSize(n int) SinkOption {
	return func(c *sinkConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: queue size must be positive, got %d", ErrInvalidConfig, n)
		}
		c.queueSize = n
		return nil
	}
}

// WithBatchSize bounds how many exposures one Send gets. Default 2,000,
// Mixpanel's limit.
func WithBatchSize(n int) SinkOption {
	return func(c *sinkConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: batch size must be positive, got %d", ErrInvalidConfig, n)
		}
		c.batchSize = n
		return nil
	}
}

// WithQueueBytes bounds the memory the exposures waiting in the queue may
// take, estimated from their fields and evaluation context, as well as
// their number (WithQueueSize): when either bound is reached, new exposures
// are dropped and counted. Beyond the queue, the sink's senders hold at
// most a 2 MiB batch each, and the worker one more. Default 64 MiB; at
// least 64 KiB.
func WithQueueBytes(n int) SinkOption {
	return func(c *sinkConfig) error {
		if n < 64<<10 {
			return fmt.Errorf("%w: queue bytes must be at least 64 KiB, got %d", ErrInvalidConfig, n)
		}
		c.queueBytes = n
		return nil
	}
}

// WithFlushInterval is the longest an exposure waits for its batch to fill.
// Default 1s.
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
// Default 2.
func WithSenders(n int) SinkOption {
	return func(c *sinkConfig) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("%w: senders must be 1 to 64, got %d", ErrInvalidConfig, n)
		}
		c.senders = n
		return nil
	}
}

// WithBackoff sets how long the sink waits before retrying a batch that
// failed with a retryable error (see [Retryable]): a random wait (full
// jitter) of at least min, under a ceiling that starts at min and doubles
// with each attempt up to max. A longer Retry-After given by the sink
// wins. min must be positive and max at least min. Default 2s to 60s, the
// schedule Mixpanel recommends for its ingestion API.
func WithBackoff(min, max time.Duration) SinkOption {
	return func(c *sinkConfig) error {
		switch {
		case min <= 0:
			return fmt.Errorf("%w: backoff min must be positive, got %v", ErrInvalidConfig, min)
		case max < min:
			return fmt.Errorf("%w: backoff max (%v) is below min (%v)", ErrInvalidConfig, max, min)
		}
		c.retry.minBackoff, c.retry.maxBackoff = min, max
		return nil
	}
}

// WithMaxRetryAge bounds how long the sink keeps retrying a batch, from its
// first attempt: a retry that would start later is not made, and the
// exposures left count as failed ([StageFailed]). Default 1h.
func WithMaxRetryAge(d time.Duration) SinkOption {
	return func(c *sinkConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: max retry age must be positive, got %v", ErrInvalidConfig, d)
		}
		c.retry.maxAge = d
		return nil
	}
}
