package exposure

import (
	"errors"

	"github.com/exposurekit/exposure/internal/options"
)

var (
	// ErrNoScope is returned by MarkRendered and HandOff when ctx carries no
	// Scope: the request did not pass through Tracker.Middleware, or the
	// code outside HTTP did not open one with Tracker.Scope.
	ErrNoScope = errors.New("exposure: no scope in context (wrap the handler with Tracker.Middleware or open one with Tracker.Scope)")

	// ErrNotAssigned is returned by MarkRendered and HandOff when the flag
	// was not evaluated as an experiment in this scope: the render site
	// marks a variant nobody assigned, which is a bug at the render site.
	ErrNotAssigned = errors.New("exposure: flag not assigned in this scope")

	// ErrNoSubject is returned by an identity function when an evaluation
	// context has no user, device or targeting key. Such evaluations are
	// not assignments.
	ErrNoSubject = errors.New("exposure: evaluation context has no subject")

	// ErrInvalidConfig is wrapped by every configuration error of this
	// module's constructors.
	ErrInvalidConfig = options.ErrInvalidConfig

	// ErrClosed is returned when the Tracker was closed.
	ErrClosed = errors.New("exposure: tracker closed")

	// ErrUndelivered is wrapped by the error of Close or Flush when some
	// exposures could not be delivered before the context ended.
	ErrUndelivered = errors.New("exposure: exposures undelivered")
)
