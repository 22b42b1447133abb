package srm_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure/internal/options"
	"github.com/exposurekit/exposure/internal/srm"
)

// The Bayes factors below are worked out by hand as the Dirichlet-
// multinomial probability of the counts (a Pólya urn: the next exposure
// lands in variant i with probability (α_i + x_i) / (k + n)) over their
// multinomial probability under θ0; the multinomial coefficients cancel.
func TestBayesFactorHandComputed(t *testing.T) {
	cases := []struct {
		name    string
		weights []float64
		k       float64
		counts  []uint64
		bf      float64
	}{
		{"nothing seen", []float64{1, 1}, 2, []uint64{0, 0}, 1},
		// The first exposure is predicted as well by both: α_i/k = θ0_i.
		{"one exposure", []float64{1, 1}, 2, []uint64{1, 0}, 1},
		// Beta(1,1): ∫p³dp = 1/4 against (1/2)³.
		{"3-0 at 50/50, uniform prior", []float64{1, 1}, 2, []uint64{3, 0}, 2},
		// ∫p(1-p)dp = 1/6 against 1/4.
		{"1-1 at 50/50, uniform prior", []float64{1, 1}, 2, []uint64{1, 1}, 2.0 / 3},
		// ∫p²(1-p)dp = 1/12 against 1/8 (order does not matter).
		{"2-1 at 50/50, uniform prior", []float64{1, 1}, 2, []uint64{2, 1}, 2.0 / 3},
		// 2⁵/6.
		{"5-0 at 50/50, uniform prior", []float64{1, 1}, 2, []uint64{5, 0}, 16.0 / 3},
		// α = (1, 3): (1/4)(2/5) = 1/10 against (1/4)² = 1/16.
		{"2-0 at 25/75", []float64{25, 75}, 4, []uint64{2, 0}, 1.6},
		// (3/4)(1/5) = 3/20 against (3/4)(1/4) = 3/16.
		{"1-1 at 25/75", []float64{0.25, 0.75}, 4, []uint64{1, 1}, 0.8},
		// α = (1,1,1): (1/3)(1/4)(1/5) = 1/60 against 1/27.
		{"1-1-1 at thirds", []float64{1, 1, 1}, 3, []uint64{1, 1, 1}, 27.0 / 60},
		// (1/3)(2/4) = 1/6 against 1/9.
		{"2-0-0 at thirds", []float64{1, 1, 1}, 3, []uint64{2, 0, 0}, 1.5},
		// Default k = 100, α = (50, 50): (50/100)(51/101) against 1/4.
		{"2-0 at 50/50, default prior", []float64{1, 1}, srm.DefaultConcentration, []uint64{2, 0}, 4 * 0.5 * 51 / 101},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := srm.NewSequential(c.weights, srm.WithConcentration(c.k))
			require.NoError(t, err)
			p, err := s.Update(c.counts)
			require.NoError(t, err)
			assert.InDelta(t, math.Log(c.bf), s.LogBayesFactor(), 1e-12, "ln BF")
			assert.InDelta(t, min(1, 1/c.bf), p, 1e-12, "p-value")
			assert.Equal(t, p, s.PValue())
		})
	}
}

// polyaLogBF is ln BF of counts by the Pólya urn, term by term: the
// variants' exposures are drawn in turn, each multiplying the mixture's
// probability by (α_i + j)/(k + t) and the null's by θ0_i. It shares no
// code with the closed form (no log-gamma).
func polyaLogBF(weights []float64, k float64, counts []uint64) float64 {
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	logBF, t := 0.0, 0.0
	for i, x := range counts {
		theta := weights[i] / sum
		for j := range x {
			logBF += math.Log((k*theta+float64(j))/(k+t)) - math.Log(theta)
			t++
		}
	}
	return logBF
}

