package exposure_test

// Regression tests of the fault paths found in review (issue 12): each
// failed on the code before its fix.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stuckSink keeps failing, retryably, the exposures of one subject and
// delivers the others to a recorder.
type stuckSink struct {
	stuck    string
	attempts atomic.Int32
	rec      *exposuretest.Recorder
}

func (s *stuckSink) Send(ctx context.Context, batch []exposure.Exposure) error {
	failed := map[int]error{}
	var ok []exposure.Exposure
	for i, e := range batch {
		if e.Identity.DistinctID == s.stuck {
			s.attempts.Add(1)
			failed[i] = exposure.Retryable(errors.New("503"), 0)
			continue
		}
		ok = append(ok, e)
	}
	_ = s.rec.Send(ctx, ok)
	if len(failed) > 0 {
		return &exposure.BatchError{Failed: failed}
	}
	return nil
}

// Defect 1: a Flush whose context ended left the worker waiting for the
// batch in retry, and nothing else was batched.
func TestFlushTimeoutDoesNotStallTheQueue(t *testing.T) {
	sink := &stuckSink{stuck: "stuck-0", rec: exposuretest.NewRecorder()}
	e := newEnv(t, exposure.WithSink(sink, exposure.WithBatchSize(1), exposure.WithSenders(2),
		exposure.WithFlushInterval(time.Millisecond),
		exposure.WithBackoff(time.Minute, time.Minute)))
	commitUsers(t, e.tracker, e, 1, "stuck")
	require.Eventually(t, func() bool { return sink.attempts.Load() > 0 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, e.tracker.Flush(ctx), context.DeadlineExceeded)

	commitUsers(t, e.tracker, e, 5, "free")
	assert.True(t, sink.rec.WaitFor(5, 2*time.Second), "others delivered while one batch waits to retry; got %d", sink.rec.Len())
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_ = e.tracker.Close(ctx)
}

// gatedSink blocks in Send until its gate is closed, then records.
type gatedSink struct {
	gate chan struct{}
	rec  *exposuretest.Recorder
}

func (s *gatedSink) Name() string { return "gated" }

func (s *gatedSink) Send(ctx context.Context, batch []exposure.Exposure) error {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return exposure.Retryable(ctx.Err(), 0)
	}
	return s.rec.Send(ctx, batch)
}

// Defect 2: with several sinks, an exposure one full queue dropped never
// reached that sink, not even on a later render.
func TestASinkThatDroppedAnExposureGetsItOnTheNextRender(t *testing.T) {
	small := &gatedSink{gate: make(chan struct{}), rec: exposuretest.NewRecorder()}
	events := &eventLog{}
	e := newEnv(t, exposure.WithObserver(events), exposure.WithSink(small, exposure.WithQueueSize(1),
		exposure.WithBatchSize(1), exposure.WithSenders(1), exposure.WithFlushInterval(time.Millisecond)))
	var dropped string
	for i := 0; dropped == "" && i < 100; i++ {
		commitUsers(t, e.tracker, e, 1, fmt.Sprint("multi-", i))
		for _, ev := range events.of(exposure.StageDropped) {
			dropped = ev.Exposure.Identity.DistinctID
		}
	}
	require.NotEmpty(t, dropped, "the small queue never filled")
	close(small.gate)
	require.NoError(t, e.tracker.Flush(t.Context()))
	before := e.recorder.Len()

	// The dropped subject renders again: the small sink gets it now, the
	// recorder (which had it) does not get it twice.
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx(dropped))
	require.NoError(t, err)
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	require.NoError(t, scope.Commit(ctx))
	require.NoError(t, e.tracker.Flush(t.Context()))

	got := 0
	for _, x := range small.rec.Exposures() {
		if x.Identity.DistinctID == dropped {
			got++
		}
	}
	assert.Equal(t, 1, got, "the sink that dropped %s receives it once", dropped)
	assert.Equal(t, before, e.recorder.Len(), "the sink that had it gets no duplicate")
}

// Defect 3: a Retry-After longer than the retry age was slept in full.
func TestRetryAfterPastTheRetryAgeFailsAtOnce(t *testing.T) {
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{
		func([]exposure.Exposure) error { return exposure.Retryable(errors.New("429"), 24*time.Hour) },
	}}
	e := newEnv(t, exposure.WithSink(sink, exposure.WithFlushInterval(time.Hour),
		exposure.WithBackoff(time.Millisecond, time.Second), exposure.WithMaxRetryAge(time.Minute)))
	commitUsers(t, e.tracker, e, 1, "retry-after")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := e.tracker.Flush(ctx)
	require.ErrorIs(t, err, exposure.ErrUndelivered, "a retry a day away is past the minute's retry age: failed for good")
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, uint64(1), e.tracker.Stats().Sinks[1].Counts[exposure.StageFailed])
}

