package hll

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// standardError is the relative standard error of a HyperLogLog of
// 4096 registers: 1.04/sqrt(4096) = 1.625%.
const standardError = 1.04 / 64

// distinctHashes returns n hashes from a seeded PRNG: well mixed like a
// real hash, the same on every run, and (at 64 bits, for the n of these
// tests) distinct but for a chance below 1e-7.
func distinctHashes(seed uint64, n int) []uint64 {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = rng.Uint64()
	}
	return hs
}

func TestZeroCounterIsEmpty(t *testing.T) {
	var c Counter
	assert.Zero(t, c.Estimate())
}

func TestCounterIsExactUpToTheLimit(t *testing.T) {
	cases := []struct {
		name string
		add  []uint64
		want uint64
	}{
		{"one hash", []uint64{42}, 1},
		{"a duplicate counts once", []uint64{42, 42, 42}, 1},
		{"hash 0 counts", []uint64{0}, 1},
		{"hash 0 twice counts once", []uint64{0, 0}, 1},
		{"hash 0 next to others", []uint64{0, 7, 1 << 63}, 3},
		{"0 and 1 are the same hash", []uint64{0, 1}, 1},
		{"max uint64", []uint64{math.MaxUint64, math.MaxUint64}, 1},
		// Hashes that share their low bits share a home slot and probe:
		// the probe sequence must find each again.
		{"same home slot", []uint64{5, 5 + exactSlots, 5 + 2*exactSlots, 5 + exactSlots}, 3},
		{"probing wraps past the last slot", []uint64{exactSlots - 1, 2*exactSlots - 1, 3*exactSlots - 1, 2*exactSlots - 1}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Counter
			for _, h := range tc.add {
				c.Add(h)
			}
			assert.Equal(t, tc.want, c.Estimate())
			assert.False(t, c.overflow.Load())
		})
	}
}

func TestCounterCountsEveryNUpToTheLimitExactly(t *testing.T) {
	hs := distinctHashes(1, ExactLimit)
	var c Counter
	for i, h := range hs {
		c.Add(h)
		c.Add(hs[i/2]) // a repeat of an earlier hash changes nothing
		require.Equal(t, uint64(i+1), c.Estimate(), "after %d distinct hashes", i+1)
	}
	assert.False(t, c.overflow.Load(), "exactly ExactLimit hashes still fit")
}

// Small hashes all land in the first slots of the exact set: a worst case
// for linear probing, and still exact.
func TestCounterIsExactForClusteredHashes(t *testing.T) {
	var c Counter
	for round := range 2 {
		for h := range uint64(ExactLimit) {
			c.Add(h + 1)
		}
		require.Equal(t, uint64(ExactLimit), c.Estimate(), "round %d", round)
	}
}

func TestCounterOverflowsAtTheLimit(t *testing.T) {
	hs := distinctHashes(2, ExactLimit+1)
	var c Counter
	for _, h := range hs[:ExactLimit] {
		c.Add(h)
	}
	require.False(t, c.overflow.Load())
	require.Equal(t, uint64(ExactLimit), c.Estimate())

	c.Add(hs[ExactLimit])
	assert.True(t, c.overflow.Load(), "the (ExactLimit+1)th distinct hash overflows")
	assert.GreaterOrEqual(t, c.Estimate(), uint64(ExactLimit+1))
	assert.InEpsilon(t, ExactLimit+1, float64(c.Estimate()), 3*standardError)
}

// Once the exact set has overflowed, the sketch answers, and however low
// its estimate the Counter never claims fewer than ExactLimit+1: it did
// see that many. Linear counting is within a few percent here, so the
// floor matters for the first few dozen hashes past the limit.
func TestEstimateAfterOverflowIsNeverBelowTheLimit(t *testing.T) {
	for seed := range uint64(10) {
		hs := distinctHashes(100+seed, ExactLimit+60)
		var c Counter
		for i, h := range hs {
			c.Add(h)
			if i >= ExactLimit {
				require.GreaterOrEqual(t, c.Estimate(), uint64(ExactLimit+1), "seed %d after %d hashes", seed, i+1)
			}
		}
	}
}

// Registers only grow and the count of empty registers only falls, so
// while linear counting answers (up to about 2.5*4096 distinct hashes)
// the estimate never goes down as hashes are added. (Where the sketch
// switches from linear counting to the raw estimate it can: see
// sketch.estimate.)
func TestEstimateIsMonotonicWhileLinearCounting(t *testing.T) {
	hs := distinctHashes(3, 8000)
	var c Counter
	prev := uint64(0)
	for i, h := range hs {
		c.Add(h)
		if i >= 500 && i%16 != 0 { // every hash up to 500, then every 16th
			continue
		}
		got := c.Estimate()
		require.GreaterOrEqual(t, got, prev, "after %d hashes", i+1)
		prev = got
	}
}

// Beyond the exact limit the estimate is within 3 standard errors (4.9%)
// of the truth, repeats or not.
func TestEstimateAccuracyBeyondTheLimit(t *testing.T) {
	for _, n := range []int{ExactLimit + 1, 500, 1000, 5000, 10_000, 100_000, 1_000_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			hs := distinctHashes(uint64(n), n)
			var c Counter
			for i, h := range hs {
				c.Add(h)
				if i%3 == 0 {
					c.Add(hs[i/2]) // repeats change nothing
				}
			}
			assert.InEpsilon(t, float64(n), float64(c.Estimate()), 3*standardError)
		})
	}
}

