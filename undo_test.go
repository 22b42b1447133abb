package exposure_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// renderFor serves user one page: evaluate, mark, commit.
func renderFor(t *testing.T, e *env, user string) {
	t.Helper()
	ctx, scope := e.tracker.Scope(context.Background())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx(user))
	require.NoError(t, err)
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	require.NoError(t, scope.Commit(ctx))
}

// A crossover that a full queue dropped is sent to that sink on a later
// render, and the variant sent before is not sent again: taking the claim
// back restores what it replaced. (It used to forget only the subject's
// entry, leaving the record that said the new variant was sent: the sink
// never got b, and got a twice.)
func TestDroppedCrossoverIsSentOnALaterRender(t *testing.T) {
	small := &gatedSink{gate: make(chan struct{}), rec: exposuretest.NewRecorder()}
	events := &eventLog{}
	e := newEnv(t, exposure.WithObserver(events), exposure.WithSink(small, exposure.WithQueueSize(1),
		exposure.WithBatchSize(1), exposure.WithSenders(1), exposure.WithFlushInterval(time.Millisecond)))
	variant := "a"
	e.rules.variantFor = func(user string) string {
		if user == "x" {
			return variant
		}
		return "a"
	}
	renderFor(t, e, "x") // x sees a: queued to both sinks
	// fill the small sink's queue
	for i := 0; len(events.of(exposure.StageDropped)) == 0 && i < 100; i++ {
		renderFor(t, e, fmt.Sprint("filler-", i))
	}
	require.NotEmpty(t, events.of(exposure.StageDropped))
	variant = "b"
	renderFor(t, e, "x") // crossover to b: dropped by the small sink, claim released
	drops := 0
	for _, ev := range events.of(exposure.StageDropped) {
		if ev.Exposure.Identity.DistinctID == "x" {
			drops++
		}
	}
	require.Equal(t, 1, drops, "x's b was dropped by the small sink")
	close(small.gate)
	require.NoError(t, e.tracker.Flush(t.Context()))

	variant = "a"
	renderFor(t, e, "x")
	variant = "b"
	renderFor(t, e, "x")
	require.NoError(t, e.tracker.Flush(t.Context()))

	got := map[string]int{}
	for _, x := range small.rec.Exposures() {
		if x.Identity.DistinctID == "x" {
			got[x.Variant]++
		}
	}
	assert.Equal(t, 1, got["Variant B"], "the sink that dropped b gets it on a later render")
	assert.Equal(t, 1, got["Variant A"], "a is sent once a window")
}
