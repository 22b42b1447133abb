package exposure_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The events an Observer receives and Stats count the same thing: after a
// workload that goes through every request-path stage, the events of each
// stage, weighted by their Count, equal Stats().Counts.
func TestObserverEventsAgreeWithStats(t *testing.T) {
	events := &eventLog{}
	e := newEnv(t, exposure.WithObserver(events))
	e.rules.variantFor = func(user string) string {
		if len(user)%2 == 0 {
			return "b"
		}
		return "a"
	}
	srv := e.server(t)
	for i := range 40 {
		user := fmt.Sprintf("user-%d", i%25) // some subjects come back: duplicates
		for _, path := range []string{"/home", "/checkout", "/fail"} {
			get(t, srv, path+"?user="+user)
		}
	}
	ctx, scope := e.tracker.Scope(t.Context())
	_, _ = e.client.StringValue(ctx, flagKey, "classic", userCtx("handed-off"))
	_, err := scope.HandOff(flagKey)
	require.NoError(t, err)
	_, err = scope.HandOff("not-assigned")
	require.ErrorIs(t, err, exposure.ErrNotAssigned)
	_, _ = e.client.StringValue(t.Context(), flagKey, "classic", userCtx("unscoped"))
	dctx, discarded := e.tracker.Scope(t.Context())
	_, _ = e.client.StringValue(dctx, flagKey, "classic", userCtx("discarded"))
	require.NoError(t, exposure.MarkRendered(dctx, flagKey))
	discarded.Discard()
	for _, path := range []string{"/error", "/checkout"} {
		_, _ = getAs(t, srv, path+"?user=crawled", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
	}
	e.rules.variantFor = func(string) string { return "b" } // user-10 (was a) crosses over
	get(t, srv, "/checkout?user=user-10")
	_, _ = e.client.BooleanValue(ctx, "disabled-exp", false, userCtx("skipped"))
	require.NoError(t, scope.Commit(ctx))
	e.settle(t)
	require.NoError(t, e.tracker.Close(t.Context()))

	st := e.tracker.Stats()
	got := events.counts()
	for stage, n := range st.Counts {
		assert.Equal(t, n, got[stage], "stage %v", stage)
	}
	for stage, n := range got {
		assert.Equal(t, n, st.Counts[stage], "stage %v", stage)
	}
	for _, stage := range []exposure.Stage{
		exposure.StageEvaluated, exposure.StageSkipped, exposure.StageAssigned, exposure.StageMarked,
		exposure.StageUnassignedMark, exposure.StageHandedOff, exposure.StageDiscarded,
		exposure.StageFailedRender, exposure.StageFailedRequest, exposure.StageBot, exposure.StageCrossover,
		exposure.StageCommitted, exposure.StageDuplicate, exposure.StageQueued, exposure.StageDelivered,
		exposure.StageClosed,
	} {
		assert.NotZero(t, st.Counts[stage], "the workload should reach stage %v", stage)
	}
	assert.Equal(t, uint64(25+1), st.Counts[exposure.StageCommitted], "one exposure per subject, and user-10's crossover")
	assert.Equal(t, st.Counts[exposure.StageQueued], st.Sinks[0].Counts[exposure.StageQueued])
	closed := events.of(exposure.StageClosed)
	require.Len(t, closed, 1)
	last := events.events[len(events.events)-1]
	assert.Equal(t, exposure.StageClosed, last.Stage, "StageClosed comes last")
}

// Evaluating one flag three times in one scope is one assignment, in Stats
// and in the events.
func TestRepeatedEvaluationInOneScopeIsOneAssignment(t *testing.T) {
	events := &eventLog{}
	e := newEnv(t, exposure.WithObserver(events))
	ctx, scope := e.tracker.Scope(t.Context())
	for range 3 {
		_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("fay"))
		require.NoError(t, err)
	}
	require.NoError(t, scope.Commit(ctx))
	assert.Equal(t, uint64(3), e.tracker.Stats().Counts[exposure.StageEvaluated])
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageAssigned])
	assigned := events.of(exposure.StageAssigned)
	require.Len(t, assigned, 1)
	assert.Equal(t, "Checkout Redesign", assigned[0].Exposure.Experiment)
	assert.Equal(t, "Variant A", assigned[0].Exposure.Variant)
	assert.Equal(t, "fay", assigned[0].Exposure.Identity.DistinctID)
}

func TestStageNames(t *testing.T) {
	assert.Equal(t, "unassigned_mark", exposure.StageUnassignedMark.String())
	assert.Equal(t, "closed", exposure.StageClosed.String())
	assert.Equal(t, "stage(200)", exposure.Stage(200).String())
}

// Without an observer, the request path of a duplicate (mark, commit,
// claim) allocates nothing: the event is never built.
func TestNoObserverNoAllocation(t *testing.T) {
	e := newEnv(t)
	const runs = 100
	ctxs := make([]context.Context, runs+2) // scope 0, and AllocsPerRun warms up once
	scopes := make([]*exposure.Scope, runs+2)
	for i := range ctxs {
		ctxs[i], scopes[i] = e.tracker.Scope(t.Context())
		_, err := e.client.StringValue(ctxs[i], flagKey, "classic", userCtx("gus"))
		require.NoError(t, err)
	}
	require.NoError(t, exposure.MarkRendered(ctxs[0], flagKey))
	require.NoError(t, scopes[0].Commit(ctxs[0])) // gus is exposed: the others are duplicates
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		i++
		_ = exposure.MarkRendered(ctxs[i], flagKey)
		_ = scopes[i].Commit(ctxs[i])
	})
	assert.Zero(t, allocs)
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageCommitted])
	assert.Equal(t, uint64(runs+1), e.tracker.Stats().Counts[exposure.StageDuplicate])
}
