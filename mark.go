package exposure

import (
	"context"
	"fmt"
)

// MarkRendered records that the variant of flagKey assigned in ctx's Scope
// is on the user's screen. The exposure is delivered when the Scope is
// committed (for the middleware: when the handler returns, even with an
// error status or a panic, unless [WithDiscardFailedRenders]; not for a
// bot's request), at most once per flag per Scope.
//
// It never blocks and never panics. It returns [ErrNoScope] when ctx has no
// Scope and an error wrapping [ErrNotAssigned] when the flag was not
// evaluated as an experiment in this Scope. A mark in a discarded Scope is
// ignored.
func MarkRendered(ctx context.Context, flagKey string) error {
	s := ScopeFromContext(ctx)
	if s == nil {
		return ErrNoScope
	}
	return s.mark(ctx, flagKey)
}

func (s *Scope) mark(ctx context.Context, flagKey string) error {
	s.mu.Lock()
	if s.discarded {
		s.mu.Unlock()
		return nil
	}
	i := s.find(flagKey)
	if i < 0 {
		s.mu.Unlock()
		err := fmt.Errorf("%w: flag %q", ErrNotAssigned, flagKey)
		s.t.ledger.recordFlag(StageUnassignedMark, flagKey, err)
		return err
	}
	e := &s.entries[i]
	s.t.ledger.record(StageMarked, &e.a)
	e.marked = true
	if !s.committed || e.delivered || e.handedOff {
		s.mu.Unlock()
		return nil
	}
	// Already committed (streaming, or a late mark): deliver now.
	e.delivered = true
	a := [1]Assignment{e.a}
	s.mu.Unlock()
	s.expose(a[:])
	return nil
}
