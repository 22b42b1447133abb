package dedupetable

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(start time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(start.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// someTime is not a multiple of Resolution, so that rounding shows.
var someTime = time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)

// newTable returns a table of capacity on a fake clock at someTime.
func newTable(t testing.TB, capacity int) (*Table, *fakeClock) {
	t.Helper()
	clock := newFakeClock(someTime)
	tb, err := New(capacity, clock.Now)
	require.NoError(t, err)
	return tb, clock
}

// checkInvariants checks the structure of every shard: each entry in its
// own shard, once, reachable from its home slot without crossing an empty
// one; the count right and within the capacity; the slots within their
// full size.
func checkInvariants(t testing.TB, tb *Table) {
	t.Helper()
	for si := range tb.shards {
		require.NoError(t, shardInvariants(tb, si), "shard %d", si)
	}
}

func shardInvariants(tb *Table, si int) error {
	s := &tb.shards[si]
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.slots)
	if n > s.maxSlots {
		return fmt.Errorf("%d slots, more than the full size %d", n, s.maxSlots)
	}
	seen := make(map[uint64]bool)
	for i, sl := range s.slots {
		if sl.key == 0 {
			continue
		}
		if seen[sl.key] {
			return fmt.Errorf("key %#x held twice", sl.key)
		}
		seen[sl.key] = true
		if got := int(sl.key >> tb.shift); got != si {
			return fmt.Errorf("key %#x of shard %d held in shard %d", sl.key, got, si)
		}
		for j := home(sl.key, n); j != i; j = (j + 1) % n {
			if s.slots[j].key == 0 {
				return fmt.Errorf("key %#x at slot %d: empty slot %d on its probe path", sl.key, i, j)
			}
		}
		if got := s.find(sl.key); got != i {
			return fmt.Errorf("key %#x at slot %d: found at %d", sl.key, i, got)
		}
		// Robin Hood order: the next entry is at most one slot further
		// from its home.
		if j := (i + 1) % n; s.slots[j].key != 0 && dist(j, s.slots[j].key, n) > dist(i, sl.key, n)+1 {
			return fmt.Errorf("key %#x at slot %d, distance %d, followed by distance %d",
				sl.key, i, dist(i, sl.key, n), dist(j, s.slots[j].key, n))
		}
	}
	if len(seen) != s.count {
		return fmt.Errorf("count %d, %d entries", s.count, len(seen))
	}
	if s.count > s.capacity {
		return fmt.Errorf("%d entries, capacity %d", s.count, s.capacity)
	}
	return nil
}

// totalSlots returns the slots of every shard.
func totalSlots(tb *Table) int {
	n := 0
	for i := range tb.shards {
		n += len(tb.shards[i].slots)
	}
	return n
}
