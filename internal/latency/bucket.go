package latency

import (
	"math"
	"math/bits"
	"time"
)

// bucketCount is how many buckets a Histogram has. Bucket 0 is [0, 1) ms
// and bucket b >= 1 is [2^((b-1)/2), 2^(b/2)) ms, so the last one,
// bucket 35, starts at 2^17 ms (about 131 s) and takes everything longer.
const bucketCount = 36

// bucketOf returns the bucket of d, which must not be negative.
//
// It works on whole milliseconds, d truncated: 1.9 ms is 1 ms and lands in
// bucket 1, [1, 1.41) ms. A consequence is that bucket 2, [1.41, 2) ms,
// holds no whole millisecond and stays empty. Whole milliseconds keep the
// arithmetic in integers: 2^l <= ms < 2^(l+1) is the bit length of ms,
// and which half of that octave ms is in (below or above 2^l * sqrt(2))
// is one comparison of squares, ms^2 >= 2^(2l+1).
func bucketOf(d time.Duration) int {
	ms := d.Milliseconds()
	if ms < 1 {
		return 0
	}
	l := bits.Len64(uint64(ms)) - 1 // 2^l <= ms < 2^(l+1)
	b := 1 + 2*l
	// ms^2 fits in 64 bits for l < 32; from l = 17 on, the bucket is the
	// last anyway.
	if l < 31 && uint64(ms)*uint64(ms) >= 1<<(2*l+1) { // ms >= 2^l * sqrt(2)
		b++
	}
	return min(b, bucketCount-1)
}

// bucketBounds returns the bounds of bucket b in milliseconds: it holds
// the durations whose whole milliseconds are in [lo, hi). The last bucket
// is open-ended; its hi is where it would end if it were not.
func bucketBounds(b int) (lo, hi float64) {
	if b == 0 {
		return 0, 1
	}
	return math.Pow(2, float64(b-1)/2), math.Pow(2, float64(b)/2)
}
