package latency

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmptyHistogramHasNoMedian(t *testing.T) {
	var h Histogram
	ms, ok := h.Median()
	assert.False(t, ok)
	assert.Zero(t, ms)
}

func TestMedianOfOneDuration(t *testing.T) {
	cases := []struct {
		d      time.Duration
		lo, hi float64 // the bucket of d
	}{
		{0, 0, 1},
		{500 * time.Microsecond, 0, 1},
		{time.Millisecond, 1, math.Sqrt2},
		{3 * time.Millisecond, 2 * math.Sqrt2, 4},
		{40 * time.Millisecond, 32, 32 * math.Sqrt2},
		{time.Second, 512 * math.Sqrt2, 1024},
		{time.Minute, 32768 * math.Sqrt2, 65536},
		{time.Hour, 131072, 131072 * math.Sqrt2}, // the last bucket
	}
	for _, tc := range cases {
		t.Run(tc.d.String(), func(t *testing.T) {
			var h Histogram
			h.Observe(tc.d)
			ms, ok := h.Median()
			require.True(t, ok)
			// Half of one observation is half-way through its bucket.
			assert.InDelta(t, (tc.lo+tc.hi)/2, ms, 1e-9)
		})
	}
}

// The median lies in the bucket of the middle observation, whatever the
// others: a few outliers move it only within that bucket.
func TestMedianIsInTheMiddleBucket(t *testing.T) {
	cases := []struct {
		name   string
		obs    []time.Duration
		lo, hi float64
	}{
		{"three of five under 1 ms", []time.Duration{0, 0, 0, 5 * time.Millisecond, time.Hour}, 0, 1},
		{"an outlier each side", []time.Duration{0, 40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond, time.Hour}, 32, 32 * math.Sqrt2},
		{"a negative duration counts as 0", []time.Duration{-time.Second, -time.Second, time.Second}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, d := range tc.obs {
				h.Observe(d)
			}
			ms, ok := h.Median()
			require.True(t, ok)
			assert.GreaterOrEqual(t, ms, tc.lo)
			assert.LessOrEqual(t, ms, tc.hi)
		})
	}
}

// When half the observations end exactly where a bucket ends, the median
// is that bucket's upper bound.
func TestMedianInterpolatesWithinTheBucket(t *testing.T) {
	var h Histogram
	for range 3 {
		h.Observe(0) // bucket 0: [0, 1)
	}
	h.Observe(40 * time.Millisecond)
	ms, _ := h.Median()
	assert.InDelta(t, 2.0/3, ms, 1e-12, "2 of the 3 in [0, 1): two thirds of the way")

	var g Histogram
	g.Observe(time.Millisecond) // bucket 1: [1, sqrt 2)
	g.Observe(time.Second)
	ms, _ = g.Median()
	assert.InDelta(t, math.Sqrt2, ms, 1e-12, "the whole of bucket 1")
}

// On known distributions the median is within a factor of sqrt(2) of the
// true one, taken over whole milliseconds as the histogram sees them.
func TestMedianOfKnownDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		draw func() time.Duration
	}{
		{"constant 40 ms", func() time.Duration { return 40 * time.Millisecond }},
		{"uniform 0-10 ms", func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Millisecond))) }},
		{"uniform 100-200 ms", func() time.Duration {
			return 100*time.Millisecond + time.Duration(rng.Int64N(int64(100*time.Millisecond)))
		}},
		{"exponential, mean 50 ms", func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(50*time.Millisecond)) }},
		{"log-normal around 300 ms", func() time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()) * float64(300*time.Millisecond))
		}},
		{"bimodal, mostly fast", func() time.Duration {
			if rng.IntN(10) < 7 {
				return 5 * time.Millisecond
			}
			return 2 * time.Second
		}},
		{"seconds", func() time.Duration { return time.Duration(1+rng.IntN(60)) * time.Second }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			ms := make([]float64, 10_001)
			for i := range ms {
				d := tc.draw()
				h.Observe(d)
				ms[i] = float64(d.Milliseconds())
			}
			slices.Sort(ms)
			want := ms[len(ms)/2]
			got, ok := h.Median()
			require.True(t, ok)
			if want < 1 {
				assert.InDelta(t, want, got, 1, "below 1 ms: within 1 ms")
				return
			}
			assert.GreaterOrEqual(t, got, want/math.Sqrt2, "median %v ms", want)
			assert.LessOrEqual(t, got, want*math.Sqrt2, "median %v ms", want)
		})
	}
}

// Truncation to whole milliseconds, seen from outside: 1.999 ms counts as
// 1 ms, so a median of 1.999 ms reads as about 1.2 ms, a factor of 1.66.
func TestMedianTruncatesToWholeMilliseconds(t *testing.T) {
	var h Histogram
	for range 10 {
		h.Observe(1999 * time.Microsecond)
	}
	ms, _ := h.Median()
	assert.InDelta(t, (1+math.Sqrt2)/2, ms, 1e-12)
}

func TestConcurrentObservesAllCount(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			h.Median()
		}
	})
	wg.Wait()
	total := uint64(0)
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	assert.Equal(t, uint64(8000), total)
	ms, ok := h.Median()
	require.True(t, ok)
	assert.InEpsilon(t, 4000, ms, math.Sqrt2-1)
}

func TestObserveDoesNotAllocate(t *testing.T) {
	var h Histogram
	d := time.Duration(0)
	allocs := testing.AllocsPerRun(1000, func() {
		h.Observe(d)
		d += 37 * time.Millisecond
	})
	assert.Zero(t, allocs)
}

func BenchmarkObserve(b *testing.B) {
	durations := make([]time.Duration, 1024)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range durations {
		durations[i] = time.Duration(rng.ExpFloat64() * float64(50*time.Millisecond))
	}
	b.Run("serial", func(b *testing.B) {
		var h Histogram
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.Observe(durations[i&1023])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var h Histogram
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				h.Observe(durations[i&1023])
				i++
			}
		})
	})
}

func BenchmarkMedian(b *testing.B) {
	var h Histogram
	for i := range 1000 {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Median()
	}
}
