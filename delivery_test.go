package exposure_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// scriptedSink answers each Send with the next scripted result (then nil),
// records every attempt, and can block until released.
type scriptedSink struct {
	mu       sync.Mutex
	script   []func(batch []exposure.Exposure) error
	attempts [][]exposure.Exposure
	gate     chan struct{} // when non-nil, Send waits for it (or ctx)
}

func (s *scriptedSink) Send(ctx context.Context, batch []exposure.Exposure) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return exposure.Retryable(ctx.Err(), 0)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, append([]exposure.Exposure(nil), batch...))
	if len(s.script) == 0 {
		return nil
	}
	next := s.script[0]
	s.script = s.script[1:]
	return next(batch)
}

func (s *scriptedSink) Attempts() [][]exposure.Exposure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]exposure.Exposure(nil), s.attempts...)
}

var fastRetry = exposure.WithBackoff(time.Millisecond, 5*time.Millisecond)

// commitUsers exposes n distinct users through a Scope each.
func commitUsers(t testing.TB, tr *exposure.Tracker, hook *env, n int, prefix string) {
	t.Helper()
	for i := range n {
		ctx, scope := tr.Scope(context.Background())
		_, err := hook.client.StringValue(ctx, flagKey, "classic", userCtx(fmt.Sprintf("%s-%d", prefix, i)))
		require.NoError(t, err)
		require.NoError(t, exposure.MarkRendered(ctx, flagKey))
		require.NoError(t, scope.Commit(ctx))
	}
}

func TestRetryableFailuresResendIdenticalExposures(t *testing.T) {
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{
		func([]exposure.Exposure) error { return exposure.Retryable(errors.New("503"), 0) },
		func([]exposure.Exposure) error { return exposure.Retryable(errors.New("429"), 2*time.Millisecond) },
	}}
	e := newEnv(t, exposure.WithSink(sink, fastRetry, exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 3, "retry")
	require.NoError(t, e.tracker.Flush(t.Context()))

	attempts := sink.Attempts()
	require.Len(t, attempts, 3)
	assert.Equal(t, attempts[0], attempts[1], "a retry resends the very same exposures")
	assert.Equal(t, attempts[0], attempts[2])
	st := e.tracker.Stats().Sinks[1]
	assert.Equal(t, uint64(3), st.Counts[exposure.StageDelivered])
	assert.Equal(t, uint64(6), st.Counts[exposure.StageRetried])
	assert.Contains(t, st.LastError, "429")
}

func TestPartialFailureRetriesOnlyTheRetryable(t *testing.T) {
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{
		func([]exposure.Exposure) error {
			return &exposure.BatchError{Failed: map[int]error{
				0: errors.New("invalid distinct_id"),
				2: exposure.Retryable(errors.New("shard busy"), 0),
			}}
		},
	}}
	e := newEnv(t, exposure.WithSink(sink, fastRetry, exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 4, "partial")
	err := e.tracker.Flush(t.Context())
	require.ErrorIs(t, err, exposure.ErrUndelivered)

	attempts := sink.Attempts()
	require.Len(t, attempts, 2)
	require.Len(t, attempts[1], 1)
	assert.Equal(t, attempts[0][2].InsertID, attempts[1][0].InsertID)
	st := e.tracker.Stats().Sinks[1]
	assert.Equal(t, uint64(3), st.Counts[exposure.StageDelivered])
	assert.Equal(t, uint64(1), st.Counts[exposure.StageFailed])
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{
		func([]exposure.Exposure) error { return errors.New("401: bad token") },
	}}
	e := newEnv(t, exposure.WithSink(sink, fastRetry, exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 2, "perm")
	require.ErrorIs(t, e.tracker.Flush(t.Context()), exposure.ErrUndelivered)
	assert.Len(t, sink.Attempts(), 1)
	assert.Equal(t, uint64(2), e.tracker.Stats().Sinks[1].Counts[exposure.StageFailed])
}

func TestRetriesGiveUpAfterMaxAge(t *testing.T) {
	failing := func([]exposure.Exposure) error { return exposure.Retryable(errors.New("down"), 0) }
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{failing, failing, failing, failing, failing, failing, failing, failing}}
	e := newEnv(t, exposure.WithSink(sink, exposure.WithBackoff(5*time.Millisecond, 5*time.Millisecond),
		exposure.WithMaxRetryAge(12*time.Millisecond), exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 1, "old")
	require.ErrorIs(t, e.tracker.Flush(t.Context()), exposure.ErrUndelivered)
	n := len(sink.Attempts())
	assert.GreaterOrEqual(t, n, 2)
	assert.Less(t, n, 8, "gave up well before the script ran out")
	assert.Equal(t, uint64(1), e.tracker.Stats().Sinks[1].Counts[exposure.StageFailed])
}