// wedgedSink ignores its context: a vendor SDK call that hangs.
type wedgedSink struct {
	entered chan struct{}
	release chan struct{}
}

func (s *wedgedSink) Send(context.Context, []exposure.Exposure) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return nil
}

// Defect 4: Close waited without bound for a Send that ignored its
// context, and a second Close waited for the first.
func TestCloseReturnsByItsDeadlineWhenASendHangs(t *testing.T) {
	sink := &wedgedSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(sink.release) })
	e := newEnv(t, exposure.WithSink(sink, exposure.WithFlushInterval(time.Millisecond), exposure.WithBatchSize(1)))
	commitUsers(t, e.tracker, e, 1, "wedged")
	<-sink.entered

	var wg sync.WaitGroup
	results := make([]error, 2)
	for i, d := range []time.Duration{200 * time.Millisecond, 100 * time.Millisecond} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			start := time.Now()
			results[i] = e.tracker.Close(ctx)
			assert.Less(t, time.Since(start), d+2*time.Second, "Close %d returns by its deadline", i)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a Send that ignores its context")
	}
	for _, err := range results {
		assert.ErrorIs(t, err, exposure.ErrUndelivered)
	}
}

// abortableSink blocks until its context ends and then returns the
// context's error, unwrapped: the batch was aborted, not refused.
type abortableSink struct{ entered chan struct{} }

func (s *abortableSink) Send(ctx context.Context, _ []exposure.Exposure) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// Defect 5: a batch aborted by Close counted as failed for good, and Close
// reported success.
func TestAbortedBatchIsUndeliveredNotFailed(t *testing.T) {
	sink := &abortableSink{entered: make(chan struct{}, 1)}
	e := newEnv(t, exposure.WithSink(sink, exposure.WithFlushInterval(time.Millisecond)))
	commitUsers(t, e.tracker, e, 1, "aborted")
	<-sink.entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := e.tracker.Close(ctx)
	require.ErrorIs(t, err, exposure.ErrUndelivered)
	st := e.tracker.Stats().Sinks[1]
	assert.Equal(t, uint64(1), st.Counts[exposure.StageUndelivered])
	assert.Zero(t, st.Counts[exposure.StageFailed])
}

// Defect 6: a flag evaluated again after it was marked (a login between
// the render and the end of the request) lost the variant on screen.
func TestReevaluationAfterAMarkKeepsTheMarkedExposure(t *testing.T) {
	e := newEnv(t)
	ctx, scope := e.tracker.Scope(t.Context())
	device := openfeature.NewEvaluationContext("d-1", map[string]any{exposure.AttributeDeviceID: "d-1"})
	_, err := e.client.StringValue(ctx, flagKey, "classic", device)
	require.NoError(t, err)
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	user := openfeature.NewEvaluationContext("u-1", map[string]any{exposure.AttributeUserID: "u-1", exposure.AttributeDeviceID: "d-1"})
	_, err = e.client.StringValue(ctx, flagKey, "classic", user)
	require.NoError(t, err)
	require.NoError(t, scope.Commit(ctx))
	e.settle(t)
	got := e.recorder.Exposures()
	require.Len(t, got, 1, "the device's render was on screen; the user's evaluation was not rendered")
	assert.Equal(t, "$device:d-1", got[0].Identity.DistinctID)
}

// gateAfterHook signals when its After is reached and waits for release.
type gateAfterHook struct {
	openfeature.UnimplementedHook
	reached, release chan struct{}
}

func (h gateAfterHook) After(context.Context, openfeature.HookContext, openfeature.InterfaceEvaluationDetails, openfeature.HookHints) error {
	close(h.reached)
	<-h.release
	return nil
}

// Defect 7: the failure of one evaluation reverted a concurrent, successful
// evaluation of the same flag in the same scope.
func TestAFailedEvaluationDoesNotRevertAnotherOne(t *testing.T) {
	tr, err := exposure.NewTracker(exposure.WithExperiments(checkout), exposure.WithSink(exposuretest.NewRecorder()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(t.Context()) })
	c := newClient(t, newProvider(nil))
	ctx, _ := tr.Scope(t.Context())

	// A succeeds, but is held after the exposure hook recorded it.
	gate := gateAfterHook{reached: make(chan struct{}), release: make(chan struct{})}
	aDone := make(chan error, 1)
	go func() {
		_, err := c.StringValue(ctx, flagKey, "default", userCtx("kim"), openfeature.WithHooks(gate, tr.Hook()))
		aDone <- err
	}()
	<-gate.reached
	// B, the same flag and subject, fails in a hook after ours.
	v, err := c.StringValue(ctx, flagKey, "default", userCtx("kim"), openfeature.WithHooks(failingAfterHook{}, tr.Hook()))
	require.Error(t, err)
	require.Equal(t, "default", v)
	close(gate.release)
	require.NoError(t, <-aDone)

	assert.NoError(t, exposure.MarkRendered(ctx, flagKey), "A succeeded: its assignment stands")
}

