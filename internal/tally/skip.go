package tally

import (
	"errors"
	"sync/atomic"

	"github.com/exposurekit/exposure"
)

// SkipReasons counts the experiment evaluations that were not assignments
// (StageSkipped) by why, as the event's Err says.
type SkipReasons struct {
	// Unscoped is evaluations outside any Scope ([exposure.ErrNoScope]):
	// a wiring bug, the request's context was not passed.
	Unscoped atomic.Uint64
	// NoSubject is evaluations whose context names no subject
	// ([exposure.ErrNoSubject]).
	NoSubject atomic.Uint64
	// Other is the rest: errors, disabled flags, subjects outside the
	// sample, evaluations that name no variant.
	Other atomic.Uint64
}

func (r *SkipReasons) add(err error) {
	switch {
	case errors.Is(err, exposure.ErrNoScope):
		r.Unscoped.Add(1)
	case errors.Is(err, exposure.ErrNoSubject):
		r.NoSubject.Add(1)
	default:
		r.Other.Add(1)
	}
}
