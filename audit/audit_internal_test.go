package exposure

import (
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The distinct counter is exact up to exactLimit and within the documented
// error of a HyperLogLog of 4096 registers (1.6% standard error; we allow
// four of them) beyond, whatever the repeats.
func TestDistinctCounterAccuracy(t *testing.T) {
	seed := maphash.MakeSeed()
	for _, n := range []int{0, 1, 7, 100, exactLimit, exactLimit + 1, 1000, 5000, 50_000, 300_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := new(distinctCounter)
			for i := range n {
				h := maphash.String(seed, fmt.Sprintf("user-%d", i))
				c.add(h)
				if i%3 == 0 {
					c.add(h) // repeats change nothing
				}
			}
			got := c.estimate()
			if n <= exactLimit {
				assert.Equal(t, uint64(n), got)
				return
			}
			assert.InEpsilon(t, float64(n), float64(got), 4*1.04/math.Sqrt(1<<hllBits), "n=%d got=%d", n, got)
		})
	}
}

func TestDistinctCounterConcurrentAddsAreExact(t *testing.T) {
	seed := maphash.MakeSeed()
	c := new(distinctCounter)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 { // every goroutine adds the same 300 and 10 of its own
				c.add(maphash.String(seed, fmt.Sprint("shared-", i)))
			}
			for i := range 10 {
				c.add(maphash.String(seed, fmt.Sprint("own-", g, "-", i)))
			}
		})
	}
	wg.Wait()
	require.False(t, c.overflow.Load())
	assert.Equal(t, uint64(380), c.estimate())
}

func TestLatencyHistogramMedian(t *testing.T) {
	var h latencyHistogram
	_, ok := h.median()
	assert.False(t, ok)
	for _, d := range []time.Duration{0, 0, 0, 5 * time.Millisecond, time.Hour} {
		h.observe(d)
	}
	ms, ok := h.median()
	require.True(t, ok)
	assert.Less(t, ms, 1.0, "three of five under 1 ms")

	var g latencyHistogram
	for range 100 {
		g.observe(40 * time.Millisecond)
	}
	g.observe(-time.Second) // a clock step back counts as 0
	ms, _ = g.median()
	assert.InEpsilon(t, 40, ms, math.Sqrt2-1, "within a bucket of sqrt(2)")

	for d, want := range map[time.Duration]int{
		0: 0, time.Millisecond: 1, 2 * time.Millisecond: 3, 3 * time.Millisecond: 4,
		1000 * time.Hour: latencyBuckets - 1,
	} {
		assert.Equal(t, want, latencyBucket(d), "%v", d)
		lo, hi := latencyBounds(want)
		if want < latencyBuckets-1 {
			assert.True(t, float64(d.Milliseconds()) >= lo && float64(d.Milliseconds()) < hi, "%v in [%v, %v)", d, lo, hi)
		}
	}
}

// The request-path costs of the audit, on their own.
func BenchmarkAudit(b *testing.B) {
	au := newAuditor(auditConfig{}, []Experiment{{FlagKey: "f", Name: "Checkout Redesign", Weights: map[string]float64{"Variant A": 1, "Variant B": 1}}})
	a := Assignment{FlagKey: "f", Experiment: "Checkout Redesign", Variant: "Variant B", Identity: Identity{DistinctID: "user-123456"}, EvaluatedAt: time.Now()}
	e := &Exposure{Assignment: a, Time: a.EvaluatedAt.Add(3 * time.Millisecond), InsertID: "0123456789abcdef0123456789abcdef"}
	b.Run("assigned", func(b *testing.B) {
		for b.Loop() {
			au.assigned(&a)
		}
	})
	b.Run("duplicate", func(b *testing.B) {
		for b.Loop() {
			au.duplicate(&a)
		}
	})
	b.Run("exposed", func(b *testing.B) {
		for b.Loop() {
			au.exposed(e)
		}
	})
}

func TestAuditRequestPathDoesNotAllocate(t *testing.T) {
	au := newAuditor(auditConfig{}, []Experiment{{FlagKey: "f", Name: "Checkout Redesign"}})
	a := Assignment{FlagKey: "f", Experiment: "Checkout Redesign", Variant: "Variant B", Identity: Identity{DistinctID: "u-1"}, EvaluatedAt: time.Now()}
	e := &Exposure{Assignment: a, Time: a.EvaluatedAt.Add(time.Millisecond)}
	au.assigned(&a) // the first sight of a variant allocates its counters
	allocs := testing.AllocsPerRun(1000, func() {
		au.assigned(&a)
		au.duplicate(&a)
		au.dropped(e)
		au.exposed(e)
	})
	assert.Zero(t, allocs)
}