// slowDeduper is a Deduper whose every call takes a network's time, as a
// shared deduper under load can.
type slowDeduper struct {
	exposure.Deduper
	delay time.Duration
	calls atomic.Int32
}

func (d *slowDeduper) Claim(ctx context.Context, key, variant string, window time.Duration) (bool, bool, error) {
	d.calls.Add(1)
	time.Sleep(d.delay)
	return d.Deduper.Claim(ctx, key, variant, window)
}

func (d *slowDeduper) Release(ctx context.Context, key string) error {
	time.Sleep(d.delay)
	return d.Deduper.Release(ctx, key)
}

func newSlowDeduper(t *testing.T, delay time.Duration) *slowDeduper {
	mem, err := exposure.NewMemoryDeduper(1000)
	require.NoError(t, err)
	return &slowDeduper{Deduper: mem, delay: delay}
}

// Defect 8 and the request path: neither a request's end nor a mark after
// an early Commit waits for a deduper that does I/O.
func TestTheRequestPathNeverWaitsForTheDeduper(t *testing.T) {
	d := newSlowDeduper(t, 300*time.Millisecond)
	e := newEnv(t, exposure.WithDeduper(d))
	srv := e.server(t)

	start := time.Now()
	code, _ := get(t, srv, "/checkout?user=nia")
	require.Equal(t, http.StatusOK, code)
	assert.Less(t, time.Since(start), 250*time.Millisecond, "the response waited for the deduper")

	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("oli"))
	require.NoError(t, err)
	require.NoError(t, scope.Commit(ctx)) // streaming: commit early
	start = time.Now()
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	assert.Less(t, time.Since(start), 250*time.Millisecond, "a late mark waited for the deduper")

	require.NoError(t, e.tracker.Flush(t.Context()))
	assert.Equal(t, 2, e.recorder.Len(), "both exposures delivered once claimed")
}

// flushErrWriter is a ResponseWriter whose flush fails, as on a broken
// connection, and that can send a file.
type flushErrWriter struct {
	*httptest.ResponseRecorder
	readFrom bool
}

var errBrokenPipe = errors.New("broken pipe")

func (w *flushErrWriter) FlushError() error { return errBrokenPipe }

func (w *flushErrWriter) ReadFrom(r io.Reader) (int64, error) {
	w.readFrom = true
	return io.Copy(w.ResponseRecorder.Body, r)
}

// plainWriter has no optional interface at all.
type plainWriter struct{ h http.Header }

func (w *plainWriter) Header() http.Header         { return w.h }
func (w *plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *plainWriter) WriteHeader(int)             {}

// Defect 9: the middleware hid the flush errors of the writer it wraps, and
// its optional interfaces.
func TestMiddlewareKeepsTheWritersOptionalInterfaces(t *testing.T) {
	e := newEnv(t)
	t.Run("flush error", func(t *testing.T) {
		w := &flushErrWriter{ResponseRecorder: httptest.NewRecorder()}
		e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			assert.ErrorIs(t, http.NewResponseController(w).Flush(), errBrokenPipe)
			rf, ok := w.(io.ReaderFrom)
			require.True(t, ok, "io.ReaderFrom kept (sendfile)")
			_, err := rf.ReadFrom(strings.NewReader("file"))
			assert.NoError(t, err)
		})).ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
		assert.True(t, w.readFrom)
		assert.Equal(t, "file", w.Body.String())
	})
	t.Run("no optional interface", func(t *testing.T) {
		e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			assert.ErrorIs(t, http.NewResponseController(w).Flush(), http.ErrNotSupported)
			_, isFlusher := w.(http.Flusher)
			assert.False(t, isFlusher, "no Flusher where the writer has none")
			_, isHijacker := w.(http.Hijacker)
			assert.False(t, isHijacker)
		})).ServeHTTP(&plainWriter{h: http.Header{}}, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
	})
}

// Defect 10: a mark after Discard is ignored, as documented, not counted as
// a render-site bug.
func TestMarkAfterDiscardIsIgnored(t *testing.T) {
	e := newEnv(t)
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("pat"))
	require.NoError(t, err)
	scope.Discard()
	assert.NoError(t, exposure.MarkRendered(ctx, flagKey))
	assert.Zero(t, e.tracker.Stats().Counts[exposure.StageUnassignedMark])
}

