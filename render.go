package exposure

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
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
}

type scopeEntry struct {
	a         Assignment
	marked    bool
	delivered bool
	beacon    bool // exposureBeacon issued a token: only the browser confirms it (beacon.go)
}

// undoEntry remembers what an evaluation replaced, until the SDK says the
// evaluation succeeded (Finally) or failed (Error).
type undoEntry struct {
	flagKey string
	prev    *scopeEntry // nil: the evaluation added the entry
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
func ScopeFromContext(ctx context.Context) *Scope { return scopeFrom(ctx) }

func scopeFrom(ctx context.Context) *Scope {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

func (s *Scope) find(flagKey string) int {
	for i := range s.entries {
		if s.entries[i].a.FlagKey == flagKey {
			return i
		}
	}
	return -1
}

// assign records a pending assignment; a later evaluation of the same flag
// in the scope replaces it (the render shows the latest value). The same
// assignment again changes nothing, so it needs no undo record.
func (s *Scope) assign(a *Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discarded {
		return
	}
	i := s.find(a.FlagKey)
	if i >= 0 {
		prev := &s.entries[i].a
		if prev.Variant == a.Variant && prev.Experiment == a.Experiment && prev.Identity == a.Identity {
			return
		}
	}
	a.EvaluatedAt = s.t.now()
	s.t.audit.assigned(a) // audit.go
	s.undo = append(s.undo, undoEntry{flagKey: a.FlagKey})
	if i >= 0 {
		prev := s.entries[i] // a changed assignment in one request is rare: the copy may cost
		s.undo[len(s.undo)-1].prev = &prev
		s.entries[i] = scopeEntry{a: *a}
	} else {
		s.entries = append(s.entries, scopeEntry{a: *a})
	}
	s.undoCount.Add(1)
}

// revert undoes the last assignment of flagKey that is not settled yet.
func (s *Scope) revert(flagKey string) {
	if s.undoCount.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for j := len(s.undo) - 1; j >= 0; j-- {
		u := s.undo[j]
		if u.flagKey != flagKey {
			continue
		}
		s.undo = append(s.undo[:j], s.undo[j+1:]...)
		s.undoCount.Add(-1)
		i := s.find(flagKey)
		switch {
		case i < 0:
		case u.prev != nil:
			s.entries[i] = *u.prev
		default:
			s.entries = append(s.entries[:i], s.entries[i+1:]...)
		}
		return
	}
}

// settle forgets the undo record of a finished evaluation of flagKey.
func (s *Scope) settle(flagKey string) {
	if s.undoCount.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for j := len(s.undo) - 1; j >= 0; j-- {
		if s.undo[j].flagKey == flagKey {
			s.undo = append(s.undo[:j], s.undo[j+1:]...)
			s.undoCount.Add(-1)
			return
		}
	}
}

// MarkRendered records that the variant of flagKey assigned in ctx's Scope
// is on the user's screen. The exposure is delivered when the Scope is
// committed (for the middleware: when the handler returns without panic and
// with a status below 500), at most once per flag per Scope.
//
// It never blocks and never panics. It returns [ErrNoScope] when ctx has no
// Scope and an error wrapping [ErrNotAssigned] when the flag was not
// evaluated as an experiment in this Scope.
func MarkRendered(ctx context.Context, flagKey string) error {
	s := scopeFrom(ctx)
	if s == nil {
		return ErrNoScope
	}
	return s.mark(ctx, flagKey)
}

func (s *Scope) mark(ctx context.Context, flagKey string) error {
	s.mu.Lock()
	i := s.find(flagKey)
	if i < 0 {
		s.mu.Unlock()
		s.t.counters.unassignedMarks.Add(1)
		s.t.audit.unassignedMark(flagKey) // audit.go
		return fmt.Errorf("%w: flag %q", ErrNotAssigned, flagKey)
	}
	s.t.counters.marks.Add(1)
	e := &s.entries[i]
	e.marked = true
	if !s.committed || e.delivered || e.beacon {
		s.mu.Unlock()
		return nil
	}
	// Already committed (streaming, or a late mark): deliver now.
	e.delivered = true
	a := [1]Assignment{e.a}
	s.mu.Unlock()
	s.t.commit(context.WithoutCancel(ctx), a[:])
	return nil
}

// Commit delivers the marked assignments of the Scope that were not
// delivered yet. After it, later marks in the Scope are delivered at once,
// so a streaming handler may Commit early and keep marking.
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
		if e.marked && !e.delivered && !e.beacon {
			e.delivered = true
			as = append(as, e.a)
		}
	}
	s.mu.Unlock()
	s.t.commit(ctx, as)
	return nil
}

