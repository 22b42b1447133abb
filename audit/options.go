package audit

import (
	"fmt"

	"github.com/exposurekit/exposure"
)

// Defaults of [NewAuditor]; see [WithRecent] and [WithRateThreshold].
const (
	DefaultRecent        = 100
	DefaultRateThreshold = 0.10
)

// An Option configures an Auditor; see [NewAuditor]. An option given a
// bad value returns an error wrapping [exposure.ErrInvalidConfig].
type Option func(*config) error

type config struct {
	showIDs       bool
	recent        int
	rateThreshold float64
}

// WithShowIDs shows distinct ids, device ids and user ids unmasked in the
// report and on the page. By default they are replaced by a keyed hash
// ("masked:1a2b3c4d", the same for one id within the process, so the rows
// of one subject can still be matched), because the page is often shared.
func WithShowIDs(show bool) Option {
	return func(c *config) error {
		c.showIDs = show
		return nil
	}
}

// WithRecent sets how many recent exposures the Auditor keeps to show, in
// a ring buffer. Default [DefaultRecent]; 0 keeps none; at most 100000.
func WithRecent(n int) Option {
	return func(c *config) error {
		if n < 0 || n > 100_000 {
			return fmt.Errorf("%w: audit.WithRecent: %d is outside 0..100000", exposure.ErrInvalidConfig, n)
		}
		c.recent = n
		return nil
	}
}

// WithRateThreshold sets how far apart, in absolute terms, the exposure
// rates (exposed subjects / assigned subjects) of an experiment's variants
// may be before the sample-ratio check flags the experiment. Default
// [DefaultRateThreshold], 10 percentage points. A render site that marks
// one variant and not the other produces exactly this mismatch.
func WithRateThreshold(f float64) Option {
	return func(c *config) error {
		if !(f > 0 && f <= 1) {
			return fmt.Errorf("%w: audit.WithRateThreshold: %v is outside (0, 1]", exposure.ErrInvalidConfig, f)
		}
		c.rateThreshold = f
		return nil
	}
}
