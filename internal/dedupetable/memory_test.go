package dedupetable

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memoryCapacity is the Tracker's default deduper size, at which the
// memory goal is set.
const memoryCapacity = 1_000_000

// bytesPerEntry fills a fresh table of memoryCapacity with random keys
// until it holds memoryCapacity entries, and returns the growth of the
// live heap divided by the entries held. fill builds the table, claims
// with claim and counts with size; the table is kept alive until measured.
func bytesPerEntry[T any](fill func() T, claim func(T, uint64), size func(T) int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tb := fill()
	rng := rand.New(rand.NewPCG(8, 8))
	// Random keys fill shards unevenly: claim until the last is full
	// (the others evict meanwhile).
	for size(tb) < memoryCapacity {
		for range 4096 {
			claim(tb, rng.Uint64())
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := size(tb)
	runtime.KeepAlive(tb)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

func tableBytesPerEntry() float64 {
	clock := newFakeClock(someTime)
	return bytesPerEntry(
		func() *Table {
			tb, err := New(memoryCapacity, clock.Now)
			if err != nil {
				panic(err)
			}
			return tb
		},
		func(tb *Table, key uint64) { tb.Claim(key, uint16(key), time.Hour) },
		(*Table).Len)
}

func mapBytesPerEntry() float64 {
	clock := newFakeClock(someTime)
	return bytesPerEntry(
		func() *mapTable { return newMapTable(memoryCapacity, clock.Now) },
		func(tb *mapTable, key uint64) { tb.claim(key, time.Hour) },
		(*mapTable).len)
}

// The memory goal: a full table of a million entries takes at most 20
// bytes an entry (the layout gives 18.3: 16-byte slots at a load of 7/8).
func TestMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a table of a million entries")
	}
	perEntry := tableBytesPerEntry()
	t.Logf("%.2f bytes an entry", perEntry)
	assert.LessOrEqual(t, perEntry, 20.0)
	assert.Greater(t, perEntry, 16.0, "a measurement below the slot size measures nothing")
}

// A full table of a million entries has grown every shard to its full
// size, and no further.
func TestFullTableSize(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a table of a million entries")
	}
	tb, _ := newTable(t, memoryCapacity)
	rng := rand.New(rand.NewPCG(9, 9))
	for tb.Len() < memoryCapacity {
		for range 4096 {
			tb.Claim(rng.Uint64(), 1, time.Hour)
		}
	}
	require.Equal(t, memoryCapacity, tb.Len())
	want := 0
	for i := range tb.shards {
		want += fullSize(tb.shards[i].capacity)
	}
	assert.Equal(t, want, totalSlots(tb))
	assert.LessOrEqual(t, float64(want)*16/memoryCapacity, 18.3)
}
