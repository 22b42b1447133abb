package hll

import "sync/atomic"

// exactSlots is the size of the exact set, a power of two so that a hash
// picks its slot with a mask.
const exactSlots = 512

// exactSet is a lock-free set of up to ExactLimit hashes: an open
// addressing table with linear probing, whose slots go from empty (0) to
// a hash exactly once, by compare-and-swap. Nothing is ever removed, so a
// slot that holds a hash holds it for good, and a reader that finds h in
// the probe sequence of h can stop there.
type exactSet struct {
	slots [exactSlots]atomic.Uint64 // 0 is empty
	n     atomic.Int64              // slots filled so far
}

// add puts h in the set and reports whether the set can still count
// exactly: false once it took its (ExactLimit+1)th hash or found no free
// slot (which concurrent adds past the limit can cause).
func (s *exactSet) add(h uint64) bool {
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	i := h & (exactSlots - 1)
	for range exactSlots {
		slot := &s.slots[i]
		switch cur := slot.Load(); cur {
		case h:
			return true // seen before
		case 0:
			if slot.CompareAndSwap(0, h) {
				return s.n.Add(1) <= ExactLimit
			}
			// Another add took the slot first; if it stored h, h is in.
			if slot.Load() == h {
				return true
			}
		}
		i = (i + 1) & (exactSlots - 1)
	}
	return false // every slot holds another hash
}

// len is how many distinct hashes the set holds.
func (s *exactSet) len() uint64 {
	return uint64(s.n.Load())
}