// The sketch's error is a property of many counts, not of one: over many
// independent sets of hashes the estimates scatter around the truth with
// about the documented standard error and little bias, both where linear
// counting answers and where the raw HyperLogLog estimate does. (Not in
// between, around 2.5*4096 = 10 240: see sketch.estimate.)
func TestEstimateErrorMatchesTheStandardError(t *testing.T) {
	if testing.Short() {
		t.Skip("adds 2 million hashes")
	}
	for _, n := range []int{5000, 40_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			const trials = 40
			sum, sumSq := 0.0, 0.0
			for trial := range uint64(trials) {
				var c Counter
				for _, h := range distinctHashes(uint64(n)<<8+trial, n) {
					c.Add(h)
				}
				rel := float64(c.Estimate())/float64(n) - 1
				sum += rel
				sumSq += rel * rel
			}
			bias := sum / trials
			rmse := math.Sqrt(sumSq / trials)
			assert.Less(t, math.Abs(bias), standardError/2, "bias")
			assert.InDelta(t, standardError, rmse, standardError/2, "root mean square relative error")
		})
	}
}

// Many goroutines adding overlapping sets count each hash once. Run it
// with -race: every access to the set and the sketch must be atomic.
func TestConcurrentAddsAreExact(t *testing.T) {
	const goroutines, shared, own = 16, 300, 5 // 300 + 16*5 = 380 <= ExactLimit
	hs := distinctHashes(4, shared+goroutines*own)
	for round := range 20 { // races differ from run to run
		var c Counter
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range goroutines {
			wg.Go(func() {
				<-start
				for i := range shared {
					// Everyone, in one of two orders: goroutines in step
					// race to put the same hash in the same slot.
					c.Add(hs[(i+g%2*37)%shared])
				}
				for _, h := range hs[shared+g*own : shared+(g+1)*own] {
					c.Add(h)
				}
			})
		}
		close(start)
		wg.Wait()
		require.False(t, c.overflow.Load(), "round %d", round)
		require.Equal(t, uint64(shared+goroutines*own), c.Estimate(), "round %d", round)
	}
}

// Concurrent adds past the limit, and estimates while they run: the count
// ends within the sketch's error, and the race detector stays quiet.
func TestConcurrentAddsBeyondTheLimit(t *testing.T) {
	const goroutines, n = 8, 20_000
	hs := distinctHashes(5, n)
	var c Counter
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < n; i += goroutines / 2 { // each hash from two goroutines
				c.Add(hs[i])
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = c.Estimate()
		}
	})
	wg.Wait()
	assert.True(t, c.overflow.Load())
	assert.InEpsilon(t, n, float64(c.Estimate()), 3*standardError)
}

func TestSketchRank(t *testing.T) {
	cases := []struct {
		name     string
		h        uint64
		register uint64
		rank     uint32
	}{
		{"all zero: the longest run", 0, 0, 64 - registerBits + 1},
		{"top bit after the index", 1 << (63 - registerBits), 0, 1},
		{"lowest bit only", 1, 0, 64 - registerBits},
		{"index from the high bits", 0xABC<<(64-registerBits) | 1<<(62-registerBits), 0xABC, 2},
		{"all ones", math.MaxUint64, registers - 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s sketch
			s.add(tc.h)
			w := s.words[tc.register/4].Load()
			assert.Equal(t, tc.rank, (w>>((tc.register%4)*8))&0xff)
			// Every other register stays empty.
			for i := range s.words {
				if uint64(i) != tc.register/4 {
					require.Zero(t, s.words[i].Load(), "word %d", i)
				}
			}
		})
	}
}

func TestSketchRegistersOnlyGrow(t *testing.T) {
	var s sketch
	high := uint64(1) // rank 52 in register 0
	low := uint64(1) << (63 - registerBits)
	s.add(high)
	s.add(low)
	assert.Equal(t, uint32(52), s.words[0].Load()&0xff)
	// A neighbour in the same word is untouched and kept.
	s.add(1<<(64-registerBits) | low) // register 1, rank 1
	assert.Equal(t, uint32(52|1<<8), s.words[0].Load())
}

func TestAddDoesNotAllocate(t *testing.T) {
	hs := distinctHashes(6, 1000)
	var c Counter
	i := 0
	allocs := testing.AllocsPerRun(len(hs)-1, func() {
		c.Add(hs[i])
		i++
	})
	assert.Zero(t, allocs)
}

func BenchmarkAdd(b *testing.B) {
	hs := distinctHashes(7, 1<<16)
	b.Run("repeat", func(b *testing.B) { // the common case: a subject seen before
		var c Counter
		c.Add(hs[0])
		b.ReportAllocs()
		for b.Loop() {
			c.Add(hs[0])
		}
	})
	b.Run("distinct", func(b *testing.B) {
		var c Counter
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Add(hs[i&(len(hs)-1)])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var c Counter
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				c.Add(hs[i&(len(hs)-1)])
				i++
			}
		})
	})
}

func BenchmarkEstimate(b *testing.B) {
	var c Counter
	for _, h := range distinctHashes(8, 10_000) {
		c.Add(h)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Estimate()
	}
}
