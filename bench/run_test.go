package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"syscall"
	"time"
)

// result is one pipeline's run.
type result struct {
	events      int64
	elapsed     time.Duration
	mallocs     uint64 // heap allocations during the run
	allocBytes  uint64 // bytes allocated during the run
	peakHeap    uint64 // highest heap in objects seen, above the start
	wireBytes   int64  // request bodies as sent (compressed when gzip)
	cpu         time.Duration
	serverCount int64
}

func (r result) eventsPerSec() float64   { return float64(r.events) / r.elapsed.Seconds() }
func (r result) allocsPerEvent() float64 { return float64(r.mallocs) / float64(r.events) }
func (r result) bytesPerEvent() float64  { return float64(r.allocBytes) / float64(r.events) }
func (r result) wirePerEvent() float64   { return float64(r.wireBytes) / float64(r.events) }
func (r result) cpuPerEvent() float64 {
	return float64(r.cpu.Microseconds()) / float64(r.events)
}

// run delivers n events through the pipeline to a fresh loopback server and
// measures from the first event handed over until the server has counted
// the last one and the pipeline has stopped. It fails unless the server
// counted exactly n events and reported no bad request.
func run(spec pipelineSpec, n int) (result, error) {
	srv, err := startLoopback()
	if err != nil {
		return result{}, err
	}
	defer srv.Close()
	p := spec.new()
	if err := p.Start(srv.URL); err != nil {
		return result{}, fmt.Errorf("%s: start: %w", spec.name, err)
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := processCPU()
	stopSampler, peak, base := sampleHeap()
	start := time.Now()

	delivered := srv.events.Load
	window := int64(spec.window)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	var sendErr error
	for i := range n {
		if int64(i)-delivered() >= window {
			// Wait for the server to catch up; nudge pipelines that only
			// send on a timer or on request.
			for int64(i)-delivered() >= window {
				p.Nudge()
				wait.Reset(5 * time.Millisecond)
				select {
				case <-srv.progress:
				case <-wait.C:
				}
				wait.Stop()
			}
		}
		if err := p.Send(i); err != nil && sendErr == nil {
			sendErr = fmt.Errorf("%s: send %d: %w", spec.name, i, err)
		}
		if spec.nudgeEvery > 0 && (i+1)%spec.nudgeEvery == 0 {
			p.Nudge()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	drainErr := p.Drain(ctx, int64(n), delivered)
	got := srv.WaitEvents(int64(n), 30*time.Second)
	elapsed := time.Since(start)
	stopSampler()
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&after)

	r := result{
		events:      int64(n),
		elapsed:     elapsed,
		mallocs:     after.Mallocs - before.Mallocs,
		allocBytes:  after.TotalAlloc - before.TotalAlloc,
		wireBytes:   srv.wire.Load(),
		cpu:         cpu,
		serverCount: got,
	}
	r.peakHeap = *peak - min(*peak, base)
	switch {
	case sendErr != nil:
		return r, sendErr
	case drainErr != nil:
		return r, fmt.Errorf("%s: drain: %w", spec.name, drainErr)
	case len(srv.Errors()) > 0:
		return r, fmt.Errorf("%s: server reported %q", spec.name, srv.Errors())
	}
	// A late duplicate would only show after the pipeline stopped.
	time.Sleep(50 * time.Millisecond)
	if got := srv.events.Load(); got != int64(n) {
		return r, fmt.Errorf("%s: server counted %d events, want %d", spec.name, got, n)
	}
	return r, nil
}

// sampleHeap samples the bytes in live-or-unswept heap objects every
// millisecond until stop is called: base is the first sample, peak the
// highest.
func sampleHeap() (stop func() uint64, peak *uint64, base uint64) {
	peak = new(uint64)
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(samples)
		v := samples[0].Value.Uint64()
		if v > *peak {
			*peak = v
		}
		return v
	}
	base = read()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				read()
			case <-quit:
				return
			}
		}
	}()
	return func() uint64 { close(quit); <-done; return read() }, peak, base
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
