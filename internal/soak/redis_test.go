package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redisServer is a redis-server of the test's own, on a free loopback
// port, that the test freezes, kills and restarts. It keeps an append-only
// file fsynced on every write, as a production Redis that must not forget
// who was exposed does: a restart keeps the claims. Its methods return
// errors rather than fail the test, so that the fault schedule may call
// them from its own goroutine.
type redisServer struct {
	path string
	dir  string
	port int
	cmd  *exec.Cmd
	log  string // redis-server's output, a file (a pipe would need a goroutine)
}

// startRedis starts a redis-server, or skips the test when none is
// installed. It is killed when the test ends.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not in PATH: the soak test runs its own (apt-get install -y redis-server, or ./scripts/test)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	dir := t.TempDir()
	s := &redisServer{path: path, dir: dir, port: port, log: filepath.Join(dir, "redis.log")}
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = s.Resume()
			_ = s.Kill()
		}
	})
	return s
}

func (s *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Start starts the server on its port, with what its append-only file
// holds, and waits until it answers.
func (s *redisServer) Start() error {
	if s.cmd != nil {
		return errors.New("redis-server already running")
	}
	cmd := exec.Command(s.path, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--dir", s.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--daemonize", "no", "--loglevel", "warning")
	out, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			logged, _ := os.ReadFile(s.log)
			return fmt.Errorf("redis-server on port %d did not start: %s", s.port, logged)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Kill kills the server (SIGKILL: no shutdown, no last save) and waits
// until it is gone; its connections are reset.
func (s *redisServer) Kill() error {
	if s.cmd == nil {
		return errors.New("redis-server not running")
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	return nil
}

// Pause freezes the server (SIGSTOP): connections stay open and nothing
// answers, as when a host stalls. Resume undoes it.
func (s *redisServer) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume undoes Pause (SIGCONT).
func (s *redisServer) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *redisServer) signal(sig syscall.Signal) error {
	if s.cmd == nil {
		return errors.New("redis-server not running")
	}
	return s.cmd.Process.Signal(sig)
}
