package exposure

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryDeduperIsBounded(t *testing.T) {
	const capacity = 64 * 10 // ten per shard
	d := newMemoryDeduper(capacity)
	for i := range 20 * capacity {
		first, err := d.Claim(t.Context(), fmt.Sprint("user-", i), time.Hour)
		require.NoError(t, err)
		require.True(t, first)
	}
	assert.LessOrEqual(t, d.size(), capacity)
	assert.Greater(t, d.size(), capacity/2)
	// The newest key is still remembered.
	first, _ := d.Claim(t.Context(), fmt.Sprint("user-", 20*capacity-1), time.Hour)
	assert.False(t, first)
}