func TestBatchesAreBoundedByCount(t *testing.T) {
	sink := &scriptedSink{}
	e := newEnv(t, exposure.WithSink(sink, exposure.WithBatchSize(4), exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 10, "batch")
	require.NoError(t, e.tracker.Flush(t.Context()))
	var sizes []int
	for _, a := range sink.Attempts() {
		sizes = append(sizes, len(a))
	}
	slices.Sort(sizes) // batches are sent concurrently
	assert.Equal(t, []int{2, 4, 4}, sizes)
}

func TestCloseDeliversEverythingQueued(t *testing.T) {
	rec := exposuretest.NewRecorder()
	e := newEnv(t, exposure.WithSink(rec, exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 500, "close")
	require.Zero(t, rec.Len(), "nothing sent before the batch fills or the interval passes")
	require.NoError(t, e.tracker.Close(t.Context()))
	assert.Equal(t, 500, rec.Len())

	// After Close, new exposures are dropped and counted, never blocked.
	commitUsers(t, e.tracker, e, 1, "late")
	st := e.tracker.Stats()
	assert.Equal(t, uint64(1), st.Sinks[1].Counts[exposure.StageDropped])
}

func TestFullQueueDropsWithoutBlockingAndReleasesTheClaim(t *testing.T) {
	sink := &scriptedSink{gate: make(chan struct{})}
	const queue, senders = 5, 2
	e := newEnv(t, exposure.WithSink(sink, exposure.WithQueueSize(queue), exposure.WithBatchSize(1),
		exposure.WithSenders(senders), exposure.WithFlushInterval(time.Millisecond)))
	// Each sender blocks in Send with one exposure; the worker holds what it
	// took last (at most a queue's worth) while it waits for a sender; the
	// queue fills; the rest must be dropped at once.
	done := make(chan struct{})
	go func() {
		defer close(done)
		commitUsers(t, e.tracker, e, 50, "full")
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("commits blocked on a full queue")
	}
	st := e.tracker.Stats().Sinks[1]
	assert.GreaterOrEqual(t, st.Counts[exposure.StageDropped], uint64(50-senders-2*queue))
	assert.Equal(t, uint64(50), st.Counts[exposure.StageDropped]+st.Counts[exposure.StageQueued])

	// A dropped exposure was not claimed: the same user exposed later (to a
	// sink that has room) is sent. The recorder got all 50.
	assert.True(t, e.recorder.WaitFor(50, 5*time.Second))
	close(sink.gate)
}

func TestCloseDuringOutageReportsUndeliveredAndLeaksNothing(t *testing.T) {
	down := func([]exposure.Exposure) error { return exposure.Retryable(errors.New("503"), 0) }
	script := make([]func([]exposure.Exposure) error, 1000)
	for i := range script {
		script[i] = down
	}
	sink := &scriptedSink{script: script}
	c := newClient(t, newProvider(nil))
	// Checked after the OpenFeature SDK started its own goroutines, before
	// the Tracker starts its.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tr, err := exposure.NewTracker(exposure.WithExperiments(checkout), exposure.WithLogger(quietLogger),
		exposure.WithSink(sink, exposure.WithBatchSize(10), exposure.WithFlushInterval(time.Millisecond),
			exposure.WithBackoff(20*time.Millisecond, 50*time.Millisecond)))
	require.NoError(t, err)
	c.AddHooks(tr.Hook())
	for i := range 25 {
		ctx, scope := tr.Scope(context.Background())
		_, err := c.StringValue(ctx, flagKey, "classic", userCtx(fmt.Sprint("outage-", i)))
		require.NoError(t, err)
		require.NoError(t, exposure.MarkRendered(ctx, flagKey))
		require.NoError(t, scope.Commit(ctx))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = tr.Close(ctx)
	assert.Less(t, time.Since(start), 5*time.Second)
	require.ErrorIs(t, err, exposure.ErrUndelivered)
	assert.ErrorContains(t, err, "25 exposure(s)")
	assert.Equal(t, uint64(25), tr.Stats().Sinks[0].Counts[exposure.StageUndelivered])
	assert.Equal(t, err, tr.Close(context.Background()), "Close is idempotent")
}

// A panicking sink never said which exposures it refused: the batch is
// retried, not given up on, and delivered once the sink recovers.
func TestSinkPanicIsRetriedNotACrash(t *testing.T) {
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{
		func([]exposure.Exposure) error { panic("sink bug") },
	}}
	e := newEnv(t, exposure.WithSink(sink, fastRetry, exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 2, "panic")
	require.NoError(t, e.tracker.Flush(t.Context()))
	st := e.tracker.Stats().Sinks[1]
	assert.Contains(t, st.LastError, "panicked")
	assert.Equal(t, uint64(2), st.Counts[exposure.StageRetried])
	assert.Equal(t, uint64(2), st.Counts[exposure.StageDelivered])
	assert.Zero(t, st.Counts[exposure.StageFailed])
}

func TestABatchInRetryDoesNotHoldUpTheOtherSender(t *testing.T) {
	// The first batch fails with a long Retry-After; with two senders the
	// second batch is delivered meanwhile.
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{
		func([]exposure.Exposure) error { return exposure.Retryable(errors.New("429"), 30*time.Minute) },
	}}
	e := newEnv(t, exposure.WithSink(sink, exposure.WithSenders(2), exposure.WithBatchSize(1), exposure.WithFlushInterval(time.Millisecond)))
	commitUsers(t, e.tracker, e, 2, "senders")
	require.Eventually(t, func() bool { return e.tracker.Stats().Sinks[1].Counts[exposure.StageDelivered] == 1 }, 10*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, e.tracker.Close(ctx), exposure.ErrUndelivered, "the batch waiting half an hour is reported")
}
