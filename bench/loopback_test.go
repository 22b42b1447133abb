package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The loopback server runs in a child process (this test binary, started
// again with loopbackEnv set), so that its allocations, heap and decoding
// never show in the measurements of the pipeline under test. It answers
// every ingestion request 200 once it has counted the events in it, and
// reports its running totals on stdout, one line per request:
//
//	n <events> <wire bytes>
//	e <error>
const loopbackEnv = "EXPOSURE_BENCH_LOOPBACK_SERVER"

// route says where a peer's batch endpoint keeps its events.
type route struct {
	// key is the top-level object member holding the array of events, or
	// "" when the body is the array itself.
	key string
	// marker, when set, counts only the elements containing it (the
	// LaunchDarkly payload mixes custom events with index events).
	marker []byte
	// reply is the success body.
	reply  string
	status int
}

var routes = map[string]route{
	"/import":   {key: "", reply: `{"code":200,"num_records_imported":1,"status":"OK"}`, status: http.StatusOK}, // Mixpanel
	"/batch/":   {key: "batch", reply: `{"status":1}`, status: http.StatusOK},                                   // PostHog
	"/v1/batch": {key: "batch", reply: `{"success":true}`, status: http.StatusOK},                               // Segment
	"/bulk":     {key: "", marker: []byte(`"kind":"custom"`), status: http.StatusAccepted},                      // LaunchDarkly
}

// serveLoopback is the child's main: serve until stdin closes.
func serveLoopback() {
	var (
		mu     sync.Mutex
		events int64
		wire   int64
		line   []byte
	)
	report := func(n, w int64, err error) {
		mu.Lock()
		defer mu.Unlock()
		events += n
		wire += w
		if err != nil {
			line = append(line[:0], "e "...)
			line = append(line, strings.ReplaceAll(err.Error(), "\n", " ")...)
		} else {
			line = append(line[:0], "n "...)
			line = strconv.AppendInt(line, events, 10)
			line = append(line, ' ')
			line = strconv.AppendInt(line, wire, 10)
		}
		line = append(line, '\n')
		_, _ = os.Stdout.Write(line)
	}
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	gzs := sync.Pool{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := routes[r.URL.Path]
		if !ok || r.Method != http.MethodPost {
			if r.URL.Path == "/diagnostic" { // LaunchDarkly's diagnostics, not events
				w.WriteHeader(http.StatusAccepted)
				return
			}
			report(0, 0, fmt.Errorf("unexpected %s %s", r.Method, r.URL.Path))
			http.Error(w, "unexpected request", http.StatusNotFound)
			return
		}
		raw := bufs.Get().(*bytes.Buffer)
		plain := bufs.Get().(*bytes.Buffer)
		defer func() { raw.Reset(); plain.Reset(); bufs.Put(raw); bufs.Put(plain) }()
		raw.Reset()
		plain.Reset()
		_, err := raw.ReadFrom(r.Body)
		body := raw.Bytes()
		if err == nil && r.Header.Get("Content-Encoding") == "gzip" {
			zr, _ := gzs.Get().(*gzip.Reader)
			if zr == nil {
				zr, err = gzip.NewReader(bytes.NewReader(body))
			} else {
				err = zr.Reset(bytes.NewReader(body))
			}
			if err == nil {
				_, err = plain.ReadFrom(zr)
				gzs.Put(zr)
			}
			body = plain.Bytes()
		}
		n := 0
		if err == nil {
			n, err = countEvents(body, rt.key, rt.marker)
		}
		if err != nil {
			report(0, 0, fmt.Errorf("%s: %w", r.URL.Path, err))
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		report(int64(n), int64(raw.Len()), nil)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rt.status)
		_, _ = io.WriteString(w, rt.reply)
	})
	srv := httptest.NewServer(h)
	fmt.Printf("listening %s\n", srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
	srv.CloseClientConnections()
	srv.Close()
}

// loopback is the parent's handle on a child server.
type loopback struct {
	URL      string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	events   atomic.Int64
	wire     atomic.Int64
	progress chan struct{} // signalled (non-blocking) on each report
	mu       sync.Mutex
	errs     []string
	done     chan struct{}
}

// startLoopback starts a fresh child server; stop it with Close.
func startLoopback() (*loopback, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), loopbackEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l := &loopback{cmd: cmd, stdin: stdin, progress: make(chan struct{}, 1), done: make(chan struct{})}
	rd := bufio.NewReaderSize(stdout, 4096)
	first, err := rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "listening ") {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("loopback server did not start: %q %v", first, err)
	}
	l.URL = strings.TrimSpace(strings.TrimPrefix(first, "listening "))
	go l.read(rd)
	return l, nil
}

// read follows the child's reports without allocating per line.
func (l *loopback) read(rd *bufio.Reader) {
	defer close(l.done)
	for {
		line, err := rd.ReadSlice('\n')
		if len(line) > 1 {
			switch line[0] {
			case 'n':
				f := bytes.Fields(line[2:])
				if len(f) == 2 {
					l.events.Store(atoi(f[0]))
					l.wire.Store(atoi(f[1]))
				}
			default:
				l.mu.Lock()
				l.errs = append(l.errs, strings.TrimSpace(string(line)))
				l.mu.Unlock()
			}
			select {
			case l.progress <- struct{}{}:
			default:
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func atoi(b []byte) int64 {
	var n int64
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	return n
}

// Errors are the problems the server reported (bad bodies, unknown paths).
func (l *loopback) Errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// WaitEvents waits until the server has counted at least n events or d
// passes, and returns the count.
func (l *loopback) WaitEvents(n int64, d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for {
		got := l.events.Load()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		select {
		case <-l.progress:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close stops the child and waits for it.
func (l *loopback) Close() error {
	_ = l.stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- l.cmd.Wait() }()
	select {
	case err := <-exited:
		<-l.done
		return err
	case <-time.After(10 * time.Second):
		_ = l.cmd.Process.Kill()
		return fmt.Errorf("loopback server did not stop: %v", <-exited)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(loopbackEnv) == "1" {
		serveLoopback()
		return
	}
	os.Exit(m.Run())
}

// postJSON posts body and returns the status code.
func postJSON(url, body string) (int, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
