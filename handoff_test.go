package exposure_test

import (
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A handed-off assignment is left to the party it was handed to: the
// scope's commit does not send it even though it is marked, and Confirm
// sends it once; a second confirmation is a duplicate.
func TestHandOffThenConfirm(t *testing.T) {
	e := newEnv(t)
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("hal"))
	require.NoError(t, err)
	a, err := scope.HandOff(flagKey)
	require.NoError(t, err)
	assert.Equal(t, "Variant A", a.Variant)
	assert.Equal(t, "a", a.ProviderVariant)
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	require.NoError(t, scope.Commit(ctx))
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures(), "the commit leaves a handed-off exposure to its party")

	require.NoError(t, e.tracker.Confirm(t.Context(), a))
	require.NoError(t, e.tracker.Confirm(t.Context(), a))
	e.settle(t)
	got := e.recorder.Exposures()
	require.Len(t, got, 1)
	assert.Equal(t, "hal", got[0].Identity.DistinctID)
	st := e.tracker.Stats()
	assert.Equal(t, uint64(1), st.Counts[exposure.StageHandedOff])
	assert.Equal(t, uint64(1), st.Counts[exposure.StageCommitted])
	assert.Equal(t, uint64(1), st.Counts[exposure.StageDuplicate])
}

// A discarded scope keeps its handed-off assignment with its party.
func TestDiscardLeavesHandedOffAssignment(t *testing.T) {
	e := newEnv(t)
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("ida"))
	require.NoError(t, err)
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	_, err = scope.HandOff(flagKey)
	require.NoError(t, err)
	scope.Discard()
	assert.Zero(t, e.tracker.Stats().Counts[exposure.StageDiscarded])
}

func TestHandOffErrors(t *testing.T) {
	e := newEnv(t)
	_, scope := e.tracker.Scope(t.Context())
	_, err := scope.HandOff("never-evaluated")
	require.ErrorIs(t, err, exposure.ErrNotAssigned)
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageUnassignedMark])

	var none *exposure.Scope
	_, err = none.HandOff(flagKey)
	assert.ErrorIs(t, err, exposure.ErrNoScope)
}

func TestConfirmErrors(t *testing.T) {
	e := newEnv(t)
	complete := exposure.Assignment{FlagKey: flagKey, Experiment: "Checkout Redesign", Variant: "Variant A",
		Identity: exposure.Identity{DistinctID: "jo"}}
	tests := []struct {
		name    string
		edit    func(*exposure.Assignment)
		missing string
	}{
		{"no flag key", func(a *exposure.Assignment) { a.FlagKey = "" }, "FlagKey"},
		{"no experiment", func(a *exposure.Assignment) { a.Experiment = "" }, "Experiment"},
		{"no variant", func(a *exposure.Assignment) { a.Variant = "" }, "Variant"},
		{"no subject", func(a *exposure.Assignment) { a.Identity.DistinctID = "" }, "Identity.DistinctID"},
		{"a related assignment without a variant", func(a *exposure.Assignment) {
			a.Related = []exposure.Assignment{{FlagKey: flagKey, Experiment: "Holdout", Identity: a.Identity}}
		}, "related assignment 0 needs"},
		{"a related assignment of another subject", func(a *exposure.Assignment) {
			a.Related = []exposure.Assignment{{FlagKey: flagKey, Experiment: "Holdout", Variant: "general",
				Identity: exposure.Identity{DistinctID: "someone else"}}}
		}, "related assignment 0 is of another subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := complete
			tt.edit(&a)
			err := e.tracker.Confirm(t.Context(), a)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.missing)
		})
	}
	assert.Zero(t, e.tracker.Stats().Counts[exposure.StageCommitted])

	require.NoError(t, e.tracker.Close(t.Context()))
	assert.ErrorIs(t, e.tracker.Confirm(t.Context(), complete), exposure.ErrClosed)
}
