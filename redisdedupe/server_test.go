package redisdedupe

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

const howToRun = "run ./scripts/test from the repository root, or start redis-server and set REDIS_URL=redis://127.0.0.1:PORT"

// sharedClient connects to the redis-server named by REDIS_URL, or skips the
// test. Tests using it must use their own key prefix (see testPrefix).
// Options edit the client's options.
func sharedClient(t testing.TB, edit ...func(*redis.Options)) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("REDIS_URL is not set: " + howToRun)
	}
	opt, err := redis.ParseURL(url)
	require.NoError(t, err, "REDIS_URL")
	for _, e := range edit {
		e(opt)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err(), "redis-server at REDIS_URL does not answer")
	return c
}

var prefixSeq atomic.Int64

// testPrefix is a key prefix no other test (or earlier run) uses.
func testPrefix(t testing.TB) string {
	return fmt.Sprintf("test:%s:%d:%d:", t.Name(), time.Now().UnixNano(), prefixSeq.Add(1))
}

// ownServer is a redis-server started by one test, on a free loopback port,
// so that the test can stop, pause and restart it without disturbing the
// shared one.
type ownServer struct {
	t    testing.TB
	path string
	port int
	cmd  *exec.Cmd
}

// startOwnServer starts a private redis-server, or skips the test when
// REDIS_URL is not set (the tests that need Redis run together) or
// redis-server is not in PATH. It is stopped when the test ends.
func startOwnServer(t testing.TB) *ownServer {
	t.Helper()
	if os.Getenv("REDIS_URL") == "" {
		t.Skip("REDIS_URL is not set: " + howToRun)
	}
	return startServer(t)
}

// startServer starts a private redis-server, or skips when redis-server is
// not in PATH. It is stopped when the test or benchmark ends.
func startServer(t testing.TB) *ownServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not in PATH (this test stops and restarts its own): " + howToRun)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s := &ownServer{t: t, path: path, port: port}
	s.Start()
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = s.cmd.Process.Signal(syscall.SIGCONT)
			s.Stop()
		}
	})
	return s
}

func (s *ownServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Start (re)starts the server on its port, empty, and waits until it answers.
func (s *ownServer) Start() {
	s.t.Helper()
	require.Nil(s.t, s.cmd, "server already running")
	cmd := exec.Command(s.path, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(s.t, cmd.Start())
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not start: %s", s.port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server and waits until it is gone.
func (s *ownServer) Stop() {
	s.t.Helper()
	require.NotNil(s.t, s.cmd, "server not running")
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause freezes the server (SIGSTOP): connections stay open, nothing
// answers. Resume undoes it.
func (s *ownServer) Pause()  { require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGSTOP)) }
func (s *ownServer) Resume() { require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGCONT)) }

// contextTimeouts makes a client end its calls at the context's deadline.
func contextTimeouts(o *redis.Options) { o.ContextTimeoutEnabled = true }

// Client returns a client of this server, closed when the test ends.
func (s *ownServer) Client(edit ...func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: s.Addr()}
	for _, e := range edit {
		e(o)
	}
	c := redis.NewClient(o)
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}
