package exposuretest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
)

func exposures(n int) []exposure.Exposure {
	b := make([]exposure.Exposure, n)
	for i := range b {
		b[i] = exposure.Exposure{
			Assignment: exposure.Assignment{Experiment: "Checkout Redesign", Variant: "one-page", Identity: exposure.Identity{DistinctID: fmt.Sprintf("u%d", i)}},
			InsertID:   fmt.Sprint(i),
		}
	}
	return b
}

func TestRecorderIsNamedInStats(t *testing.T) {
	tr, err := exposure.NewTracker(exposure.WithSink(exposuretest.NewRecorder()))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, tr.Close(context.Background())) })
	require.Len(t, tr.Stats().Sinks, 1)
	assert.Equal(t, "recorder", tr.Stats().Sinks[0].Name)
}

func TestRecorderWaitsForConcurrentSends(t *testing.T) {
	rec := exposuretest.NewRecorder()
	assert.False(t, rec.WaitFor(1, 10*time.Millisecond), "nothing sent yet")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { assert.NoError(t, rec.Send(context.Background(), exposures(3))) })
	}
	assert.True(t, rec.WaitFor(30, 5*time.Second))
	wg.Wait()
	assert.Equal(t, 30, rec.Len())
	assert.Len(t, rec.Exposures(), 30)
	assert.False(t, rec.WaitFor(31, 10*time.Millisecond))

	got := rec.Exposures()
	got[0].Variant = "changed"
	assert.Equal(t, "one-page", rec.Exposures()[0].Variant, "Exposures returns a copy")

	rec.Reset()
	assert.Zero(t, rec.Len())
	assert.Empty(t, rec.Exposures())
}

// A Recorder keeps what it is sent, for a test to read back.
func ExampleRecorder() {
	rec := exposuretest.NewRecorder()
	_ = rec.Send(context.Background(), exposures(2)) // as the Tracker's delivery does
	if !rec.WaitFor(2, time.Second) {
		fmt.Println("timed out")
	}
	for _, e := range rec.Exposures() {
		fmt.Println(e.Identity.DistinctID, e.Experiment, e.Variant)
	}
	// Output:
	// u0 Checkout Redesign one-page
	// u1 Checkout Redesign one-page
}

// The recorder keeps an exposure whole: the provider's properties too.
func TestRecorderKeepsProperties(t *testing.T) {
	rec := exposuretest.NewRecorder()
	x := exposures(1)
	x[0].Properties = map[string]any{"$experiment_id": "exp-1", "n": int64(3)}
	require.NoError(t, rec.Send(context.Background(), x))
	got := rec.Exposures()
	require.Len(t, got, 1)
	assert.Equal(t, map[string]any{"$experiment_id": "exp-1", "n": int64(3)}, got[0].Properties)
}
