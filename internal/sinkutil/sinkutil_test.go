package sinkutil_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/sinkutil"
)

func TestSendEach(t *testing.T) {
	batch := make([]exposure.Exposure, 4)
	for i := range batch {
		batch[i].InsertID = string(rune('a' + i))
	}
	ctx, cancel := context.WithCancel(t.Context())
	var sent []string
	err := sinkutil.SendEach(ctx, batch, func(_ context.Context, e *exposure.Exposure) error {
		sent = append(sent, e.InsertID)
		switch e.InsertID {
		case "b":
			return errors.New("rejected")
		case "c":
			cancel() // the rest is not reached
		}
		return nil
	})
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []string{"a", "b", "c"}, sent)
	require.Len(t, be.Failed, 2)
	require.Contains(t, be.Failed, 1)
	retryable, _ := exposure.IsRetryable(be.Failed[1])
	assert.False(t, retryable, "the refusal is the sender's, not retryable")
	assert.EqualError(t, be.Failed[1], "rejected")
	require.Contains(t, be.Failed, 3)
	retryable, _ = exposure.IsRetryable(be.Failed[3])
	assert.True(t, retryable, "not reached before the context ended: worth sending again")
	assert.ErrorIs(t, be.Failed[3], context.Canceled)
}

func TestSendEachAllDelivered(t *testing.T) {
	batch := make([]exposure.Exposure, 3)
	calls := 0
	err := sinkutil.SendEach(t.Context(), batch, func(context.Context, *exposure.Exposure) error {
		calls++
		return nil
	})
	assert.NoError(t, err)
	assert.Equal(t, 3, calls)
}
