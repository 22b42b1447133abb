package exposure_test

import (
	"context"
	"errors"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSendEach(t *testing.T) {
	batch := make([]exposure.Exposure, 4)
	for i := range batch {
		batch[i].InsertID = string(rune('a' + i))
	}
	ctx, cancel := context.WithCancel(t.Context())
	var sent []string
	err := exposure.SendEach(ctx, batch, func(_ context.Context, e *exposure.Exposure) error {
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
	require.Len(t, be.Failures, 2)
	assert.Equal(t, 1, be.Failures[0].Index)
	retryable, _ := exposure.IsRetryable(be.Failures[0].Err)
	assert.False(t, retryable)
	assert.Equal(t, 3, be.Failures[1].Index)
	retryable, _ = exposure.IsRetryable(be.Failures[1].Err)
	assert.True(t, retryable)

	assert.NoError(t, exposure.SendEach(t.Context(), batch, func(context.Context, *exposure.Exposure) error { return nil }))
}
