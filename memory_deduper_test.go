package exposure

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
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
	_, _, evicted, _ := d.claimHash(1, 0, time.Hour)
	assert.Zero(t, evicted)
	_, _, evicted, _ = d.claimHash(2, 0, time.Hour)
	assert.Equal(t, 1, evicted, "the live key 1 was pushed out")
	_, _, evicted, _ = d.claimHash(3, 0, time.Nanosecond)
	assert.Equal(t, 1, evicted)
	now = now.Add(time.Millisecond)
	_, _, evicted, _ = d.claimHash(4, 0, time.Hour)
	assert.Zero(t, evicted, "an expired key's eviction costs nothing")
}

// A crossover writes two records besides its key: in a full deduper each
// write may push out a live entry, and each is counted.
func TestMemoryDeduperCountsEveryEviction(t *testing.T) {
	d := newMemoryDeduper(3)
	for k := uint64(1); k <= 3; k++ {
		_, _, evicted, _ := d.claimHash(k, 0, time.Hour)
		require.Zero(t, evicted)
	}
	first, crossover, evicted, _ := d.claimHash(1, 1, time.Hour)
	require.True(t, first && crossover)
	assert.Equal(t, 2, evicted, "a record of each variant, in a deduper already full")
	assert.Equal(t, 3, d.size())
}

// The record of the variant left behind ends with that variant's
// exposure, not a window after the crossover that wrote it.
func TestFlipBackRecordEndsWithItsExposure(t *testing.T) {
	d := newMemoryDeduper(100)
	now := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return now }
	const window = 24 * time.Hour
	first, _, _ := d.Claim(t.Context(), "k", "a", window) // a sent at t0
	require.True(t, first)
	now = now.Add(23 * time.Hour)
	first, crossover, _ := d.Claim(t.Context(), "k", "b", window)
	require.True(t, first && crossover)
	now = now.Add(7 * time.Hour) // t0+30h: a was last sent 30h ago
	first, _, _ = d.Claim(t.Context(), "k", "a", window)
	require.True(t, first, "a was not exposed within the last window: Deduper.Claim says first")
}

// Of concurrent claims of one subject, each variant is sent once: a
// subject shown b and a at once, after a, is sent b once and a never
// again. (A crossover used to take three locks one after another, and a
// concurrent flip-back could consume b's record first.)
func TestConcurrentFlipsSendEachVariantOnce(t *testing.T) {
	d := newMemoryDeduper(1 << 20)
	ctx := context.Background()
	const subjects = 20_000
	key := func(i int) string { return fmt.Sprint("subject-", i) }
	for i := range subjects {
		first, _, err := d.Claim(ctx, key(i), "a", time.Hour)
		require.NoError(t, err)
		require.True(t, first)
	}
	// The two claims of each subject start together: each side waits at
	// a barrier for the other before it claims.
	firstB, firstA := make([]bool, subjects), make([]bool, subjects)
	var arrived [subjects]atomic.Int32
	together := func(i int) {
		arrived[i].Add(1)
		for arrived[i].Load() < 2 {
			runtime.Gosched()
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range subjects {
			together(i)
			firstB[i], _, _ = d.Claim(ctx, key(i), "b", time.Hour)
		}
	})
	wg.Go(func() {
		for i := range subjects {
			together(i)
			firstA[i], _, _ = d.Claim(ctx, key(i), "a", time.Hour)
		}
	})
	wg.Wait()
	assert.Zero(t, subjects-countTrue(firstB), "subjects never sent b")
	assert.Zero(t, countTrue(firstA), "subjects sent a twice")
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
