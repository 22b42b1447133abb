package exposure_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryDeduperClaimAndRelease(t *testing.T) {
	d := newMemoryDeduper(t, 1_000_000)
	ctx := t.Context()
	first, _, err := d.Claim(ctx, "k", "v", time.Hour)
	require.NoError(t, err)
	assert.True(t, first)
	first, _, err = d.Claim(ctx, "k", "v", time.Hour)
	require.NoError(t, err)
	assert.False(t, first)

	require.NoError(t, d.Release(ctx, "k"))
	first, _, err = d.Claim(ctx, "k", "v", time.Hour)
	require.NoError(t, err)
	assert.True(t, first, "a released key is claimable again")

	_, _, err = d.Claim(ctx, "k", "v", 0)
	assert.Error(t, err)
}

func TestMemoryDeduperWindowExpires(t *testing.T) {
	d := newMemoryDeduper(t, 1_000_000)
	ctx := t.Context()
	// A window long enough that a loaded machine cannot let it pass between
	// the first two claims.
	const window = 500 * time.Millisecond
	first, _, _ := d.Claim(ctx, "k", "v", window)
	require.True(t, first)
	first, _, _ = d.Claim(ctx, "k", "v", window)
	require.False(t, first)
	time.Sleep(2 * window)
	first, _, _ = d.Claim(ctx, "k", "v", window)
	assert.True(t, first, "claimable again once the window passed")
}

func TestMemoryDeduperOneWinnerPerKey(t *testing.T) {
	d := newMemoryDeduper(t, 1_000_000)
	const keys, contenders = 500, 16
	var wins [keys]atomic.Int32
	var wg sync.WaitGroup
	for range contenders {
		wg.Go(func() {
			for k := range keys {
				if first, _, err := d.Claim(t.Context(), fmt.Sprint("key-", k), "v", time.Hour); err == nil && first {
					wins[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		assert.Equal(t, int32(1), wins[k].Load(), "key %d", k)
	}
}

func TestMemoryDeduperEvictsExpiredFirst(t *testing.T) {
	d := newMemoryDeduper(t, 64) // one key per shard
	// Fill with short-lived keys, let them expire, then add long-lived ones:
	// every long-lived key must survive, since expired keys go first.
	for i := range 2000 {
		_, _, _ = d.Claim(t.Context(), fmt.Sprint("short-", i), "v", time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	first, _, _ := d.Claim(t.Context(), "long", "v", time.Hour)
	require.True(t, first)
	first, _, _ = d.Claim(t.Context(), "long", "v", time.Hour)
	assert.False(t, first)
}

func newMemoryDeduper(t *testing.T, capacity int) exposure.Deduper {
	t.Helper()
	d, err := exposure.NewMemoryDeduper(capacity)
	require.NoError(t, err)
	return d
}

func TestNewMemoryDeduperRefusesNonPositiveCapacity(t *testing.T) {
	for _, c := range []int{0, -1} {
		_, err := exposure.NewMemoryDeduper(c)
		require.ErrorIs(t, err, exposure.ErrInvalidConfig, "capacity %d", c)
	}
}

// A deduper too small for its traffic pushes out live claims; the Tracker
// counts every such eviction, since each may expose a subject again.
func TestEvictionsAreCounted(t *testing.T) {
	d := newMemoryDeduper(t, 8)
	e := newEnv(t, exposure.WithDeduper(d))
	commitUsers(t, e.tracker, e, 20, "evict")
	assert.Equal(t, uint64(12), e.tracker.Stats().Counts[exposure.StageEvicted])
}
