package exposure

import (
	"context"
	"net/http"
)

// Middleware opens a Scope for each request and commits it when the
// handler returns: the marked assignments become exposures.
//
// A request that fails (a status of 500 or more, or a panic, which goes
// on) is still committed by default: a variant that was rendered was
// exposed, even if the page then broke, perhaps because of that variant.
// Discarding it would remove from one arm exactly the users its bug hurt
// (see [WithDiscardFailedRenders]). Either way each assignment of a
// failed request is counted, per variant: StageFailedRender when it was
// marked, StageFailedRequest when not.
//
// A request from a bot or crawler (see [WithBotFilter]) renders as any
// other, but its marks are not exposed: each is counted as StageBot. A
// bot's request that fails is counted as a failure too (the failure
// rates count every request that carried an assignment), and with
// WithDiscardFailedRenders its marks are discarded before the bot filter
// is asked: StageDiscarded, not StageBot.
//
// A streaming handler that wants exposures delivered as it marks them can
// call ScopeFromContext(r.Context()).Commit early.
func (t *Tracker) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, s := t.Scope(r.Context())
		s.req = r // asked whether it is a bot's only if the Scope exposes something
		sw := &statusWriter{ResponseWriter: w}
		ok := false
		defer func() {
			failed := !ok || sw.status >= 500
			if failed {
				s.countFailure()
			}
			if failed && t.discardFailed {
				s.Discard()
			} else {
				_ = s.Commit(context.WithoutCancel(ctx))
			}
		}()
		next.ServeHTTP(wrapWriter(sw), r.WithContext(ctx))
		ok = true
	})
}

// statusWriter records the final status code. wrapWriter gives it the
// optional interfaces of the writer it wraps, and only those.
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
	w.wrote()
	return w.ResponseWriter.Write(b)
}

// wrote records the implicit 200 of a body written without a header.
func (w *statusWriter) wrote() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
