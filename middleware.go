package exposure

import (
	"bufio"
	"context"
	"net"
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
