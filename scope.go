package exposure

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
)

// A Scope collects the assignments and marks of one unit of work, usually
// one HTTP request: within it, a flag is exposed at most once. Nothing is
// delivered until the Scope is committed.
type Scope struct {
	t *Tracker

	mu      sync.Mutex
	entries []scopeEntry
	undo    []undoEntry
	// Most requests touch one experiment: keep it inline so a scope costs
	// one allocation.
	entriesBuf [1]scopeEntry
	undoBuf    [2]undoEntry
	undoCount  atomic.Int32
	committed  bool // after the first Commit, marks are delivered at once
	discarded  bool
	// req is the middleware's request, asked whether it came from a bot
	// (its marks are then counted, not exposed) only when the Scope has
	// something to expose: most requests mark nothing and pay nothing.
	// botState caches the answer: 0 not asked yet, 1 a person, 2 a bot.
	req      *http.Request
	botState atomic.Uint32
}

type scopeEntry struct {
	a         Assignment
	marked    bool
	delivered bool
	handedOff bool // HandOff gave it to another party: only that party confirms it
	// retired: a later evaluation of the flag replaced this marked
	// assignment (a login between the render and the end of the request).
	// It was on screen, so it is still committed; marks find its
	// successor.
	retired bool
}

// undoEntry remembers what an evaluation replaced, until the SDK says the
// evaluation succeeded (Finally) or failed (Error).
type undoEntry struct {
	flagKey string
	eval    evaluationID // which evaluation recorded it; 0 when unknown
	prev    *scopeEntry  // nil: the evaluation added the entry
}

type scopeKey struct{}

// Scope opens a Scope outside HTTP, such as for a job or a gRPC call.
// Evaluate flags and call MarkRendered with the returned context, then
// Commit (or Discard) the Scope.
func (t *Tracker) Scope(ctx context.Context) (context.Context, *Scope) {
	s := &Scope{t: t}
	s.entries, s.undo = s.entriesBuf[:0], s.undoBuf[:0]
	return context.WithValue(ctx, scopeKey{}, s), s
}

