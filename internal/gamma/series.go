package gamma

import (
	"fmt"
	"math"
)

// lowerSeries returns the regularized lower incomplete gamma function
// P(a, x) = 1 - Q(a, x) by its power series
//
//	P(a, x) = e^-x x^a / Γ(a) * Σ_{n>=0} x^n / (a (a+1) ... (a+n)),
//
// given front = e^-x x^a / Γ(a). Each term is the previous one times
// x / (a+n), so the terms shrink as soon as a+n > x: for x < a+1 from the
// first, and the sum stops when a term no longer changes it.
func lowerSeries(a, x, front float64) (float64, error) {
	ap, del := a, 1/a
	sum := del
	for range maxIter {
		ap++
		del *= x / ap
		sum += del
		if math.Abs(del) < math.Abs(sum)*epsilon {
			return sum * front, nil
		}
	}
	return 0, fmt.Errorf("%w: series for P(a=%v, x=%v)", ErrNoConvergence, a, x)
}
