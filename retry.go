package exposure

import (
	"math/rand/v2"
	"time"
)

// Retry defaults, per sink: the schedule Mixpanel recommends for its
// ingestion API.
const (
	defaultMinBackoff  = 2 * time.Second
	defaultMaxBackoff  = time.Minute
	defaultMaxRetryAge = time.Hour
)

// retryPolicy is a sink's retry schedule, set by [WithBackoff] and
// [WithMaxRetryAge]: exponential backoff with full jitter from minBackoff,
// doubling up to maxBackoff, giving up on a batch whose first attempt is
// older than maxAge. A Retry-After given by the sink (see [Retryable])
// replaces the computed backoff when it is longer.
type retryPolicy struct {
	minBackoff time.Duration
	maxBackoff time.Duration
	maxAge     time.Duration
}

// defaultRetryPolicy is the schedule of a sink without retry options.
var defaultRetryPolicy = retryPolicy{minBackoff: defaultMinBackoff, maxBackoff: defaultMaxBackoff, maxAge: defaultMaxRetryAge}

// backoff is the wait before retry number attempt: full jitter over an
// exponentially growing ceiling.
func (p retryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.maxBackoff
	// minBackoff doubled attempt-1 times, unless that passes maxBackoff
	// (checked before shifting: a large minBackoff would overflow).
	if shift := attempt - 1; shift < 62 && p.minBackoff <= p.maxBackoff>>shift {
		ceiling = p.minBackoff << shift
	}
	// Never below minBackoff, so a retry storm cannot start from zero.
	return p.minBackoff + rand.N(max(ceiling-p.minBackoff, 1))
}