func TestBayesFactorMatchesPolyaUrn(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	cases := []struct {
		name    string
		weights []float64
		k       float64
	}{
		{"50/50, default prior", []float64{1, 1}, srm.DefaultConcentration},
		{"90/10, default prior", []float64{9, 1}, srm.DefaultConcentration},
		{"5 variants, default prior", []float64{1, 2, 3, 2, 1}, srm.DefaultConcentration},
		{"3 variants, k = 0.5", []float64{1, 1, 2}, 0.5},
		{"3 variants, k = 10000", []float64{1, 1, 2}, 10000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 20 {
				counts := make([]uint64, len(c.weights))
				for i := range counts {
					counts[i] = r.Uint64N(3000)
				}
				s, err := srm.NewSequential(c.weights, srm.WithConcentration(c.k))
				require.NoError(t, err)
				_, err = s.Update(counts)
				require.NoError(t, err)
				want := polyaLogBF(c.weights, c.k, counts)
				assert.InDelta(t, want, s.LogBayesFactor(), 1e-8*max(1, math.Abs(want)), "counts %v", counts)
			}
		})
	}
}

// The p-value is min(1, 1/max BF_t) over the updates so far: it never goes
// up, even when the split recovers and BF falls again.
func TestPValueIsNonIncreasingRunningMinimum(t *testing.T) {
	s, err := srm.NewSequential([]float64{1, 1})
	require.NoError(t, err)
	assert.Equal(t, 1.0, s.PValue(), "before any update")
	assert.Zero(t, s.LogBayesFactor(), "before any update")

	r := rand.New(rand.NewPCG(3, 5))
	var a, b uint64
	prev, maxLogBF := 1.0, 0.0
	fell, rose := false, false
	for step := range 400 {
		share := 0.6 // a mismatch for 200 steps, then a long stretch at the planned split
		if step >= 200 {
			share = 0.5
		}
		for range 25 {
			if r.Float64() < share {
				a++
			} else {
				b++
			}
		}
		before := s.LogBayesFactor()
		p, err := s.Update([]uint64{a, b})
		require.NoError(t, err)
		maxLogBF = max(maxLogBF, s.LogBayesFactor())
		assert.LessOrEqual(t, p, prev, "step %d", step)
		assert.InDelta(t, math.Exp(-maxLogBF), p, 1e-15, "step %d", step)
		fell = fell || p < prev
		rose = rose || s.LogBayesFactor() < before
		prev = p
	}
	assert.True(t, fell, "the 60/40 stretch lowered the p-value")
	assert.True(t, rose, "the 50/50 stretch lowered the Bayes factor, and the p-value stayed put")
	assert.Less(t, prev, 1e-6)
}

// Counts at exactly the planned split are evidence for it: the Bayes
// factor is below 1 and the p-value stays 1.
func TestCountsAtThePlannedSplitKeepPValueOne(t *testing.T) {
	cases := []struct {
		name    string
		weights []float64
		counts  [][]uint64
	}{
		{"50/50", []float64{50, 50}, [][]uint64{{1, 1}, {5, 5}, {50, 50}, {500, 500}, {5000, 5000}}},
		{"20/40/40", []float64{1, 2, 2}, [][]uint64{{1, 2, 2}, {20, 40, 40}, {200, 400, 400}, {2000, 4000, 4000}}},
		{"10/90", []float64{0.1, 0.9}, [][]uint64{{10, 90}, {100, 900}, {1000, 9000}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := srm.NewSequential(c.weights)
			require.NoError(t, err)
			for _, counts := range c.counts {
				p, err := s.Update(counts)
				require.NoError(t, err)
				assert.Equal(t, 1.0, p, "counts %v", counts)
				assert.Negative(t, s.LogBayesFactor(), "counts %v", counts)
			}
		})
	}
}