// An id over Mixpanel's 255-byte limit (a forged cookie of a megabyte) is
// refused at assignment: counted, logged once, never queued.
func TestOverlongIDsAreRefusedAtAssignment(t *testing.T) {
	logs := &lockedbuf.Buffer{}
	events := &eventLog{}
	e := newEnv(t, exposure.WithLogger(newTextLogger(logs)), exposure.WithObserver(events))
	long := strings.Repeat("x", 900_000)
	for _, attrs := range []map[string]any{
		{exposure.AttributeUserID: long},
		{exposure.AttributeDeviceID: long},
		nil, // the targeting key itself
	} {
		ctx, scope := e.tracker.Scope(t.Context())
		_, err := e.client.StringValue(ctx, flagKey, "classic", openfeature.NewEvaluationContext(long, attrs))
		require.NoError(t, err)
		assert.ErrorIs(t, exposure.MarkRendered(ctx, flagKey), exposure.ErrNotAssigned)
		require.NoError(t, scope.Commit(ctx))
	}
	st := e.tracker.Stats()
	assert.Equal(t, uint64(3), st.Counts[exposure.StageSkipped])
	assert.Zero(t, st.Counts[exposure.StageAssigned])
	for _, ev := range events.of(exposure.StageSkipped) {
		assert.ErrorContains(t, ev.Err, "over 255")
	}
	assert.Equal(t, 1, countLines(logs.String(), "over Mixpanel's limit"))
	assert.Less(t, len(logs.String()), 2000, "the log does not quote the id")

	a := exposure.Assignment{FlagKey: flagKey, Experiment: "Checkout Redesign", Variant: "b", Identity: exposure.Identity{DistinctID: long}}
	assert.ErrorContains(t, e.tracker.Confirm(t.Context(), a), "over 255")
}

// Flush reports the exposures that failed for good while it waited, even
// when the sink fails them before the flush is registered as waiting.
func TestFlushReportsWhatFailedDuringIt(t *testing.T) {
	permanent := func([]exposure.Exposure) error { return errors.New("400 rejected") }
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{permanent, permanent, permanent}}
	e := newEnv(t, exposure.WithSink(sink, exposure.WithFlushInterval(time.Hour)))
	for i := range 3 {
		commitUsers(t, e.tracker, e, 1, fmt.Sprint("rejected-", i))
		err := e.tracker.Flush(t.Context())
		require.ErrorIs(t, err, exposure.ErrUndelivered, "flush %d", i)
		assert.ErrorContains(t, err, "1 exposure(s) failed for good")
	}
}

// A queue is bounded by bytes as well as by count: exposures whose
// evaluation context carries a large attribute (a cookie) stop being queued
// once the bytes are reached, and are counted as dropped.
func TestQueueIsBoundedByBytes(t *testing.T) {
	stalled := &gatedSink{gate: make(chan struct{}), rec: exposuretest.NewRecorder()}
	t.Cleanup(func() { close(stalled.gate) })
	e := newEnv(t, exposure.WithSink(stalled, exposure.WithQueueBytes(256<<10), exposure.WithFlushInterval(time.Hour)))
	cookie := strings.Repeat("c", 20<<10)
	for i := range 40 {
		ctx, scope := e.tracker.Scope(t.Context())
		ec := openfeature.NewEvaluationContext(fmt.Sprint("big-", i), map[string]any{"cookie": cookie})
		_, err := e.client.StringValue(ctx, flagKey, "classic", ec)
		require.NoError(t, err)
		require.NoError(t, exposure.MarkRendered(ctx, flagKey))
		require.NoError(t, scope.Commit(ctx))
	}
	st := e.tracker.Stats().Sinks[1]
	assert.LessOrEqual(t, st.Counts[exposure.StageQueued], uint64(256/20), "at most 256 KiB of 20 KiB exposures")
	assert.Equal(t, uint64(40), st.Counts[exposure.StageQueued]+st.Counts[exposure.StageDropped])
	assert.Equal(t, uint64(40), e.tracker.Stats().Sinks[0].Counts[exposure.StageQueued], "the recorder's queue is not affected")
}

// A Send that returns after Close gave up on it is reported through the
// Tracker's logger and not counted twice: Close already counted it
// undelivered.
func TestALateSendAfterCloseIsLoggedNotCounted(t *testing.T) {
	logs := &lockedbuf.Buffer{}
	sink := &wedgedSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	e := newEnv(t, exposure.WithLogger(newTextLogger(logs)),
		exposure.WithSink(sink, exposure.WithFlushInterval(time.Millisecond), exposure.WithBatchSize(1)))
	commitUsers(t, e.tracker, e, 1, "late")
	<-sink.entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, e.tracker.Close(ctx), exposure.ErrUndelivered)
	close(sink.release) // the wedged Send returns nil: delivered, after all
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "delivered exposures after Close gave up")
	}, 5*time.Second, 5*time.Millisecond)
	st := e.tracker.Stats().Sinks[1]
	assert.Equal(t, uint64(1), st.Counts[exposure.StageUndelivered])
	assert.Zero(t, st.Counts[exposure.StageDelivered])
}
