package exposure

// Code below is regular: one case per combination of the optional
// interfaces a ResponseWriter may have, so that the middleware's writer has
// exactly those of the writer it wraps (a handler that asks for
// http.Flusher gets one only if flushing works underneath).

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// flushErrorer is the interface http.ResponseController prefers for Flush:
// it reports a flush that failed.
type flushErrorer interface{ FlushError() error }

// wrapWriter returns sw with the optional interfaces of the writer it
// wraps: http.Flusher and FlushError (either one underneath gives both),
// http.Hijacker, io.ReaderFrom and http.Pusher. Deadlines and full duplex
// go through Unwrap and http.ResponseController.
func wrapWriter(sw *statusWriter) http.ResponseWriter {
	w := sw.ResponseWriter
	mask := 0
	if _, ok := w.(http.Flusher); ok {
		mask |= 1
	} else if _, ok := w.(flushErrorer); ok {
		mask |= 1
	}
	if _, ok := w.(http.Hijacker); ok {
		mask |= 2
	}
	if _, ok := w.(io.ReaderFrom); ok {
		mask |= 4
	}
	if _, ok := w.(http.Pusher); ok {
		mask |= 8
	}
	switch mask {
	case 0:
		return sw
	case 1:
		return struct {
			*statusWriter
			http.Flusher
			flushErrorer
		}{sw, flusher{sw}, flusher{sw}}
	case 2:
		return struct {
			*statusWriter
			http.Hijacker
		}{sw, hijacker{sw}}
	case 3:
		return struct {
			*statusWriter
			http.Flusher
			flushErrorer
			http.Hijacker
		}{sw, flusher{sw}, flusher{sw}, hijacker{sw}}
	case 4:
		return struct {
			*statusWriter
			io.ReaderFrom
		}{sw, readerFrom{sw}}
	case 5:
		return struct {
			*statusWriter
			http.Flusher
			flushErrorer
			io.ReaderFrom
		}{sw, flusher{sw}, flusher{sw}, readerFrom{sw}}
	case 6:
		return struct {
			*statusWriter
			http.Hijacker
			io.ReaderFrom
		}{sw, hijacker{sw}, readerFrom{sw}}
	case 7:
		return struct {
			*statusWriter
			http.Flusher
			flushErrorer
			http.Hijacker
			io.ReaderFrom
		}{sw, flusher{sw}, flusher{sw}, hijacker{sw}, readerFrom{sw}}
	case 8:
		return struct {
			*statusWriter
			http.Pusher
		}{sw, pusher{sw}}
	case 9:
		return struct {
			*statusWriter
			http.Flusher
			flushErrorer
			http.Pusher
		}{sw, flusher{sw}, flusher{sw}, pusher{sw}}
	case 10:
		return struct {
			*statusWriter
			http.Hijacker
			http.Pusher
		}{sw, hijacker{sw}, pusher{sw}}
	case 11:
		return struct {
			*statusWriter
			http.Flusher
			flushErrorer
			http.Hijacker
			http.Pusher
		}{sw, flusher{sw}, flusher{sw}, hijacker{sw}, pusher{sw}}
	case 12:
		return struct {
			*statusWriter
			io.ReaderFrom
			http.Pusher
		}{sw, readerFrom{sw}, pusher{sw}}
	case 13:
		return struct {
			*statusWriter
			http.Flusher
			flushErrorer
			io.ReaderFrom
			http.Pusher
		}{sw, flusher{sw}, flusher{sw}, readerFrom{sw}, pusher{sw}}
	case 14:
		return struct {
			*statusWriter
			http.Hijacker
			io.ReaderFrom
			http.Pusher
		}{sw, hijacker{sw}, readerFrom{sw}, pusher{sw}}
	case 15:
		return struct {
			*statusWriter
			http.Flusher
			flushErrorer
			http.Hijacker
			io.ReaderFrom
			http.Pusher
		}{sw, flusher{sw}, flusher{sw}, hijacker{sw}, readerFrom{sw}, pusher{sw}}
	}
	return sw
}

type flusher struct{ sw *statusWriter }

func (f flusher) Flush() { _ = f.FlushError() }

func (f flusher) FlushError() error {
	f.sw.wrote()
	return http.NewResponseController(f.sw.ResponseWriter).Flush()
}

type hijacker struct{ sw *statusWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.sw.ResponseWriter.(http.Hijacker).Hijack()
}

type readerFrom struct{ sw *statusWriter }

func (r readerFrom) ReadFrom(src io.Reader) (int64, error) {
	r.sw.wrote()
	return r.sw.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
}

type pusher struct{ sw *statusWriter }

func (p pusher) Push(target string, opts *http.PushOptions) error {
	return p.sw.ResponseWriter.(http.Pusher).Push(target, opts)
}
