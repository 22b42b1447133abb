package soak

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
)

// slowSink is a sink that takes its time: each Send waits delay before the
// Recorder keeps the batch. Once stalled it never answers, as a wedged
// destination, until its context ends. It honours its context: a Send whose
// context ends records nothing and returns the context's error, so that
// what the Recorder holds is exactly what was delivered.
type slowSink struct {
	rec     *exposuretest.Recorder
	delay   time.Duration
	stalled atomic.Bool
	sends   atomic.Int64
}

var _ exposure.NamedSink = (*slowSink)(nil)

func newSlowSink(delay time.Duration) *slowSink {
	return &slowSink{rec: exposuretest.NewRecorder(), delay: delay}
}

func (s *slowSink) Name() string { return "slow" }

func (s *slowSink) Send(ctx context.Context, batch []exposure.Exposure) error {
	s.sends.Add(1)
	if s.stalled.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	timer := time.NewTimer(s.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return s.rec.Send(ctx, batch)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stall makes every later Send wait for its context's end.
func (s *slowSink) stall() { s.stalled.Store(true) }
