package ring

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pushAll(r *Ring[int], vs ...int) {
	for _, v := range vs {
		r.Push(&v)
	}
}

func TestNewestFirst(t *testing.T) {
	cases := []struct {
		name   string
		size   int
		pushes int // pushes 1, 2, ..., pushes
		want   []int
	}{
		{"empty", 3, 0, []int{}},
		{"partly full", 3, 2, []int{2, 1}},
		{"exactly full", 3, 3, []int{3, 2, 1}},
		{"wrapped once", 3, 4, []int{4, 3, 2}},
		{"wrapped to the first slot again", 3, 6, []int{6, 5, 4}},
		{"wrapped many times", 3, 100, []int{100, 99, 98}},
		{"one slot", 1, 5, []int{5}},
		{"zero slots", 0, 5, []int{}},
		{"negative size", -1, 5, []int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New[int](tc.size)
			for v := 1; v <= tc.pushes; v++ {
				pushAll(r, v)
			}
			items, total := r.NewestFirst()
			assert.Equal(t, tc.want, items)
			if tc.size > 0 {
				assert.Equal(t, uint64(tc.pushes), total)
			} else {
				assert.Zero(t, total, "a Ring with no slots ignores pushes")
			}
		})
	}
}

func TestZeroRingKeepsNothing(t *testing.T) {
	var r Ring[string]
	s := "x"
	r.Push(&s)
	items, total := r.NewestFirst()
	assert.Empty(t, items)
	assert.NotNil(t, items, "an empty slice, not nil: it encodes as [] in JSON")
	assert.Zero(t, total)
}

func TestNewestFirstCopies(t *testing.T) {
	type item struct{ name string }
	r := New[item](2)
	r.Push(&item{"a"})
	items, _ := r.NewestFirst()
	require.Len(t, items, 1)
	items[0].name = "changed"
	again, _ := r.NewestFirst()
	assert.Equal(t, "a", again[0].name, "changing a returned item leaves the Ring alone")
}

func TestNilPushCountsButIsNotReturned(t *testing.T) {
	r := New[int](3)
	pushAll(r, 1)
	r.Push(nil)
	pushAll(r, 3)
	items, total := r.NewestFirst()
	assert.Equal(t, []int{3, 1}, items)
	assert.Equal(t, uint64(3), total)
}

// Many goroutines push at once; every push is counted, and once they are
// done the Ring holds the last pushes of each slot's round: as many items
// as slots, each pushed by someone. Run it with -race, with readers
// racing the pushes.
func TestConcurrentPushes(t *testing.T) {
	const goroutines, each, size = 8, 1000, 64
	r := New[int](size)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				v := g*each + i
				r.Push(&v)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 100 {
				items, total := r.NewestFirst()
				assert.LessOrEqual(t, len(items), size)
				assert.LessOrEqual(t, total, uint64(goroutines*each))
			}
		})
	}
	wg.Wait()
	items, total := r.NewestFirst()
	assert.Equal(t, uint64(goroutines*each), total)
	require.Len(t, items, size)
	seen := map[int]bool{}
	for _, v := range items {
		assert.True(t, v >= 0 && v < goroutines*each, "%d was never pushed", v)
		assert.False(t, seen[v], "%d twice", v)
		seen[v] = true
	}
}

// Each goroutine's own pushes come out in its order, newest first: pushes
// from one goroutine claim slots in order.
func TestConcurrentPushesKeepEachGoroutinesOrder(t *testing.T) {
	const goroutines, each = 4, 500
	r := New[[2]int](goroutines * each) // big enough to keep everything
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				r.Push(&[2]int{g, i})
			}
		})
	}
	wg.Wait()
	items, _ := r.NewestFirst()
	require.Len(t, items, goroutines*each)
	last := make([]int, goroutines)
	for g := range last {
		last[g] = each
	}
	for _, v := range items {
		g, i := v[0], v[1]
		assert.Less(t, i, last[g], "goroutine %d", g)
		last[g] = i
	}
}

func TestPushDoesNotAllocate(t *testing.T) {
	r := New[int](16)
	v := 7
	allocs := testing.AllocsPerRun(1000, func() { r.Push(&v) })
	assert.Zero(t, allocs)
}

func BenchmarkPush(b *testing.B) {
	v := 42
	for _, size := range []int{0, 100} {
		b.Run(fmt.Sprint("size=", size), func(b *testing.B) {
			r := New[int](size)
			b.ReportAllocs()
			for b.Loop() {
				r.Push(&v)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		r := New[int](100)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Push(&v)
			}
		})
	})
}
