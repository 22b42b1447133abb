package exposure

import (
	"context"
	"net/http"
)

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
