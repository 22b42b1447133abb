package dedupetable

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vop is one step of a ClaimVariant scenario: advance the clock by after,
// then claim tag for key 1 with a window of an hour (undo: and undo it at
// once, as the Tracker does when no queue took the exposure).
type vop struct {
	after            time.Duration
	tag              uint16
	first, crossover bool
	undo             bool
}

func TestClaimVariantSemantics(t *testing.T) {
	const c = 0xc
	scenarios := []struct {
		name string
		ops  []vop
	}{
		{"first, then duplicates", []vop{
			{tag: a, first: new}, {after: time.Minute, tag: a, first: dup}, {tag: a, first: dup},
		}},
		{"a crossover is sent once; staying there is a duplicate", []vop{
			{tag: a, first: new}, {tag: b, first: new, crossover: xo}, {tag: b, first: dup},
		}},
		{"a flip-back is a crossover, not sent", []vop{
			{tag: a, first: new}, {tag: b, first: new, crossover: xo},
			{tag: a, first: dup, crossover: xo}, {tag: a, first: dup},
			{tag: b, first: dup, crossover: xo}, {tag: c, first: new, crossover: xo},
			{tag: a, first: dup, crossover: xo},
		}},
		{"the window ends after the latest exposure", []vop{
			{tag: a, first: new}, {after: 30 * time.Minute, tag: b, first: new, crossover: xo},
			{after: 61 * time.Minute, tag: a, first: new}, // both exposures ended
		}},
		// A record holds the expiry of its exposure, not of the crossover
		// that wrote it: a's exposure ends an hour after it was sent.
		{"a flip-back is sent again once its own exposure ended", []vop{
			{tag: a, first: new}, {after: 50 * time.Minute, tag: b, first: new, crossover: xo},
			{after: 20 * time.Minute, tag: a, first: new, crossover: xo},
			{tag: b, first: dup, crossover: xo},
		}},
		{"a flip-back not sent does not extend the window", []vop{
			{tag: a, first: new}, {after: 10 * time.Minute, tag: b, first: new, crossover: xo},
			{after: 40 * time.Minute, tag: a, first: dup, crossover: xo},
			{after: 11 * time.Minute, tag: a, first: new}, // a ended; b has not
			{tag: b, first: dup, crossover: xo},
		}},
		{"an undone first claim is first again", []vop{
			{tag: a, first: new, undo: true}, {tag: a, first: new}, {tag: a, first: dup},
		}},
		{"an undone crossover keeps the variant sent before", []vop{
			{tag: a, first: new}, {tag: b, first: new, crossover: xo, undo: true},
			{tag: a, first: dup}, // a was sent: not again
			{tag: b, first: new, crossover: xo}, {tag: b, first: dup},
		}},
		{"an undone crossover of a crossed key", []vop{
			{tag: a, first: new}, {tag: b, first: new, crossover: xo},
			{tag: c, first: new, crossover: xo, undo: true},
			{tag: a, first: dup, crossover: xo}, {tag: b, first: dup, crossover: xo},
			{tag: c, first: new, crossover: xo}, {tag: c, first: dup},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			tb, clock := newTable(t, 64)
			for i, o := range sc.ops {
				clock.Advance(o.after)
				first, crossover, evicted, undo := tb.ClaimVariant(1, o.tag, time.Hour)
				assert.Equal(t, o.first, first, "step %d: first", i)
				assert.Equal(t, o.crossover, crossover, "step %d: crossover", i)
				assert.Zero(t, evicted, "step %d", i)
				if o.undo {
					require.True(t, first, "step %d: only a first claim is undone", i)
					tb.Undo(undo)
				}
				checkInvariants(t, tb)
			}
		})
	}
}

// Keys that never cross over take one entry; a crossed key one more per
// variant sent.
func TestClaimVariantEntries(t *testing.T) {
	tb, _ := newTable(t, 1024)
	for k := uint64(1); k <= 100; k++ {
		tb.ClaimVariant(k*0x9e3779b97f4a7c15, a, time.Hour)
		tb.ClaimVariant(k*0x9e3779b97f4a7c15, a, time.Hour)
	}
	assert.Equal(t, 100, tb.Len())
	tb.ClaimVariant(0x9e3779b97f4a7c15, b, time.Hour)
	assert.Equal(t, 102, tb.Len(), "a record for a and one for b")
	tb.ClaimVariant(0x9e3779b97f4a7c15, a, time.Hour)
	assert.Equal(t, 102, tb.Len(), "a flip-back writes nothing new")
}

// Of concurrent claims of one key, each variant is first exactly once,
// whatever the interleaving: the claim is one critical section.
func TestConcurrentCrossoversSendEachVariantOnce(t *testing.T) {
	tb, err := New(1<<16, time.Now)
	require.NoError(t, err)
	const keys = 20_000
	key := func(i int) uint64 { return uint64(i+1) * 0x9e3779b97f4a7c15 }
	for i := range keys {
		first, _, _, _ := tb.ClaimVariant(key(i), a, time.Hour)
		require.True(t, first)
	}
	// Two goroutines show every subject b and a at once: b is sent once,
	// a never again.
	var firstB, firstA [keys]bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range keys {
			firstB[i], _, _, _ = tb.ClaimVariant(key(i), b, time.Hour)
		}
	})
	wg.Go(func() {
		for i := range keys {
			firstA[i], _, _, _ = tb.ClaimVariant(key(i), a, time.Hour)
		}
	})
	wg.Wait()
	lostB, twiceA := 0, 0
	for i := range keys {
		if !firstB[i] {
			lostB++
		}
		if firstA[i] {
			twiceA++
		}
	}
	assert.Zero(t, lostB, "subjects never sent b")
	assert.Zero(t, twiceA, "subjects sent a twice")
	checkInvariants(t, tb)
}

func TestRecordKeyStaysInItsShard(t *testing.T) {
	for _, capacity := range []int{1, 100, 1 << 20} {
		tb, _ := newTable(t, capacity)
		for _, key := range []uint64{1, zeroKey, 0x8000_0000_0000_0000, ^uint64(0), ^uint64(0) >> 6, 0x9e3779b97f4a7c15} {
			for _, tag := range []uint16{0, 1, a, 0xffff} {
				r := tb.recordKey(key, tag)
				assert.NotZero(t, r)
				assert.NotEqual(t, key, r)
				assert.Same(t, tb.shard(key), tb.shard(r), "capacity %d, key %x, tag %x", capacity, key, tag)
			}
		}
	}
}

func TestClaimVariantZeroWindowRecordsNothing(t *testing.T) {
	tb, _ := newTable(t, 16)
	for range 2 {
		first, crossover, _, undo := tb.ClaimVariant(1, a, 0)
		assert.True(t, first)
		assert.False(t, crossover)
		tb.Undo(undo) // the zero Undo does nothing
	}
	assert.Zero(t, tb.Len())
}
