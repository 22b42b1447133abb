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

// WithShowIDs shows distinct ids, device ids, user ids and insert ids
// unmasked in the report and on the page. By default (false) they are
// masked, because the page is often shared: each is replaced by an
// HMAC-SHA256 under a random key the Auditor draws when it is made and
// never shows ("masked:1a2b3c4d5e6f7a8b"). A mask is the same for one
// value within the process, so the rows of one subject can still be
// matched, and a guessed id cannot be tested against it. The insert id is
// masked too, because it is an unkeyed hash of the distinct id and of the
// other properties on its row.
//
// With ids masked the page still shows what to check: the event name, the
// experiment and variant names as Mixpanel will see them, the time, which
// ids an exposure carries ($device_id, $user_id, and whether its distinct
// id is a "$device:" id), which rows belong to one subject, that each
// exposure has an insert id and that a resend keeps it, and the flag.
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
