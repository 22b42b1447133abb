package exposure

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// A Sink delivers batches of exposures to a destination such as Mixpanel.
//
// Send is called from one delivery goroutine per sink, never from the
// request path, with batches of at most the sink's batch size. It should
// honour ctx and classify its failures so that delivery knows what to do:
//
//   - nil: every exposure in the batch was delivered;
//   - an error wrapped by [Retryable]: nothing was delivered and the whole
//     batch is worth sending again, optionally not before a given delay;
//   - a [*BatchError]: some exposures failed (each classified on its own),
//     all the others were delivered;
//   - any other error: the whole batch failed for good and is not retried.
//
// A retried batch holds the very same exposures (same Time, same InsertID),
// so a destination that deduplicates on them stores each exposure once.
//
// A sink that keeps idle network connections, such as HTTP keep-alives,
// may have a CloseIdleConnections() method, as [net/http.Client] has: the
// Tracker's Close calls it once the sink's delivery has stopped, so that
// the connections' goroutines end now rather than when they time out.
type Sink interface {
	Send(ctx context.Context, batch []Exposure) error
}

// NamedSink is implemented by sinks that name themselves in [Stats] and
// [Event]s. Other sinks are named by their type.
type NamedSink interface {
	Sink
	Name() string
}

// closeIdler is the optional method of a sink that keeps idle network
// connections (see [Sink]), like net/http's transport's own closeIdler:
// unexported, since a sink only needs to have the method.
type closeIdler interface {
	CloseIdleConnections()
}

// retryableError marks a failure worth retrying.
type retryableError struct {
	err   error
	after time.Duration
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// Retryable wraps err to say that the failed send may succeed later, such
// as after a timeout, a 429 or a 5xx. retryAfter, when positive, is the
// earliest the destination wants to hear from us again (its Retry-After).
func Retryable(err error, retryAfter time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryableError{err: err, after: retryAfter}
}

// IsRetryable reports whether err was wrapped by [Retryable], and the
// retry-after it was given.
func IsRetryable(err error) (retryable bool, retryAfter time.Duration) {
	var r *retryableError
	if errors.As(err, &r) {
		return true, r.after
	}
	return false, 0
}

// BatchError reports a send in which only some exposures failed; every
// exposure of the batch not in Failed was delivered.
type BatchError struct {
	// Failed has the index in the batch of each exposure that failed, with
	// why; wrapped by [Retryable] when worth retrying.
	Failed map[int]error
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d exposure(s) of the batch failed", len(e.Failed))
	for n, i := range slices.Sorted(maps.Keys(e.Failed)) {
		if n == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-n)
			break
		}
		fmt.Fprintf(&b, "; #%d: %v", i, e.Failed[i])
	}
	return b.String()
}
