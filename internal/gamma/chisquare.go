package gamma

import (
	"fmt"
	"math"
)

// ChiSquareSurvival returns P(X >= x) for X chi-square distributed with df
// degrees of freedom: the p-value of a chi-square statistic x. A
// chi-square variable of df degrees of freedom is a gamma variable of
// shape df/2 and scale 2, so this is Q(df/2, x/2).
//
// It fails with an error wrapping [ErrDomain] unless df >= 1 and x is a
// number >= 0.
func ChiSquareSurvival(x float64, df int) (float64, error) {
	if df < 1 || math.IsNaN(x) || x < 0 {
		return 0, fmt.Errorf("%w: chi-square survival of x=%v with %d degrees of freedom needs x >= 0 and df >= 1", ErrDomain, x, df)
	}
	return UpperRegularized(float64(df)/2, x/2)
}
