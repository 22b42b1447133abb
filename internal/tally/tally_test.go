package tally_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/tally"
)

func TestIndexKeepsFirstAddedOrderAndItsLimit(t *testing.T) {
	for _, n := range []int{3, 20} { // below and above the scan limit
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := tally.NewIndex[int](n)
			for i := range n {
				v := i
				require.Same(t, &v, x.Add(fmt.Sprint("k", i), &v))
			}
			other := -1
			assert.Nil(t, x.Add("one too many", &other), "full")
			again := 99
			assert.Equal(t, 0, *x.Add("k0", &again), "an existing key keeps its account")
			assert.Equal(t, n, x.Len())
			for i := range n {
				require.NotNil(t, x.Find(fmt.Sprint("k", i)))
				assert.Equal(t, i, *x.Find(fmt.Sprint("k", i)))
				assert.Equal(t, i, *x.All()[i], "insertion order")
			}
			assert.Nil(t, x.Find("absent"))
		})
	}
}

// Concurrent adders of one key all get the one account.
func TestIndexConcurrentAddsAgree(t *testing.T) {
	x := tally.NewIndex[int](64)
	got := make([]*int, 32)
	var wg sync.WaitGroup
	for g := range got {
		wg.Go(func() {
			for k := range 40 {
				x.Add(fmt.Sprint("k", k), new(int))
			}
			got[g] = x.Find("k7")
		})
	}
	wg.Wait()
	for _, p := range got {
		assert.Same(t, got[0], p)
	}
	assert.Equal(t, 40, x.Len())
}

func assigned(experiment, variant, user string) *exposure.Event {
	return &exposure.Event{Stage: exposure.StageAssigned, Count: 1, Exposure: exposure.Exposure{Assignment: exposure.Assignment{
		FlagKey: "f", Experiment: experiment, Variant: variant, Identity: exposure.Identity{DistinctID: user}}}}
}

func TestTableRecordsByVariantWithinBounds(t *testing.T) {
	inits := 0
	tab := tally.NewTable(func(experiment, variant string, ext *string) {
		inits++
		*ext = experiment + "/" + variant
	})
	for _, u := range []string{"ada", "grace", "ada"} {
		require.NotNil(t, tab.Record(assigned("E", "A", u)))
	}
	v := tab.Record(&exposure.Event{Stage: exposure.StageCommitted, Count: 1, Exposure: exposure.Exposure{Assignment: exposure.Assignment{
		Experiment: "E", Variant: "A", Identity: exposure.Identity{DistinctID: "ada"}}}})
	require.NotNil(t, v)
	assert.Equal(t, "E/A", v.Ext)
	assert.Equal(t, 1, inits)
	assert.Equal(t, uint64(3), v.Counts.Load(exposure.StageAssigned))
	assert.Equal(t, uint64(2), v.SubjectsAssigned.Estimate())
	assert.Equal(t, uint64(1), v.SubjectsExposed.Estimate())

	// Events about no variant are not per-variant.
	assert.Nil(t, tab.Record(&exposure.Event{Stage: exposure.StageDelivered, Count: 5, Sink: "s"}))
	assert.Nil(t, tab.Record(&exposure.Event{Stage: exposure.StageSkipped, Count: 1, Err: exposure.ErrNoScope}))
	assert.Nil(t, tab.Record(&exposure.Event{Stage: exposure.StageSkipped, Count: 1, Err: fmt.Errorf("identity: %w", exposure.ErrNoSubject)}))
	assert.Equal(t, uint64(1), tab.Skipped.Unscoped.Load())
	assert.Equal(t, uint64(1), tab.Skipped.NoSubject.Load())

	// Past the bounds: untracked.
	for i := range tally.MaxVariants + 2 {
		tab.Record(assigned("E", fmt.Sprint("v", i), "u"))
	}
	assert.Equal(t, uint64(3), tab.Untracked(), "A and 15 more fit; 3 do not")
	for i := range tally.MaxExperiments + 1 {
		tab.Record(assigned(fmt.Sprint("e", i), "A", "u"))
	}
	assert.Equal(t, uint64(3+2), tab.Untracked(), "E and 127 more fit; 2 do not")
	assert.Len(t, tab.Experiments(), tally.MaxExperiments)
}

func TestTableCountsUnassignedMarksByFlag(t *testing.T) {
	tab := tally.NewTable[struct{}](nil)
	mark := func(flag string) {
		tab.Record(&exposure.Event{Stage: exposure.StageUnassignedMark, Count: 1,
			Exposure: exposure.Exposure{Assignment: exposure.Assignment{FlagKey: flag}}})
	}
	for i := range tally.MaxFlags + 3 {
		mark(fmt.Sprint("flag-", i))
	}
	mark("flag-0")
	got := tab.UnassignedMarks()
	assert.Equal(t, uint64(2), got["flag-0"])
	assert.Equal(t, uint64(3), got[tally.OtherFlags])
	assert.Len(t, got, tally.MaxFlags+1)
}

func TestPending(t *testing.T) {
	var s tally.Stages
	s.Add(exposure.StageQueued, 10)
	s.Add(exposure.StageDelivered, 4)
	s.Add(exposure.StageFailed, 1)
	s.Add(exposure.StageUndelivered, 2)
	s.Add(exposure.StageRetried, 7) // a retry settles nothing
	assert.Equal(t, uint64(3), tally.Pending(s.Load))
	assert.Equal(t, map[exposure.Stage]uint64{exposure.StageQueued: 10, exposure.StageDelivered: 4,
		exposure.StageFailed: 1, exposure.StageUndelivered: 2, exposure.StageRetried: 7}, s.Map())
}

// The stages of a failed request, a bot's mark and a crossover are about
// an assignment: counted per variant, and summed per experiment by Sum.
func TestTableCountsTheCheckStagesPerVariant(t *testing.T) {
	tab := tally.NewTable[struct{}](nil)
	stages := []exposure.Stage{exposure.StageFailedRender, exposure.StageFailedRequest, exposure.StageBot, exposure.StageCrossover}
	for i, s := range stages {
		require.True(t, tally.AboutVariant(s), "%v", s)
		for _, variant := range []string{"A", "B"} {
			ev := assigned("E", variant, "u")
			ev.Stage, ev.Count = s, i+1
			require.NotNil(t, tab.Record(ev))
		}
	}
	e := tab.Find("E")
	require.NotNil(t, e)
	for i, s := range stages {
		for _, v := range e.Variants.All() {
			assert.Equal(t, uint64(i+1), v.Counts.Load(s), "%s %v", v.Name, s)
		}
		assert.Equal(t, uint64(2*(i+1)), e.Sum(s), "%v", s)
	}
	assert.Zero(t, e.Sum(exposure.StageCommitted))
	for _, s := range []exposure.Stage{exposure.StageEvaluated, exposure.StageEvicted, exposure.StageDelivered, exposure.StageClosed} {
		assert.False(t, tally.AboutVariant(s), "%v", s)
	}
}
