package latency

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBucketOf(t *testing.T) {
	ms := time.Millisecond
	sqrt2ms := 1414214 * time.Nanosecond // sqrt(2) ms, rounded up
	cases := []struct {
		name string
		d    time.Duration
		want int
	}{
		{"zero", 0, 0},
		{"one nanosecond", 1, 0},
		{"just under 1 ms", ms - 1, 0},
		{"exactly 1 ms", ms, 1},
		// sqrt(2) ms is where bucket 2 starts, but it truncates to 1 ms.
		{"sqrt 2 ms truncates to 1 ms", sqrt2ms, 1},
		{"just under 2 ms truncates to 1 ms", 2*ms - 1, 1},
		{"exactly 2 ms", 2 * ms, 3},
		{"3 ms is past 2 sqrt 2", 3 * ms, 4},
		{"exactly 4 ms", 4 * ms, 5},
		{"5 ms is under 4 sqrt 2", 5 * ms, 5},
		{"6 ms is past 4 sqrt 2", 6 * ms, 6},
		{"1 s", time.Second, 20}, // 2^9.5 = 724 <= 1000 < 1024
		{"1024 ms", 1024 * ms, 21},
		{"just under the last bucket", (1<<17 - 1) * ms, bucketCount - 2},
		{"the last bucket starts at 2^17 ms", (1 << 17) * ms, bucketCount - 1},
		{"1000 hours", 1000 * time.Hour, bucketCount - 1},
		{"2^32 ms: past the guard on squaring", (1 << 32) * ms, bucketCount - 1},
		{"the longest duration", math.MaxInt64, bucketCount - 1},
		{"negative", -time.Second, 0},
		{"the most negative duration", math.MinInt64, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, bucketOf(tc.d), "%v", tc.d)
		})
	}
}

// Every whole millisecond up to the last bucket lands in the bucket whose
// bounds hold it, and bucket numbers never go down as durations grow.
func TestBucketOfAgreesWithBucketBounds(t *testing.T) {
	prev := 0
	for ms := int64(0); ms < 1<<17; ms++ {
		b := bucketOf(time.Duration(ms) * time.Millisecond)
		lo, hi := bucketBounds(b)
		// Plain ifs: 131 072 testify calls are slow under -race.
		if !(float64(ms) >= lo && float64(ms) < hi) {
			require.Failf(t, "out of bounds", "%d ms in bucket %d [%v, %v)", ms, b, lo, hi)
		}
		if b < prev {
			require.Failf(t, "bucket went down", "%d ms in bucket %d, after %d", ms, b, prev)
		}
		prev = b
	}
}

// Bucket 2, [sqrt 2, 2) ms, holds no whole millisecond: no duration lands
// there. Every other bucket is reachable.
func TestOnlyBucket2IsUnreachable(t *testing.T) {
	seen := map[int]bool{}
	for ms := int64(0); ms <= 1<<18; ms++ {
		seen[bucketOf(time.Duration(ms)*time.Millisecond)] = true
	}
	for b := range bucketCount {
		assert.Equal(t, b != 2, seen[b], "bucket %d", b)
	}
}

func TestBucketBounds(t *testing.T) {
	cases := []struct {
		b      int
		lo, hi float64
	}{
		{0, 0, 1},
		{1, 1, math.Sqrt2},
		{2, math.Sqrt2, 2},
		{3, 2, 2 * math.Sqrt2},
		{21, 1024, 1024 * math.Sqrt2},
		{bucketCount - 1, 1 << 17, (1 << 17) * math.Sqrt2},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.b), func(t *testing.T) {
			lo, hi := bucketBounds(tc.b)
			assert.InEpsilon(t, tc.hi, hi, 1e-15)
			if tc.lo == 0 {
				assert.Zero(t, lo)
			} else {
				assert.InEpsilon(t, tc.lo, lo, 1e-15)
			}
		})
	}
}

// Buckets tile [0, 2^17.5) ms: each ends where the next starts, a factor
// of sqrt(2) further on.
func TestBucketsAreContiguous(t *testing.T) {
	for b := 1; b < bucketCount; b++ {
		_, prevHi := bucketBounds(b - 1)
		lo, hi := bucketBounds(b)
		assert.Equal(t, prevHi, lo, "bucket %d", b)
		if b >= 2 {
			assert.InEpsilon(t, math.Sqrt2, hi/lo, 1e-15, "bucket %d", b)
		}
	}
}
