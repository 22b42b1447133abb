package exposure

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrSampleRatio is wrapped by the errors of [SampleRatio]: its input
// cannot be tested.
var ErrSampleRatio = errors.New("exposure: sample ratio cannot be tested")

// SampleRatio tests observed counts per variant against the expected split
// (a sample-ratio-mismatch check): it returns Pearson's chi-square statistic
// and its p-value, the probability of a split at least this uneven if the
// variants were really assigned by weights. A p-value below 0.001 on a
// reasonable sample means the split is broken: the assignment, the render
// site or the exposure logging favours a variant, and the experiment's
// results cannot be trusted.
//
// weights maps each variant to its expected share, in any unit (50/50,
// 0.5/0.5 and 1/1 are the same split); nil or empty expects an equal split.
// A variant in weights that is absent from observed counts as observed zero
// times. The p-value is the chi-square survival function with (variants - 1)
// degrees of freedom, computed as the regularized upper incomplete gamma
// function, accurate to about 1e-14.
//
// It fails with an error wrapping [ErrSampleRatio] when there are fewer than
// two variants, a count is negative, the total is zero, or weights miss a
// variant of observed or hold a weight that is not a positive number.
func SampleRatio(observed map[string]int, weights map[string]float64) (chi2, p float64, err error) {
	variants := make([]string, 0, max(len(observed), len(weights)))
	total := 0.0
	for v, n := range observed {
		if n < 0 {
			return 0, 0, fmt.Errorf("%w: variant %q has a negative count %d", ErrSampleRatio, v, n)
		}
		variants = append(variants, v)
		total += float64(n)
	}
	for v, w := range weights {
		if !(w > 0) || math.IsInf(w, 1) {
			return 0, 0, fmt.Errorf("%w: variant %q has weight %v; weights must be positive numbers", ErrSampleRatio, v, w)
		}
		if _, ok := observed[v]; !ok {
			variants = append(variants, v)
		}
	}
	if len(variants) < 2 {
		return 0, 0, fmt.Errorf("%w: %d variant(s); at least 2 are needed", ErrSampleRatio, len(variants))
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("%w: no observations", ErrSampleRatio)
	}
	slices.Sort(variants) // a fixed summation order: the same answer every time
	sumW := 0.0
	if len(weights) > 0 {
		for _, v := range variants {
			w, ok := weights[v]
			if !ok {
				return 0, 0, fmt.Errorf("%w: variant %q has no weight", ErrSampleRatio, v)
			}
			sumW += w
		}
	}
	for _, v := range variants {
		share := 1 / float64(len(variants))
		if sumW > 0 {
			share = weights[v] / sumW
		}
		expected := total * share
		d := float64(observed[v]) - expected
		chi2 += d * d / expected
	}
	p, err = chiSquareSurvival(chi2, len(variants)-1)
	if err != nil {
		return 0, 0, err
	}
	return chi2, p, nil
}

// chiSquareSurvival is P(X >= x) for X chi-square distributed with df
// degrees of freedom: Q(df/2, x/2).
func chiSquareSurvival(x float64, df int) (float64, error) {
	if df < 1 {
		return 0, fmt.Errorf("%w: %d degrees of freedom", ErrSampleRatio, df)
	}
	return gammaQ(float64(df)/2, x/2)
}

const (
	gammaEpsilon = 0x1p-52 // relative precision of the series and the fraction: one ulp
	gammaTiny    = 1e-300
	gammaMaxIter = 100_000
)

// gammaQ is the regularized upper incomplete gamma function Q(a, x) =
// Γ(a, x) / Γ(a), by the series for P = 1 - Q when x < a+1 and by a
// continued fraction (modified Lentz) otherwise, as in Numerical Recipes
// (6.2). The fraction gives small tail probabilities with full relative
// precision.
func gammaQ(a, x float64) (float64, error) {
	switch {
	case !(a > 0) || math.IsNaN(x) || x < 0:
		return 0, fmt.Errorf("%w: incomplete gamma of a=%v, x=%v", ErrSampleRatio, a, x)
	case x == 0:
		return 1, nil
	case math.IsInf(x, 1):
		return 0, nil
	}
	lga, _ := math.Lgamma(a)
	front := math.Exp(-x + a*math.Log(x) - lga)
	if x < a+1 {
		// P(a, x) = e^-x x^a / Γ(a) * Σ x^n / (a (a+1) ... (a+n))
		ap, del := a, 1/a
		sum := del
		for range gammaMaxIter {
			ap++
			del *= x / ap
			sum += del
			if math.Abs(del) < math.Abs(sum)*gammaEpsilon {
				return 1 - sum*front, nil
			}
		}
		return 0, fmt.Errorf("%w: incomplete gamma series did not converge for a=%v, x=%v", ErrSampleRatio, a, x)
	}
	// Q(a, x) = e^-x x^a / Γ(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))
	b := x + 1 - a
	c := 1 / gammaTiny
	d := 1 / b
	h := d
	for i := 1; i <= gammaMaxIter; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < gammaTiny {
			d = gammaTiny
		}
		c = b + an/c
		if math.Abs(c) < gammaTiny {
			c = gammaTiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < gammaEpsilon {
			return front * h, nil
		}
	}
	return 0, fmt.Errorf("%w: incomplete gamma fraction did not converge for a=%v, x=%v", ErrSampleRatio, a, x)
}
