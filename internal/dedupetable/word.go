package dedupetable

import (
	"math"
	"time"
)

// Resolution is the granularity of expiries: an entry lives until its
// claim's time plus its window, rounded up to a multiple of Resolution
// (131,072 ns, about 131 µs). An entry thus lives at least its window, and
// at most one Resolution longer.
const Resolution = time.Duration(lowMask + 1)

// A slot's word holds the expiry in its high bits and, in the 17 low bits
// the rounding leaves free, the tag (16 bits) and the crossed bit (see
// [Table.ClaimVariant]).
const (
	tagMask    = 1<<16 - 1
	crossedBit = 1 << 16
	lowMask    = 1<<17 - 1
)

// maxExpiry is the latest expiry a word can hold: a window that would end
// later ends there.
const maxExpiry = math.MaxUint64 &^ lowMask

// instant maps a time to an unsigned scale that keeps its order: Unix
// nanoseconds offset by 2^63, so that a clock set before 1970 (as a test's
// may be) compares correctly too.
func instant(t time.Time) uint64 {
	return uint64(t.UnixNano()) ^ 1<<63
}

// makeWord packs the expiry of a claim made at now for window with tag.
// window must be positive.
func makeWord(now uint64, window time.Duration, tag uint16) uint64 {
	exp := uint64(maxExpiry)
	if now < maxExpiry && uint64(window) < maxExpiry-now {
		exp = (now + uint64(window) + lowMask) &^ lowMask
	}
	return exp | uint64(tag)
}

// expiry returns the expiry in w, on the scale of [instant].
func expiry(w uint64) uint64 { return w &^ lowMask }

// tagOf returns the tag in w.
func tagOf(w uint64) uint16 { return uint16(w & tagMask) }

// crossed reports whether w is the entry of a key that crossed over.
func crossed(w uint64) bool { return w&crossedBit != 0 }

// live reports whether an entry of word w is live at now.
func live(w, now uint64) bool { return expiry(w) > now }
