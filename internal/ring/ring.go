// Package ring keeps the last N items pushed, for a live view such as a
// debug page, at the cost of two atomic operations a push.
package ring

import "sync/atomic"

// Ring holds the last items pushed to it, by pointer, in a fixed number
// of slots. Push overwrites the oldest item once the slots are full.
//
// A Ring is safe for concurrent use and takes no lock: a push is an
// atomic add, which claims a slot, and an atomic store, which fills it;
// it never allocates. The price is paid in exactness, which a live view
// can afford and an audit log could not:
//   - [Ring.NewestFirst] racing with pushes may miss the newest item or
//     two, in slots claimed but not yet filled (it then returns the item
//     of the previous round there, or nothing), and may return, in the
//     oldest positions, items pushed after it started.
//   - A pusher delayed between its add and its store while a whole round
//     of other pushes goes by stores last, so its older item stays where
//     a newer one belongs.
//
// A Ring stores pointers and copies the items only when read, so whoever
// pushes an item must not modify it afterwards.
//
// The zero value is a Ring with no slots, which keeps nothing. A Ring must
// not be copied after first use.
type Ring[T any] struct {
	slots []atomic.Pointer[T]
	total atomic.Uint64 // pushes so far; the next goes to slots[total % len]
}

// New returns a Ring that keeps the last n items pushed. A Ring of n == 0
// keeps nothing, and so does one of n < 0, which is taken as 0: a size
// comes from configuration, where "none" is a reasonable thing to ask for
// and a negative size means the same.
func New[T any](n int) *Ring[T] {
	return &Ring[T]{slots: make([]atomic.Pointer[T], max(n, 0))}
}

// Push makes v the newest item, forgetting the oldest one if the Ring is
// full. A nil v takes a slot and counts in the total but is not returned
// by NewestFirst. On a Ring with no slots, Push does nothing at all, and
// the total stays 0.
func (r *Ring[T]) Push(v *T) {
	if len(r.slots) == 0 {
		return
	}
	i := r.total.Add(1) - 1
	r.slots[i%uint64(len(r.slots))].Store(v)
}

// NewestFirst returns a copy of the items the Ring holds, the newest
// first, and how many items were pushed in all (so a view can say "the
// last 100 of 12 345").
func (r *Ring[T]) NewestFirst() (items []T, total uint64) {
	total = r.total.Load()
	n := min(total, uint64(len(r.slots)))
	items = make([]T, 0, n)
	for k := uint64(1); k <= n; k++ {
		if v := r.slots[(total-k)%uint64(len(r.slots))].Load(); v != nil {
			items = append(items, *v)
		}
	}
	return items, total
}
