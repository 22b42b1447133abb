// Package exposuretest helps test code that uses exposure: a Recorder sink
// that keeps what it is sent.
package exposuretest

import (
	"context"
	"sync"
	"time"

	"github.com/exposurekit/exposure"
)

// Recorder is an exposure.Sink that records every exposure it is sent. It
// is safe for concurrent use. Pair it with a short flush interval, or call
// Tracker.Flush before reading, since delivery is asynchronous.
type Recorder struct {
	mu        sync.Mutex
	exposures []exposure.Exposure
	changed   chan struct{} // closed and replaced on every Send
}

var _ exposure.NamedSink = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// Name is "recorder", the sink's name in exposure.Stats and exposure.Event.
func (r *Recorder) Name() string { return "recorder" }

// Send records the batch. It never fails.
func (r *Recorder) Send(_ context.Context, batch []exposure.Exposure) error {
	r.mu.Lock()
	r.exposures = append(r.exposures, batch...)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	return nil
}

// Exposures returns a copy of everything recorded, in delivery order.
func (r *Recorder) Exposures() []exposure.Exposure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exposure.Exposure(nil), r.exposures...)
}

// Len returns how many exposures were recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.exposures)
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.exposures = nil
	r.mu.Unlock()
}

// WaitFor waits until at least n exposures were recorded or timeout passes,
// and reports whether they were.
func (r *Recorder) WaitFor(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, changed := len(r.exposures), r.changed
		r.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}
