package srm_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure/internal/srm"
)

// The alarm threshold of the audit page, for both tests.
const alarm = 0.001

// block is how many exposures arrive between two looks at the split.
const block = 100

// binomial draws Binomial(block, p) exactly, by inverting its cumulative
// distribution with one uniform draw: a look costs one random number, not
// a hundred.
type binomial struct {
	cdf [block + 1]float64
}

func newBinomial(p float64) *binomial {
	var b binomial
	pmf := math.Pow(1-p, block) // P(X = 0)
	acc := 0.0
	for i := range b.cdf {
		acc += pmf
		b.cdf[i] = acc
		pmf *= float64(block-i) / float64(i+1) * p / (1 - p) // P(X = i+1)
	}
	b.cdf[block] = math.Inf(1) // rounding cannot leave u past the end
	return &b
}

// draw returns the least i with u < cdf[i].
func (b *binomial) draw(r *rand.Rand) uint64 {
	u := r.Float64()
	lo, hi := 0, block
	for lo < hi {
		mid := (lo + hi) / 2
		if u < b.cdf[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return uint64(lo)
}

// The sampler the simulations rely on has the mean and variance of
// Binomial(100, p).
func TestBinomialSampler(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, p := range []float64{0.5, 0.52, 0.55} {
		b := newBinomial(p)
		const draws = 200_000
		var sum, sumSq float64
		for range draws {
			x := float64(b.draw(r))
			sum += x
			sumSq += x * x
		}
		mean := sum / draws
		variance := sumSq/draws - mean*mean
		wantVar := block * p * (1 - p)
		// 5 standard errors of the mean; the variance within 2%.
		assert.InDelta(t, block*p, mean, 5*math.Sqrt(wantVar/draws), "mean at p=%v", p)
		assert.InEpsilon(t, wantVar, variance, 0.02, "variance at p=%v", p)
	}
}

// chiSquareP is the p-value of Pearson's chi-square test of a 50/50 split
// of n exposures, a of them to the first variant: with one degree of
// freedom the statistic is (a-b)²/n and its survival function is
// erfc(sqrt(x/2)).
func chiSquareP(a, n uint64) float64 {
	d := 2*float64(a) - float64(n)
	return math.Erfc(math.Sqrt(d * d / float64(n) / 2))
}

// The must-show: experiments with a true 50/50 split, looked at
// after every 100 exposures up to 20,000 (200 looks), as the audit page
// does. The fixed-sample chi-square at p < 0.001, read at every look,
// flags far more than 0.1% of them; the sequential test keeps its promise
// of at most 0.1% (asserted with room for sampling error: 0.5%).
func TestRepeatedLooksAtATrueSplit(t *testing.T) {
	const (
		experiments = 2000
		horizon     = 20_000
	)
	r := rand.New(rand.NewPCG(20221128, 2011_03567))
	half := newBinomial(0.5)
	seqAlarms, chiAlarms := 0, 0
	for range experiments {
		s, err := srm.NewSequential([]float64{50, 50})
		require.NoError(t, err)
		var a, n uint64
		seqFired, chiFired := false, false
		for n < horizon && !(seqFired && chiFired) {
			a += half.draw(r)
			n += block
			p, err := s.Update([]uint64{a, n - a})
			require.NoError(t, err)
			seqFired = seqFired || p < alarm
			chiFired = chiFired || chiSquareP(a, n) < alarm
		}
		if seqFired {
			seqAlarms++
		}
		if chiFired {
			chiAlarms++
		}
	}
	seqRate := float64(seqAlarms) / experiments
	chiRate := float64(chiAlarms) / experiments
	t.Logf("true 50/50, %d experiments, a look every %d exposures up to %d, alarm at p < %g:", experiments, block, horizon, alarm)
	t.Logf("  sequential test:          %d false alarms (%.2f%%)", seqAlarms, 100*seqRate)
	t.Logf("  repeated chi-square test: %d false alarms (%.2f%%)", chiAlarms, 100*chiRate)
	assert.LessOrEqual(t, seqRate, 0.005, "the sequential test promises at most 0.1%")
	assert.Greater(t, chiAlarms, seqAlarms, "repeated looks inflate the chi-square's false alarms")
	assert.Greater(t, chiRate, 2*alarm, "the chi-square's repeated rate is well above its nominal 0.1%")
}

// How many exposures the sequential test needs to flag a real mismatch,
// looked at every 100 exposures; the fixed-sample chi-square read the same
// way is logged beside it (it flags sooner, at the price of the false
// alarms above).
func TestExposuresToFlagAMismatch(t *testing.T) {
	const (
		runs     = 500
		capacity = 200_000 // stop looking here: a run not flagged by then counts as never
	)
	cases := []struct {
		name  string
		share float64
	}{
		{"52/48", 0.52},
		{"55/45", 0.55},
	}
	medians := map[string]float64{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(20221128, uint64(c.share*100)))
			b := newBinomial(c.share)
			seqN := make([]float64, 0, runs)
			chiN := make([]float64, 0, runs)
			for range runs {
				s, err := srm.NewSequential([]float64{50, 50})
				require.NoError(t, err)
				var a, n uint64
				seqAt, chiAt := math.Inf(1), math.Inf(1)
				for n < capacity && (math.IsInf(seqAt, 1) || math.IsInf(chiAt, 1)) {
					a += b.draw(r)
					n += block
					p, err := s.Update([]uint64{a, n - a})
					require.NoError(t, err)
					if math.IsInf(seqAt, 1) && p < alarm {
						seqAt = float64(n)
					}
					if math.IsInf(chiAt, 1) && chiSquareP(a, n) < alarm {
						chiAt = float64(n)
					}
				}
				seqN = append(seqN, seqAt)
				chiN = append(chiN, chiAt)
			}
			seqMedian, seqFlagged := median(seqN)
			chiMedian, _ := median(chiN)
			medians[c.name] = seqMedian
			t.Logf("true %s, %d runs: sequential test flags %d by %d exposures, median %.0f exposures; repeated chi-square median %.0f",
				c.name, runs, seqFlagged, capacity, seqMedian, chiMedian)
			assert.Greater(t, seqFlagged, runs*9/10, "a real mismatch is flagged in nearly every run")
			assert.Less(t, seqMedian, float64(capacity))
			assert.LessOrEqual(t, chiMedian, seqMedian, "the fixed-sample test reads as more powerful (it is not valid when read repeatedly)")
		})
	}
	if len(medians) == 2 {
		assert.Less(t, medians["55/45"], medians["52/48"], "a larger mismatch is flagged sooner")
	}
}

// median returns the median of xs (+Inf counting as never) and how many are
// finite.
func median(xs []float64) (float64, int) {
	s := slices.Clone(xs)
	slices.Sort(s)
	finite := 0
	for _, x := range s {
		if !math.IsInf(x, 1) {
			finite++
		}
	}
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m], finite
	}
	return (s[m-1] + s[m]) / 2, finite
}
