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
		first, _, err := d.Claim(t.Context(), fmt.Sprint("user-", i), "v", time.Hour)
		require.NoError(t, err)
		require.True(t, first)
	}
	assert.LessOrEqual(t, d.size(), capacity)
	assert.Greater(t, d.size(), capacity/2)
	// The newest key is still remembered.
	first, _, _ := d.Claim(t.Context(), fmt.Sprint("user-", 20*capacity-1), "v", time.Hour)
	assert.False(t, first)
}

// A deduper never holds more than its capacity, small ones included (the
// table's own tests check that it holds exactly that many).
func TestMemoryDeduperHonoursItsCapacity(t *testing.T) {
	for _, capacity := range []int{1, 7, 8, 100, 640, 1000} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			d := newMemoryDeduper(capacity)
			for h := range uint64(3 * capacity) {
				d.claimHash(h*0x9e3779b97f4a7c15, 0, time.Hour)
			}
			assert.Equal(t, capacity, d.size())
		})
	}
}

// One entry per subject and experiment holds the latest variant: the same
// variant again is a duplicate, another is a crossover, sent only if that
// variant was not already sent within the window.
func TestMemoryDeduperDetectsCrossovers(t *testing.T) {
	d := newMemoryDeduper(100)
	now := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return now }
	ctx := t.Context()
	for _, step := range []struct {
		variant          string
		first, crossover bool
	}{
		{"a", true, false},
		{"a", false, false},
		{"b", true, true},
		{"b", false, false},
		{"a", false, true}, // back to a variant exposed within the window: counted, not sent again
		{"b", false, true},
		{"c", true, true},
		{"c", false, false},
	} {
		first, crossover, err := d.Claim(ctx, "subject/experiment", step.variant, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, step.first, first, "variant %s", step.variant)
		assert.Equal(t, step.crossover, crossover, "variant %s", step.variant)
	}
	// After the window a change of variant is no crossover.
	_, _, _ = d.Claim(ctx, "short", "a", time.Millisecond)
	now = now.Add(2 * time.Millisecond)
	first, crossover, _ := d.Claim(ctx, "short", "b", time.Hour)
	assert.True(t, first)
	assert.False(t, crossover)
}

func TestMemoryDeduperReportsLiveEvictions(t *testing.T) {
	d := newMemoryDeduper(1)
	now := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return now }
	_, _, evicted := d.claimHash(1, 0, time.Hour)
	assert.False(t, evicted)
	_, _, evicted = d.claimHash(2, 0, time.Hour)
	assert.True(t, evicted, "the live key 1 was pushed out")
	_, _, evicted = d.claimHash(3, 0, time.Nanosecond)
	assert.True(t, evicted)
	now = now.Add(time.Millisecond)
	_, _, evicted = d.claimHash(4, 0, time.Hour)
	assert.False(t, evicted, "an expired key's eviction costs nothing")
}
