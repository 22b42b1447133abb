package gamma

import (
	"fmt"
	"math"
)

// upperFraction returns Q(a, x) by its continued fraction
//
//	Q(a, x) = e^-x x^a / Γ(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))
//
// given front = e^-x x^a / Γ(a), evaluated from the top down by the
// modified Lentz method: h, the fraction truncated after i terms, is the
// product of ratios c*d that tend to 1, and the evaluation stops when the
// latest ratio is 1 to within an ulp. Lentz's method never divides by a
// partial denominator that happens to be 0: one that underflows below tiny
// is replaced by tiny. For x >= a+1 the fraction converges quickly, and
// being a product rather than a difference it keeps full relative
// precision however small Q is.
func upperFraction(a, x, front float64) (float64, error) {
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i <= maxIter; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < epsilon {
			return front * h, nil
		}
	}
	return 0, fmt.Errorf("%w: continued fraction for Q(a=%v, x=%v)", ErrNoConvergence, a, x)
}
