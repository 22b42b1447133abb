// Package gamma computes the regularized upper incomplete gamma function
// Q(a, x), and through it the survival function of the chi-square
// distribution: the p-value of a chi-square test.
//
// Q is computed as in Numerical Recipes (section 6.2) by one of two
// expansions, each used where it converges fast: a power series for the
// lower function P = 1 - Q when x < a+1 (series.go), and a continued
// fraction for Q itself otherwise (fraction.go). The fraction matters for
// p-values: a p-value of 1e-20 computed as 1 - P would be lost to
// rounding, since P is then 1 to double precision, while the fraction
// keeps full relative precision in the far tail.
package gamma

import (
	"errors"
	"fmt"
	"math"
)

// ErrDomain is wrapped by the errors for arguments outside a function's
// domain.
var ErrDomain = errors.New("gamma: argument out of domain")

// ErrNoConvergence is wrapped by the errors of an expansion that did not
// converge within its iterations, which takes a of a few hundred million
// with x near a.
var ErrNoConvergence = errors.New("gamma: expansion did not converge")

const (
	epsilon = 0x1p-52 // relative precision of the series and the fraction: one ulp
	tiny    = 1e-300  // stands in for 0 in the fraction, to avoid dividing by it
	maxIter = 100_000 // the expansions need about sqrt(a) terms where x is near a
)

// UpperRegularized returns the regularized upper incomplete gamma function
//
//	Q(a, x) = Γ(a, x) / Γ(a) = 1/Γ(a) ∫_x^∞ t^(a-1) e^-t dt,
//
// the probability that a gamma-distributed variable of shape a and scale 1
// is at least x. Q(a, 0) = 1 and Q(a, +Inf) = 0.
//
// For a and x up to a few tens the result is accurate to about 1e-14, and
// where x >= a+1 (the tail) that holds relative to Q, however small.
// Beyond, the error grows in proportion to x + a ln x + ln Γ(a), the size
// of the exponent of e^-x x^a / Γ(a): about 1e-13 at x = 700, 1e-12 at
// a = 1000. Where
// x < a+1 the result is 1 - P and only accurate in absolute terms: for a
// tiny a, whose Q is tiny too, it is rounding noise around 0, even
// slightly negative. A chi-square test, where a >= 1/2, never gets there.
//
// It fails with an error wrapping [ErrDomain] unless a is positive and
// finite and x is a number >= 0, and with one wrapping [ErrNoConvergence]
// if its expansion does not converge.
func UpperRegularized(a, x float64) (float64, error) {
	switch {
	case !(a > 0) || math.IsInf(a, 1) || math.IsNaN(x) || x < 0:
		return 0, fmt.Errorf("%w: Q(a=%v, x=%v) needs 0 < a < +Inf and x >= 0", ErrDomain, a, x)
	case x == 0:
		return 1, nil
	case math.IsInf(x, 1):
		return 0, nil
	}
	// Both expansions scale by e^-x x^a / Γ(a), computed through logarithms
	// since each factor alone overflows long before the product does.
	lga, _ := math.Lgamma(a)
	front := math.Exp(-x + a*math.Log(x) - lga)
	if x < a+1 {
		p, err := lowerSeries(a, x, front)
		if err != nil {
			return 0, err
		}
		return 1 - p, nil
	}
	return upperFraction(a, x, front)
}
