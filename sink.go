package exposure

import (
	"context"
	"errors"
	"fmt"
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
type Sink interface {
	Send(ctx context.Context, batch []Exposure) error
}

// NamedSink is implemented by sinks that name themselves in [Stats] and
// [Event]s. Other sinks are named by their type.
type NamedSink interface {
	Sink
	Name() string
}

// IdleConnectionsCloser is implemented by sinks that keep idle network
// connections, such as HTTP keep-alives, like [net/http.Client]. Close
// calls it once the sink's delivery has stopped, so that their goroutines
// end now rather than when the connections time out.
type IdleConnectionsCloser interface {
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

// Failure is one exposure of a batch that could not be delivered.
type Failure struct {
	// Index is the exposure's position in the batch given to Send.
	Index int
	// Err says why; wrapped by [Retryable] when worth retrying.
	Err error
}

// BatchError reports a send in which only some exposures failed; every
// exposure not listed in Failures was delivered.
type BatchError struct {
	Failures []Failure
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d exposure(s) of the batch failed", len(e.Failures))
	for i, f := range e.Failures {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-i)
			break
		}
		fmt.Fprintf(&b, "; #%d: %v", f.Index, f.Err)
	}
	return b.String()
}

// SendEach implements Send for sinks that deliver one exposure at a time,
// such as through a vendor SDK call per exposure. It calls send for each
// exposure in order and reports the failures in a [*BatchError]; once ctx
// has ended, the exposures not reached are reported retryable.
func SendEach(ctx context.Context, batch []Exposure, send func(context.Context, *Exposure) error) error {
	var failures []Failure
	for i := range batch {
		if err := ctx.Err(); err != nil {
			for j := i; j < len(batch); j++ {
				failures = append(failures, Failure{Index: j, Err: Retryable(err, 0)})
			}
			break
		}
		if err := send(ctx, &batch[i]); err != nil {
			failures = append(failures, Failure{Index: i, Err: err})
		}
	}
	if len(failures) > 0 {
		return &BatchError{Failures: failures}
	}
	return nil
}
