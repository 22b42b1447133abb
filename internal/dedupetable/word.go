package dedupetable

import (
	"math"
	"time"
)

// Resolution is the granularity of expiries: an entry lives until its
// claim's time plus its window, rounded up to a multiple of Resolution
// (65,536 ns, about 65.5 µs). An entry thus lives at least its window, and
// at most one Resolution longer.
const Resolution = time.Duration(tagMask + 1)

// tagMask selects the tag in a slot's word; the rest is the expiry.
const tagMask = 1<<16 - 1

// maxExpiry is the latest expiry a word can hold: a window that would end
// later ends there.
const maxExpiry = math.MaxUint64 &^ tagMask

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
		exp = (now + uint64(window) + tagMask) &^ tagMask
	}
	return exp | uint64(tag)
}

// expiry returns the expiry in w, on the scale of [instant].
func expiry(w uint64) uint64 { return w &^ tagMask }

// tagOf returns the tag in w.
func tagOf(w uint64) uint16 { return uint16(w & tagMask) }

// live reports whether an entry of word w is live at now.
func live(w, now uint64) bool { return expiry(w) > now }
