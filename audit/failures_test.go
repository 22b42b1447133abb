package audit_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
)

// flakySink fails its first sends retryably, then refuses for good when
// refuse is set, else delivers.
type flakySink struct {
	name     string
	failures atomic.Int32 // retryable failures left
	refuse   atomic.Bool
}

func (s *flakySink) Name() string { return s.name }

func (s *flakySink) Send(context.Context, []exposure.Exposure) error {
	if s.failures.Add(-1) >= 0 {
		return exposure.Retryable(errors.New(s.name+": 503"), 0)
	}
	if s.refuse.Load() {
		return errors.New(s.name + ": 401 bad token")
	}
	return nil
}

// The audit shows when each sink last failed from the events it observed:
// a retried or failed batch sets it, a sink that never failed has none.
func TestSinkLastErrorAtIsWhenItLastFailed(t *testing.T) {
	retried := &flakySink{name: "retried"}
	retried.failures.Store(1)
	refused := &flakySink{name: "refused"}
	refused.refuse.Store(true)
	fast := exposure.WithBackoff(time.Millisecond, time.Millisecond)
	e := newEnv(t, checkout, nil,
		exposure.WithSink(retried, fast, exposure.WithFlushInterval(time.Hour)),
		exposure.WithSink(refused, fast, exposure.WithFlushInterval(time.Hour)))

	r := e.report(t)
	require.Len(t, r.Sinks, 3)
	for _, s := range r.Sinks {
		assert.Nil(t, s.LastErrorAt, "%s: no failure yet", s.Name)
	}

	before := time.Now()
	e.get(t, "/checkout?user=dave")
	require.ErrorIs(t, e.tracker.Flush(context.Background()), exposure.ErrUndelivered)
	after := time.Now()

	r = e.report(t)
	require.Len(t, r.Sinks, 3)
	recorder, gotRetried, gotRefused := r.Sinks[0], r.Sinks[1], r.Sinks[2]
	require.Equal(t, "retried", gotRetried.Name)
	require.Equal(t, "refused", gotRefused.Name)

	assert.Empty(t, recorder.LastError)
	assert.Nil(t, recorder.LastErrorAt, "the recorder never failed")
	for _, s := range []audit.Sink{gotRetried, gotRefused} {
		assert.Contains(t, s.LastError, s.Name+": ")
		if assert.NotNil(t, s.LastErrorAt, s.Name) {
			assert.False(t, s.LastErrorAt.Before(before), "%s: %v before %v", s.Name, s.LastErrorAt, before)
			assert.False(t, s.LastErrorAt.After(after), "%s: %v after %v", s.Name, s.LastErrorAt, after)
		}
	}
	assert.Equal(t, uint64(1), gotRetried.Counts[exposure.StageRetried])
	assert.Equal(t, uint64(1), gotRetried.Counts[exposure.StageDelivered])
	assert.Equal(t, uint64(1), gotRefused.Counts[exposure.StageFailed])

	page := e.get(t, "/debug/exposures")
	require.NotNil(t, gotRefused.LastErrorAt)
	assert.Contains(t, page, "refused: 401 bad token</span> <span class=\"muted\">at "+gotRefused.LastErrorAt.UTC().Format(time.RFC3339)+"</span>")
	assert.Equal(t, 1, strings.Count(page, "none</span></td></tr>"), "the recorder's last error: none")
}

// A failure the Auditor observes directly moves the time forward; events
// without an error, or of other stages, do not.
func TestSinkLastErrorAtFollowsTheEvents(t *testing.T) {
	sink := &flakySink{name: "flaky"}
	e := newEnv(t, checkout, nil, exposure.WithSink(sink, exposure.WithFlushInterval(time.Hour)))

	for _, ev := range []exposure.Event{
		{Stage: exposure.StageDelivered, Sink: "flaky", Count: 1},
		{Stage: exposure.StageFailed, Sink: "flaky", Count: 1}, // no error
		{Stage: exposure.StageSkipped, Count: 1, Err: exposure.ErrNoScope},
		{Stage: exposure.StageRetried, Sink: "other", Count: 1, Err: errors.New("503")},
	} {
		e.auditor.Observe(ev)
	}
	require.Nil(t, e.report(t).Sinks[1].LastErrorAt)

	e.auditor.Observe(exposure.Event{Stage: exposure.StageRetried, Sink: "flaky", Count: 2, Err: errors.New("503")})
	first := e.report(t).Sinks[1].LastErrorAt
	require.NotNil(t, first)
	time.Sleep(2 * time.Millisecond)
	e.auditor.Observe(exposure.Event{Stage: exposure.StageFailed, Sink: "flaky", Count: 1, Err: errors.New("400")})
	second := e.report(t).Sinks[1].LastErrorAt
	require.NotNil(t, second)
	assert.True(t, second.After(*first), "%v then %v", first, second)
}

// Recording a sink's failure costs no allocation once the sink was seen.
func TestObservingAFailureDoesNotAllocate(t *testing.T) {
	aud, err := audit.NewAuditor()
	require.NoError(t, err)
	ev := exposure.Event{Stage: exposure.StageRetried, Sink: "flaky", Count: 20, Err: errors.New("503")}
	aud.Observe(ev)
	assert.Zero(t, testing.AllocsPerRun(100, func() { aud.Observe(ev) }))
}
