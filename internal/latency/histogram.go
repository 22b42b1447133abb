// Package latency keeps a histogram of durations that costs one atomic add
// to update and answers "what is the typical latency?" within a factor of
// sqrt(2).
//
// The buckets grow geometrically (see bucket.go) because latencies do:
// the difference between 1 ms and 2 ms matters as much as the one between
// 1 s and 2 s, and 36 fixed buckets cover 1 ms to minutes with a relative
// precision that is the same everywhere.
package latency

import (
	"sync/atomic"
	"time"
)

// Histogram counts durations in buckets growing by a factor of sqrt(2)
// from 1 ms. The zero value is an empty Histogram, ready to use.
//
// A Histogram is safe for concurrent use without a lock: Observe is a
// single atomic add and never allocates. It must not be copied after
// first use.
type Histogram struct {
	buckets [bucketCount]atomic.Uint64
}

// Observe counts the duration d. A negative d counts as 0: a clock that
// stepped back between two readings is a duration too short to measure,
// not an error worth losing the observation over.
func (h *Histogram) Observe(d time.Duration) {
	h.buckets[bucketOf(max(d, 0))].Add(1)
}

// Median estimates the median of the observed durations, in milliseconds,
// by interpolating linearly within the bucket that holds it. ok is false
// when nothing was observed.
//
// Buckets hold whole milliseconds (see bucketOf), and the estimate is
// within a factor of sqrt(2) of the median of those, or within 1 ms below
// 1 ms. Against the durations themselves, fractions of a millisecond
// included, truncation widens that factor where it weighs most: up to 2
// between 1 and 2 ms, 1.5 up to 16 ms, tending to sqrt(2) beyond. The last
// bucket is interpolated as if it ended at 2^17.5 ms (about 185 s), so a
// median beyond that reads as at most 185 s.
//
// Median may run concurrently with Observe; it then counts some of the
// durations being observed and not others.
func (h *Histogram) Median() (ms float64, ok bool) {
	// A snapshot first, so that the total and the walk agree.
	var counts [bucketCount]uint64
	total := uint64(0)
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0, false
	}
	half := float64(total) / 2
	seen := 0.0
	for b, n := range counts {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= half {
			lo, hi := bucketBounds(b)
			return lo + (hi-lo)*(half-seen)/float64(n), true
		}
		seen += float64(n)
	}
	// Unreachable: the buckets add up to total, so the walk stops by the
	// last non-empty one.
	lo, _ := bucketBounds(bucketCount - 1)
	return lo, true
}
