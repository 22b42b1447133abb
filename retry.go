package exposure

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy is a sink's retry schedule: exponential backoff with full
// jitter from MinBackoff, doubling up to MaxBackoff, giving up on a batch
// whose first attempt is older than MaxAge. A Retry-After given by the sink
// (see [Retryable]) replaces the computed backoff when it is longer.
//
// It is set in one place, [WithRetryPolicy]; without it a sink retries
// from 2 s to 60 s for up to an hour, the schedule Mixpanel recommends for
// its ingestion API.
type RetryPolicy struct {
	MinBackoff time.Duration
	MaxBackoff time.Duration
	MaxAge     time.Duration
}

// defaultRetryPolicy is the schedule of a sink without WithRetryPolicy.
var defaultRetryPolicy = RetryPolicy{MinBackoff: 2 * time.Second, MaxBackoff: time.Minute, MaxAge: time.Hour}

func (p RetryPolicy) validate() error {
	switch {
	case p.MinBackoff <= 0:
		return fmt.Errorf("%w: retry policy MinBackoff must be positive, got %v", ErrInvalidConfig, p.MinBackoff)
	case p.MaxBackoff < p.MinBackoff:
		return fmt.Errorf("%w: retry policy MaxBackoff (%v) is below MinBackoff (%v)", ErrInvalidConfig, p.MaxBackoff, p.MinBackoff)
	case p.MaxAge <= 0:
		return fmt.Errorf("%w: retry policy MaxAge must be positive, got %v", ErrInvalidConfig, p.MaxAge)
	}
	return nil
}

// backoff is the wait before retry number attempt: full jitter over an
// exponentially growing ceiling.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.MaxBackoff
	// MinBackoff doubled attempt-1 times, unless that passes MaxBackoff
	// (checked before shifting: a large MinBackoff would overflow).
	if shift := attempt - 1; shift < 62 && p.MinBackoff <= p.MaxBackoff>>shift {
		ceiling = p.MinBackoff << shift
	}
	// Never below MinBackoff, so a retry storm cannot start from zero.
	return p.MinBackoff + rand.N(max(ceiling-p.MinBackoff, 1))
}
