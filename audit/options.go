package audit

import (
	"fmt"
	"maps"
	"math"
	"strings"

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
	weights       map[string]map[string]float64 // by experiment name; see WithWeights
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

// WithWeights gives the expected split of an experiment the Tracker's
// registry does not weigh, for the sample-ratio check: experiment is its
// Mixpanel "Experiment name" as the report shows it, weights map each
// Mixpanel "Variant name" to its expected share, in any unit (90/10,
// 0.9/0.1 and 9/1 are the same split).
//
// It is for the experiments the registry cannot weigh: those a provider
// names in flag metadata, and the related assignments flattened into
// exposures of their own, such as a GrowthBook holdout, which shares its
// flag key with the experiment behind it and so is not a registered
// experiment. Without weights the Auditor tests an experiment against an
// equal split, which a 10% holdout split exactly as planned fails at once
// (and [SRMCheck.EqualSplitAssumed] says so).
//
// Where both give weights for one experiment, the registry's
// ([exposure.Experiment.Weights]) win: they are what the Tracker was
// told. A variant exposed but missing from weights is flagged, as for the
// registry's. Unlike a registered experiment, the experiment is in the
// report once the Auditor has seen it, not before any traffic. The map is
// copied; changing it afterwards changes nothing.
// Give each experiment once. An empty experiment name, no weights, an
// empty variant name or a weight that is not a positive finite number is
// an error wrapping [exposure.ErrInvalidConfig].
func WithWeights(experiment string, weights map[string]float64) Option {
	weights = maps.Clone(weights) // now: the caller may change its map before NewAuditor
	return func(c *config) error {
		const who = "audit.WithWeights"
		switch {
		case strings.TrimSpace(experiment) == "":
			return fmt.Errorf("%w: %s: empty experiment name", exposure.ErrInvalidConfig, who)
		case len(weights) == 0:
			return fmt.Errorf("%w: %s: experiment %q: no weights", exposure.ErrInvalidConfig, who, experiment)
		}
		if _, dup := c.weights[experiment]; dup {
			return fmt.Errorf("%w: %s: experiment %q is given twice", exposure.ErrInvalidConfig, who, experiment)
		}
		for v, w := range weights {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("%w: %s: experiment %q has an empty variant name", exposure.ErrInvalidConfig, who, experiment)
			}
			if !(w > 0) || math.IsInf(w, 1) {
				return fmt.Errorf("%w: %s: experiment %q has weight %v for variant %q; weights must be positive finite numbers",
					exposure.ErrInvalidConfig, who, experiment, w, v)
			}
		}
		if c.weights == nil {
			c.weights = make(map[string]map[string]float64)
		}
		c.weights[experiment] = weights
		return nil
	}
}
