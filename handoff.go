package exposure

import (
	"context"
	"fmt"
)

// HandOff takes the assignment of flagKey out of the Scope for another party
// to confirm: a browser that reports when the variant became visible, a
// client app that draws it, a job that sends it later. From now on the
// Scope's commit does not send that exposure, whether or not it is also
// marked rendered; the party confirms it with [Tracker.Confirm].
//
// It returns an error wrapping [ErrNotAssigned] (counted as
// StageUnassignedMark) when the flag was not assigned in the Scope, and
// [ErrNoScope] for a nil Scope.
func (s *Scope) HandOff(flagKey string) (Assignment, error) {
	if s == nil {
		return Assignment{}, ErrNoScope
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(flagKey)
	if i < 0 {
		err := fmt.Errorf("%w: flag %q", ErrNotAssigned, flagKey)
		s.t.ledger.recordFlag(StageUnassignedMark, flagKey, err)
		return Assignment{}, err
	}
	e := &s.entries[i]
	if !e.handedOff {
		e.handedOff = true
		s.t.ledger.record(StageHandedOff, &e.a)
	}
	return e.a, nil
}

// Confirm commits an assignment whose exposure another party confirmed,
// such as one taken out of a Scope with [Scope.HandOff]: through the same
// dedupe and queues as a rendered mark, so a confirmation repeated (a
// reload, a replay) is a duplicate, not a second exposure. The assignment
// needs its flag key, experiment, variant and distinct id, and none of its
// fields may be over 255 bytes (Mixpanel's limit). Its related assignments
// need a flag key, experiment and variant too, and are of the same subject
// (the same distinct id).
//
// It waits on the Deduper as a Scope's commit does, never on a sink. It
// returns [ErrClosed] after Close, and an error for an incomplete
// assignment.
func (t *Tracker) Confirm(ctx context.Context, a Assignment) error {
	var missing []string
	for _, f := range [...]struct{ name, v string }{
		{"FlagKey", a.FlagKey}, {"Experiment", a.Experiment},
		{"Variant", a.Variant}, {"Identity.DistinctID", a.Identity.DistinctID},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("exposure: Confirm: the assignment has no %v", missing)
	}
	// A related assignment is claimed and sent on its own: it needs the
	// same fields, and it is the same subject's.
	for i, r := range a.Related {
		switch {
		case r.FlagKey == "" || r.Experiment == "" || r.Variant == "":
			return fmt.Errorf("exposure: Confirm: related assignment %d needs a FlagKey, an Experiment and a Variant", i)
		case r.Identity.DistinctID != a.Identity.DistinctID:
			return fmt.Errorf("exposure: Confirm: related assignment %d is of another subject (distinct id %q, not %q)",
				i, truncate(r.Identity.DistinctID, 64), truncate(a.Identity.DistinctID, 64))
		}
	}
	if err := a.checkBounds(); err != nil {
		return fmt.Errorf("exposure: Confirm: %w", err)
	}
	if t.closed.Load() {
		return ErrClosed
	}
	as := [1]Assignment{a}
	t.commit(as[:])
	return nil
}
