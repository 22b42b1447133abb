package hll

import "sync/atomic"

// ExactLimit is how many distinct hashes a [Counter] counts exactly. The
// exact set has 512 slots; stopping when it is three quarters full keeps
// its probe sequences short.
const ExactLimit = 384

// Counter counts distinct 64-bit hashes: exactly up to [ExactLimit] of
// them, then approximately with a HyperLogLog of 4096 registers, whose
// standard error is 1.04/sqrt(4096) = 1.6%.
//
// The zero value is an empty Counter, ready to use. A Counter is safe for
// concurrent use and takes no lock: once a hash was seen, adding it again
// costs an atomic load or two, and Add never allocates. A Counter takes
// 8 KiB and must not be copied after first use.
type Counter struct {
	exact    exactSet
	overflow atomic.Bool // the exact set gave up: only the sketch counts
	sketch   sketch
}

// Add records the hash h. Adding a hash that was already added changes
// nothing.
//
// The hashes 0 and 1 are one and the same to a Counter: the exact set
// marks its empty slots with 0 and stores 0 as 1. With well-mixed 64-bit
// hashes the chance of meeting either is 2^-63.
func (c *Counter) Add(h uint64) {
	// The sketch sees every hash, even while the exact set still counts:
	// when the set overflows, the sketch already knows everything.
	c.sketch.add(h)
	if !c.overflow.Load() {
		if !c.exact.add(h) {
			c.overflow.Store(true)
		}
	}
}

// Estimate returns how many distinct hashes were added: the exact count
// while it is at most [ExactLimit], else the HyperLogLog estimate, which
// is never less than ExactLimit+1 since a Counter that overflowed its
// exact set holds more than ExactLimit.
//
// Estimate may run concurrently with Add; it then counts some of the
// hashes being added and not others.
func (c *Counter) Estimate() uint64 {
	if !c.overflow.Load() {
		return c.exact.len()
	}
	return max(c.sketch.estimate(), ExactLimit+1)
}
