package srm

import (
	"errors"
	"fmt"
	"math"

	"github.com/exposurekit/exposure/internal/options"
)

// Sequential is the state of one experiment's anytime-valid sample-ratio
// test (see the package documentation). It must see each variant's
// cumulative count in time order, through [Sequential.Update].
//
// A Sequential is not safe for concurrent use: the caller serialises its
// calls, typically under the lock that guards the experiment's other
// state. An update that succeeds does not allocate.
type Sequential struct {
	k         float64   // concentration: Σ α_i
	lgammaK   float64   // ln Γ(k)
	alpha     []float64 // α_i = k·θ0_i
	lgammaA   []float64 // ln Γ(α_i)
	logTheta  []float64 // ln θ0_i
	counts    []uint64  // the counts of the last update
	maxLogBF  float64   // max over updates of ln BF_t, and 0 (BF_0 = 1)
	lastLogBF float64   // ln BF of the last update
}

// NewSequential returns the test of a split planned by weights, one per
// variant, in any unit (50/50, 0.5/0.5 and 1/1 are the same split): they
// are normalised into the null proportions θ0. The variants are those of
// the slice, by position: [Sequential.Update] takes counts in the same
// order.
//
// It fails with an error wrapping [options.ErrInvalidConfig] when there are
// fewer than two weights, a weight is not a positive finite number, or an
// option is nil or invalid; every fault is reported at once.
func NewSequential(weights []float64, opts ...Option) (*Sequential, error) {
	c := config{concentration: DefaultConcentration}
	errs := options.Apply(&c, "srm.NewSequential", opts)
	if len(weights) < 2 {
		errs = append(errs, fmt.Errorf("%w: srm.NewSequential: %d weight(s); at least 2 variants are needed", options.ErrInvalidConfig, len(weights)))
	}
	sum, valid := 0.0, true
	for i, w := range weights {
		if !(w > 0) || math.IsInf(w, 1) {
			errs = append(errs, fmt.Errorf("%w: srm.NewSequential: weight %d is %v; weights must be positive finite numbers", options.ErrInvalidConfig, i, w))
			valid = false
		}
		sum += w
	}
	if valid && math.IsInf(sum, 1) {
		errs = append(errs, fmt.Errorf("%w: srm.NewSequential: the weights sum to +Inf", options.ErrInvalidConfig))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	n := len(weights)
	s := &Sequential{
		k:        c.concentration,
		alpha:    make([]float64, n),
		lgammaA:  make([]float64, n),
		logTheta: make([]float64, n),
		counts:   make([]uint64, n),
	}
	s.lgammaK = lgamma(s.k)
	for i, w := range weights {
		theta := w / sum
		s.alpha[i] = s.k * theta
		s.lgammaA[i] = lgamma(s.alpha[i])
		s.logTheta[i] = math.Log(theta)
	}
	return s, nil
}

// Update takes each variant's cumulative count (all the exposed subjects
// so far, in the order of the weights) and returns the anytime-valid
// p-value after them. The p-value never increases from one update to the
// next; it can be compared with a threshold at every update, as often as
// wanted, with the false-alarm probability of a single look.
//
// Counts equal to the previous ones are fine (nothing new happened). It
// fails, leaving the test as it was, with an error wrapping
// [ErrCountsLength] when there is not one count per variant, or
// [ErrCountsDecreased] when a count is lower than at the previous update.
// It costs O(variants): one log-gamma per variant.
func (s *Sequential) Update(counts []uint64) (p float64, err error) {
	if len(counts) != len(s.counts) {
		return s.PValue(), fmt.Errorf("%w: %d counts for %d variants", ErrCountsLength, len(counts), len(s.counts))
	}
	for i, x := range counts {
		if x < s.counts[i] {
			return s.PValue(), fmt.Errorf("%w: variant %d went from %d to %d", ErrCountsDecreased, i, s.counts[i], x)
		}
	}
	copy(s.counts, counts)
	s.lastLogBF = s.logBayesFactor()
	s.maxLogBF = max(s.maxLogBF, s.lastLogBF)
	return s.PValue(), nil
}

// PValue returns the anytime-valid p-value after the last successful
// update: min(1, 1/max BF_t). It is 1 before any update.
func (s *Sequential) PValue() float64 {
	return math.Exp(-s.maxLogBF) // maxLogBF >= 0, so this is at most 1
}

// LogBayesFactor returns ln BF_n of the last successful update (0 before
// any): the evidence for a mismatch in the current counts alone, which,
// unlike the p-value, can fall again when the split recovers.
func (s *Sequential) LogBayesFactor() float64 {
	return s.lastLogBF
}

// logBayesFactor is ln BF_n of s.counts:
//
//	ln Γ(k) - ln Γ(k+n) + Σ_i [ln Γ(α_i+x_i) - ln Γ(α_i) - x_i ln θ0_i].
func (s *Sequential) logBayesFactor() float64 {
	n := 0.0
	sum := 0.0
	for i, c := range s.counts {
		x := float64(c)
		n += x
		if c == 0 {
			continue // ln Γ(α_i) - ln Γ(α_i) - 0
		}
		sum += lgamma(s.alpha[i]+x) - s.lgammaA[i] - x*s.logTheta[i]
	}
	return s.lgammaK - lgamma(s.k+n) + sum
}

// lgamma is ln Γ(x) for x > 0, where Γ is positive.
func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}
