package srm

import (
	"fmt"
	"math"

	"github.com/exposurekit/exposure/internal/options"
)

// DefaultConcentration is the concentration k of the Dirichlet prior
// α_i = k·θ0_i used unless [WithConcentration] sets another: 100, the
// default of Lindon's reference implementation.
//
// The prior is centred on the planned split θ0, and k sets how far from it
// the alternative looks: with k = 100 the prior share of a variant planned
// at 50% has a standard deviation of about 5 percentage points
// (sqrt(θ0(1-θ0)/(k+1))), the size of the mismatches a broken assignment or
// logging path produces. A smaller k spreads the prior over wild splits
// and flags gross mismatches sooner but small ones later; a larger k does
// the reverse. Any k > 0 keeps the guarantee; only power depends on it.
const DefaultConcentration = 100

// Option configures [NewSequential].
type Option func(*config) error

type config struct {
	concentration float64
}

// WithConcentration sets the concentration k of the Dirichlet prior
// α_i = k·θ0_i (see [DefaultConcentration]). k must be a positive finite
// number; otherwise [NewSequential] fails with an error wrapping
// [options.ErrInvalidConfig].
func WithConcentration(k float64) Option {
	return func(c *config) error {
		if !(k > 0) || math.IsInf(k, 1) {
			return fmt.Errorf("%w: srm.WithConcentration(%v): the concentration must be a positive finite number", options.ErrInvalidConfig, k)
		}
		c.concentration = k
		return nil
	}
}
