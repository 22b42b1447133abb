package exposure_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBatchErrorNamesTheFirstFailuresInBatchOrder(t *testing.T) {
	tests := []struct {
		name   string
		failed map[int]error
		want   string
	}{
		{"one", map[int]error{4: errors.New("too large")}, "1 exposure(s) of the batch failed; #4: too large"},
		{"sorted by index", map[int]error{9: errors.New("c"), 2: errors.New("a"), 5: errors.New("b")},
			"3 exposure(s) of the batch failed; #2: a; #5: b; #9: c"},
		{"more than three", map[int]error{7: errors.New("d"), 1: errors.New("a"), 3: errors.New("b"), 5: errors.New("c"), 0: errors.New("z")},
			"5 exposure(s) of the batch failed; #0: z; #1: a; #3: b; and 2 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // map order varies from one iteration to the next
				assert.EqualError(t, &exposure.BatchError{Failed: tt.failed}, tt.want)
			}
		})
	}
}

// A BatchError's retryable exposures are sent again in their batch
// order, and the others fail with the error of the first of them.
func TestBatchErrorRetriesInBatchOrder(t *testing.T) {
	sink := &scriptedSink{script: []func([]exposure.Exposure) error{
		func(batch []exposure.Exposure) error {
			failed := map[int]error{}
			for i := range batch {
				switch {
				case i%3 == 0:
					failed[i] = exposure.Retryable(fmt.Errorf("busy %d", i), 0)
				case i%3 == 1:
					failed[i] = fmt.Errorf("refused %d", i)
				}
			}
			failed[len(batch)] = errors.New("past the batch: ignored")
			failed[-1] = errors.New("before the batch: ignored")
			return &exposure.BatchError{Failed: failed}
		},
	}}
	events := &eventLog{}
	e := newEnv(t, exposure.WithObserver(events), exposure.WithSink(sink, fastRetry, exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 30, "order")
	require.ErrorIs(t, e.tracker.Flush(t.Context()), exposure.ErrUndelivered)

	attempts := sink.Attempts()
	require.Len(t, attempts, 2)
	require.Len(t, attempts[0], 30)
	var want []string
	for i := 0; i < 30; i += 3 {
		want = append(want, attempts[0][i].InsertID)
	}
	var got []string
	for _, x := range attempts[1] {
		got = append(got, x.InsertID)
	}
	assert.Equal(t, want, got, "the retry holds the retryable exposures, in batch order")

	st := e.tracker.Stats().Sinks[1]
	assert.Equal(t, uint64(10+10), st.Counts[exposure.StageDelivered], "10 at once, 10 on retry")
	assert.Equal(t, uint64(10), st.Counts[exposure.StageFailed])
	assert.Equal(t, uint64(10), st.Counts[exposure.StageRetried])
	var failedEvents []exposure.Event
	for _, ev := range events.of(exposure.StageFailed) {
		if ev.Sink == st.Name {
			failedEvents = append(failedEvents, ev)
		}
	}
	require.Len(t, failedEvents, 1)
	assert.EqualError(t, failedEvents[0].Err, "refused 1", "the error of the first refused in the batch")
}

// idleSink keeps "connections": Close drops them once delivery has stopped.
type idleSink struct {
	mu        sync.Mutex
	sends     int
	closed    bool
	sendAfter bool // a Send came after CloseIdleConnections
}

func (s *idleSink) Send(context.Context, []exposure.Exposure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends++
	s.sendAfter = s.sendAfter || s.closed
	return nil
}

func (s *idleSink) CloseIdleConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func TestCloseClosesASinksIdleConnectionsAfterDelivery(t *testing.T) {
	sink := &idleSink{}
	e := newEnv(t, exposure.WithSink(sink, exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 3, "idle")
	sink.mu.Lock()
	require.False(t, sink.closed, "not before Close")
	sink.mu.Unlock()

	require.NoError(t, e.tracker.Close(t.Context()))
	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.True(t, sink.closed)
	assert.Equal(t, 1, sink.sends, "what was queued was sent first")
	assert.False(t, sink.sendAfter)
}

// A sink whose destination wants more patience than the default (2s
// doubling to 60s, for an hour): retries from 5 seconds up to 5 minutes
// apart, for six hours. A schedule that makes no sense is refused.
func ExampleWithBackoff() {
	sink := exposuretest.NewRecorder()
	tracker, err := exposure.NewTracker(
		exposure.WithSink(sink, exposure.WithBackoff(5*time.Second, 5*time.Minute), exposure.WithMaxRetryAge(6*time.Hour)),
	)
	if err != nil {
		panic(err)
	}
	fmt.Println(tracker.Close(context.Background()))

	_, err = exposure.NewTracker(
		exposure.WithSink(sink, exposure.WithBackoff(time.Minute, time.Second), exposure.WithMaxRetryAge(0)),
	)
	fmt.Println(errors.Is(err, exposure.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// exposure: invalid configuration: backoff max (1s) is below min (1m0s)
	// exposure: invalid configuration: max retry age must be positive, got 0s
}