// 50/50, 0.5/0.5 and 1/1 are the same split; the caller's slice is not
// kept.
func TestWeightsAreNormalisedAndCopied(t *testing.T) {
	counts := []uint64{1200, 1000}
	var ps []float64
	for _, w := range [][]float64{{50, 50}, {0.5, 0.5}, {1, 1}} {
		s, err := srm.NewSequential(w)
		require.NoError(t, err)
		w[0] = 1000 // must not change the test
		p, err := s.Update(counts)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	assert.Less(t, ps[0], 1.0, "1200 vs 1000 is some evidence")
	assert.InDelta(t, ps[0], ps[1], 1e-12)
	assert.InDelta(t, ps[0], ps[2], 1e-12)
}

func TestNewSequentialRejectsBadInput(t *testing.T) {
	cases := []struct {
		name    string
		weights []float64
		opts    []srm.Option
		faults  int
	}{
		{"nil weights", nil, nil, 1},
		{"one variant", []float64{1}, nil, 1},
		{"zero weight", []float64{1, 0}, nil, 1},
		{"negative weight", []float64{-1, 1}, nil, 1},
		{"NaN weight", []float64{math.NaN(), 1}, nil, 1},
		{"infinite weight", []float64{math.Inf(1), 1}, nil, 1},
		{"weights summing to +Inf", []float64{math.MaxFloat64, math.MaxFloat64}, nil, 1},
		{"nil option", []float64{1, 1}, []srm.Option{nil}, 1},
		{"zero concentration", []float64{1, 1}, []srm.Option{srm.WithConcentration(0)}, 1},
		{"negative concentration", []float64{1, 1}, []srm.Option{srm.WithConcentration(-1)}, 1},
		{"NaN concentration", []float64{1, 1}, []srm.Option{srm.WithConcentration(math.NaN())}, 1},
		{"infinite concentration", []float64{1, 1}, []srm.Option{srm.WithConcentration(math.Inf(1))}, 1},
		{"every fault at once", []float64{0, -1, 1}, []srm.Option{nil, srm.WithConcentration(0)}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := srm.NewSequential(c.weights, c.opts...)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, options.ErrInvalidConfig)
			if joined, ok := err.(interface{ Unwrap() []error }); assert.True(t, ok, "a joined error") {
				assert.Len(t, joined.Unwrap(), c.faults, "%v", err)
			}
		})
	}
}

func TestUpdateRejectsCountsThatCannotContinueTheTest(t *testing.T) {
	s, err := srm.NewSequential([]float64{1, 1})
	require.NoError(t, err)
	p0, err := s.Update([]uint64{700, 500})
	require.NoError(t, err)
	require.Less(t, p0, 1.0)
	logBF := s.LogBayesFactor()

	cases := []struct {
		name   string
		counts []uint64
		want   error
	}{
		{"nil", nil, srm.ErrCountsLength},
		{"too few", []uint64{800}, srm.ErrCountsLength},
		{"too many", []uint64{800, 600, 1}, srm.ErrCountsLength},
		{"first went down", []uint64{699, 900}, srm.ErrCountsDecreased},
		{"second went down", []uint64{900, 499}, srm.ErrCountsDecreased},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := s.Update(c.counts)
			require.ErrorIs(t, err, c.want)
			assert.Equal(t, p0, p, "the p-value so far")
			assert.Equal(t, p0, s.PValue(), "the test is as it was")
			assert.Equal(t, logBF, s.LogBayesFactor(), "the test is as it was")
		})
	}

	// The same counts again are no news; more counts continue from the
	// last good update.
	p, err := s.Update([]uint64{700, 500})
	require.NoError(t, err)
	assert.Equal(t, p0, p)
	p, err = s.Update([]uint64{1400, 1000})
	require.NoError(t, err)
	assert.Less(t, p, p0)
}

func TestUpdateDoesNotAllocate(t *testing.T) {
	s, err := srm.NewSequential([]float64{1, 1, 1, 1, 1})
	require.NoError(t, err)
	counts := make([]uint64, 5)
	allocs := testing.AllocsPerRun(1000, func() {
		for i := range counts {
			counts[i] += uint64(i + 1)
		}
		_, _ = s.Update(counts)
	})
	assert.Zero(t, allocs)
}