// Discard drops the Scope's pending assignments and marks: nothing of it
// will be delivered, and later evaluations and marks in it are ignored.
func (s *Scope) Discard() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.entries {
		// A beacon entry is the browser's to confirm, not the server's to drop.
		if e := &s.entries[i]; e.marked && !e.delivered && !e.beacon {
			s.t.counters.discarded.Add(1)
		}
	}
	s.entries, s.discarded = nil, true
}

// Middleware opens a Scope for each request. When the handler returns
// without panicking and with a status below 500, the marked assignments are
// committed; a request that failed was not seen, so on a status >= 500 or a
// panic they are discarded (and the panic goes on).
//
// A streaming handler that wants exposures delivered as it marks them can
// call ScopeFromContext(r.Context()).Commit early.
func (t *Tracker) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, s := t.Scope(r.Context())
		sw := &statusWriter{ResponseWriter: w}
		ok := false
		defer func() {
			if ok && sw.status < 500 {
				_ = s.Commit(context.WithoutCancel(ctx))
			} else {
				s.Discard()
			}
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
		ok = true
	})
}

// statusWriter records the final status code. It keeps the optional
// interfaces handlers rely on (Flusher, Hijacker, and the rest through
// Unwrap and http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TemplateFuncs returns the html/template functions of this package:
//
//	{{ exposed .Ctx "checkout-redesign" }}
//	<aside {{ exposureBeacon .Ctx "accessories-panel" }}>…</aside>
//
// "exposed" calls MarkRendered with a context.Context or an *http.Request
// and renders nothing.
//
// "exposureBeacon" leaves the decision to the browser, for variants drawn
// below the fold or in elements that may stay hidden: it renders a
// data-exposure attribute with a signed token for the flag's assignment,
// and the server does not send that exposure, even if the flag is also
// marked rendered; the script of [Tracker.BeaconHandler] posts the token
// back once the element was visible, and only then is it committed. It
// needs [WithBeaconKeys].
//
// Neither ever fails the template: misuse (no context, no scope, a flag
// not assigned, no beacon keys) renders nothing, is logged and counted.
func TemplateFuncs() template.FuncMap {
	return template.FuncMap{"exposed": exposed, "exposureBeacon": exposureBeacon}
}

// misuseLog limits warnings about template misuse that no Tracker can own.
var misuseLog rateLimitedLog

const minuteInterval = time.Minute

func exposed(v any, flagKey string) string {
	var ctx context.Context
	switch x := v.(type) {
	case *http.Request:
		if x != nil {
			ctx = x.Context()
		}
	case context.Context:
		ctx = x
	}
	if ctx == nil {
		if misuseLog.allow(minuteInterval) {
			slog.Default().Warn(`exposure: template function "exposed" needs a context.Context or *http.Request as its first argument`, "got", fmt.Sprintf("%T", v), "flag", flagKey)
		}
		return ""
	}
	err := MarkRendered(ctx, flagKey)
	switch {
	case err == nil:
	case errors.Is(err, ErrNoScope):
		if misuseLog.allow(minuteInterval) {
			slog.Default().Warn(`exposure: template function "exposed" got a context without scope`, "flag", flagKey, "err", err)
		}
	default:
		s := scopeFrom(ctx)
		if s.t.misuseLog.allow(minuteInterval) {
			s.t.log.Warn(`exposure: template function "exposed" marked a flag that was not assigned`, "flag", flagKey, "err", err)
		}
	}
	return ""
}
