package tally

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// An Index finds accounts of type V by a string key, such as an
// experiment, a variant, a sink or a flag name. It holds at most a fixed
// number of keys and keeps them in the order they were first added.
//
// Lookups take no lock and never allocate: the index is an immutable
// snapshot replaced as a whole (copy on write) when a key is added.
// The zero Index is empty and holds no key; use [NewIndex].
type Index[V any] struct {
	limit int
	snap  atomic.Pointer[snapshot[V]]
	mu    sync.Mutex // serializes writers
}

// snapshot is one immutable state of an Index.
type snapshot[V any] struct {
	keys  []string
	vals  []*V
	byKey map[string]*V // built only past scanLimit keys
}

// scanLimit is the size up to which a lookup scans rather than hashes:
// keys are usually the same strings every time, so most comparisons stop
// at the pointer.
const scanLimit = 8

// NewIndex returns an empty Index that holds at most limit keys.
func NewIndex[V any](limit int) *Index[V] {
	x := &Index[V]{limit: limit}
	x.snap.Store(&snapshot[V]{})
	return x
}

// Find returns the account of key, or nil when key was never added.
func (x *Index[V]) Find(key string) *V {
	s := x.snap.Load()
	if s.byKey != nil {
		return s.byKey[key]
	}
	for i, k := range s.keys {
		if k == key {
			return s.vals[i]
		}
	}
	return nil
}

// Add adds v as the account of key and returns it. When key is already
// there it returns the account it holds (v is not used), and when the
// Index is full it returns nil. Add is for a key [Index.Find] did not find:
// it copies the index.
func (x *Index[V]) Add(key string, v *V) *V {
	x.mu.Lock()
	defer x.mu.Unlock()
	if got := x.Find(key); got != nil {
		return got
	}
	old := x.snap.Load()
	if len(old.keys) >= x.limit {
		return nil
	}
	s := &snapshot[V]{
		keys: append(slices.Clip(old.keys), key),
		vals: append(slices.Clip(old.vals), v),
	}
	if len(s.keys) > scanLimit {
		if old.byKey != nil {
			s.byKey = maps.Clone(old.byKey)
		} else {
			s.byKey = make(map[string]*V, len(s.keys))
			for i, k := range old.keys {
				s.byKey[k] = old.vals[i]
			}
		}
		s.byKey[key] = v
	}
	x.snap.Store(s)
	return v
}

// All returns the accounts in the order their keys were first added. The
// slice is shared with the Index: read it, do not modify it.
func (x *Index[V]) All() []*V {
	return x.snap.Load().vals
}

// Len returns how many keys the Index holds.
func (x *Index[V]) Len() int {
	return len(x.snap.Load().keys)
}
