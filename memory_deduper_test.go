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

// A deduper holds exactly its capacity, small ones included, and forgets
// none of the keys it holds.
func TestMemoryDeduperHonoursItsCapacity(t *testing.T) {
	for _, capacity := range []int{1, 7, 8, 100, 640, 1000} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			d := newMemoryDeduper(capacity)
			total := 0
			for i := range d.shards {
				total += d.shards[i].capacity
			}
			require.Equal(t, capacity, total, "shards share the capacity out exactly")
			// Fill shard by shard to its own capacity: every key is held.
			var held []uint64
			for h := uint64(0); len(held) < capacity; h += 0x9e3779b97f4a7c15 {
				s := d.shard(h)
				if len(s.expiries) < s.capacity {
					first, evicted := d.claimHash(h, time.Hour)
					require.True(t, first)
					require.False(t, evicted)
					held = append(held, h)
				}
			}
			assert.Equal(t, capacity, d.size())
			for _, h := range held {
				first, _ := d.claimHash(h, time.Hour)
				assert.False(t, first, "a held key is remembered")
			}
		})
	}
}

func TestMemoryDeduperReportsLiveEvictions(t *testing.T) {
	d := newMemoryDeduper(1)
	_, evicted := d.claimHash(1, time.Hour)
	assert.False(t, evicted)
	_, evicted = d.claimHash(2, time.Hour)
	assert.True(t, evicted, "the live key 1 was pushed out")
	_, evicted = d.claimHash(3, time.Nanosecond)
	assert.True(t, evicted)
	time.Sleep(time.Millisecond)
	_, evicted = d.claimHash(4, time.Hour)
	assert.False(t, evicted, "an expired key's eviction costs nothing")
}

func TestBackoffStaysWithinItsBoundsForLargeMinimums(t *testing.T) {
	p := RetryPolicy{MinBackoff: time.Hour, MaxBackoff: 48 * time.Hour, MaxAge: 100 * time.Hour}
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt <= 100; attempt++ {
		b := p.backoff(attempt)
		require.GreaterOrEqual(t, b, p.MinBackoff, "attempt %d", attempt)
		require.LessOrEqual(t, b, p.MaxBackoff, "attempt %d", attempt)
		if attempt >= 30 {
			seen[b] = true
		}
	}
	assert.Greater(t, len(seen), 10, "late attempts are jittered, not all the maximum")
}