// ScopeFromContext returns the Scope carried by ctx, or nil.
func ScopeFromContext(ctx context.Context) *Scope {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// find returns the index of flagKey's current (not retired) entry, or -1.
func (s *Scope) find(flagKey string) int {
	for i := range s.entries {
		if s.entries[i].a.FlagKey == flagKey && !s.entries[i].retired {
			return i
		}
	}
	return -1
}

// retires reports whether an entry replaced by a new evaluation must stay,
// retired: it was marked and is not yet delivered or handed off.
func (e *scopeEntry) retires() bool { return e.marked && !e.delivered && !e.handedOff }

// assign records a pending assignment; a later evaluation of the same flag
// in the scope replaces it (the render shows the latest value). The same
// assignment again changes nothing: it is neither recorded nor counted, and
// needs no undo record.
func (s *Scope) assign(a *Assignment, eval evaluationID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discarded {
		return
	}
	i := s.find(a.FlagKey)
	if i >= 0 {
		prev := &s.entries[i].a
		if sameAssignment(prev, a) {
			return
		}
	}
	a.EvaluatedAt = s.t.now()
	s.undo = append(s.undo, undoEntry{flagKey: a.FlagKey, eval: eval})
	switch {
	case i >= 0 && s.entries[i].retires():
		prev := s.entries[i]
		s.undo[len(s.undo)-1].prev = &prev
		s.entries[i].retired = true
		s.entries = append(s.entries, scopeEntry{a: *a})
	case i >= 0:
		prev := s.entries[i] // a changed assignment in one request is rare: the copy may cost
		s.undo[len(s.undo)-1].prev = &prev
		s.entries[i] = scopeEntry{a: *a}
	default:
		s.entries = append(s.entries, scopeEntry{a: *a})
	}
	s.undoCount.Add(1)
	s.t.ledger.record(StageAssigned, a)
}

// revert undoes the assignment that evaluation eval of flagKey recorded,
// if it recorded one that is not settled yet.
func (s *Scope) revert(flagKey string, eval evaluationID) {
	if s.undoCount.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for j := len(s.undo) - 1; j >= 0; j-- {
		u := s.undo[j]
		if !u.matches(flagKey, eval) {
			continue
		}
		s.undo = append(s.undo[:j], s.undo[j+1:]...)
		s.undoCount.Add(-1)
		i := s.find(flagKey)
		if i < 0 {
			return
		}
		s.t.ledger.record(StageReverted, &s.entries[i].a)
		switch {
		case u.prev != nil && u.prev.retires():
			// The replaced entry was retired, not overwritten: it becomes
			// current again.
			s.entries = append(s.entries[:i], s.entries[i+1:]...)
			s.unretire(&u.prev.a)
		case u.prev != nil:
			s.entries[i] = *u.prev
		default:
			s.entries = append(s.entries[:i], s.entries[i+1:]...)
		}
		return
	}
}

// settle forgets the undo record of a finished evaluation of flagKey.
func (s *Scope) settle(flagKey string, eval evaluationID) {
	if s.undoCount.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for j := len(s.undo) - 1; j >= 0; j-- {
		if s.undo[j].matches(flagKey, eval) {
			s.undo = append(s.undo[:j], s.undo[j+1:]...)
			s.undoCount.Add(-1)
			return
		}
	}
}

// unretire makes the latest retired entry of a current again.
func (s *Scope) unretire(a *Assignment) {
	for k := len(s.entries) - 1; k >= 0; k-- {
		if e := &s.entries[k]; e.retired && e.a.FlagKey == a.FlagKey && e.a.Identity == a.Identity && e.a.Variant == a.Variant {
			e.retired = false
			return
		}
	}
}

// matches reports whether u was recorded by evaluation eval of flagKey.
// Without a known evaluation, the latest record of the flag stands for it.
func (u *undoEntry) matches(flagKey string, eval evaluationID) bool {
	return u.flagKey == flagKey && (eval == 0 || u.eval == 0 || u.eval == eval)
}

// Commit delivers the marked assignments of the Scope that were not
// delivered yet. After it, later marks in the Scope are delivered at once,
// so a streaming handler may Commit early and keep marking. It returns
// [ErrNoScope] for a nil Scope.
func (s *Scope) Commit(ctx context.Context) error {
	if s == nil {
		return ErrNoScope
	}
	var buf [4]Assignment
	as := buf[:0]
	s.mu.Lock()
	if s.discarded {
		s.mu.Unlock()
		return nil
	}
	s.committed = true
	for i := range s.entries {
		e := &s.entries[i]
		if e.marked && !e.delivered && !e.handedOff {
			e.delivered = true
			as = append(as, e.a)
		}
	}
	s.mu.Unlock()
	s.expose(as)
	return nil
}

// expose commits as, the Scope's marks now delivered, unless the Scope's
// request came from a bot: then each is counted as StageBot.
func (s *Scope) expose(as []Assignment) {
	if len(as) == 0 {
		return
	}
	if !s.fromBot() {
		s.t.commit(as)
		return
	}
	for i := range as {
		s.t.ledger.record(StageBot, &as[i])
	}
}

// fromBot reports whether the Scope's request came from a bot, asking the
// Tracker's filter once. A Scope opened outside the middleware has no
// request, and no bot.
func (s *Scope) fromBot() bool {
	switch s.botState.Load() {
	case 1:
		return false
	case 2:
		return true
	}
	if s.req == nil {
		return false
	}
	bot := s.t.isBot(s.req)
	state := uint32(1)
	if bot {
		state = 2
	}
	s.botState.Store(state) // concurrent askers store the same answer
	return bot
}

// countFailure counts each assignment of the Scope, whose request failed:
// StageFailedRender when it was marked, StageFailedRequest when not (or
// handed off: its exposure is another party's to confirm).
func (s *Scope) countFailure() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.entries {
		e := &s.entries[i]
		if e.marked && !e.handedOff {
			s.t.ledger.record(StageFailedRender, &e.a)
		} else {
			s.t.ledger.record(StageFailedRequest, &e.a)
		}
	}
}

// Discard drops the Scope's pending assignments and marks: nothing of it
// will be delivered, and later evaluations and marks in it are ignored.
// Assignments handed off stay with the party they were handed to.
func (s *Scope) Discard() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.entries {
		if e := &s.entries[i]; e.marked && !e.delivered && !e.handedOff {
			s.t.ledger.record(StageDiscarded, &e.a)
		}
	}
	s.entries, s.discarded = nil, true
}

// sameAssignment reports whether a new evaluation assigned what prev
// already holds: the same subject to the same variants.
func sameAssignment(prev, a *Assignment) bool {
	if prev.Variant != a.Variant || prev.Experiment != a.Experiment || prev.Identity != a.Identity ||
		len(prev.Related) != len(a.Related) {
		return false
	}
	for i := range a.Related {
		if prev.Related[i].Variant != a.Related[i].Variant || prev.Related[i].Experiment != a.Related[i].Experiment {
			return false
		}
	}
	return true
}
