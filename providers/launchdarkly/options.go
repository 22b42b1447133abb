package launchdarkly

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/exposurekit/exposure"
)

// Option configures a [Provider] or a [Sink]. Give both the same naming
// options, so that the Sink recognises the variant names the Provider gave.
type Option func(*config) error

type config struct {
	variationNames  map[string]map[int]string
	experimentNames map[string]string
	variants        map[string]map[string]string // flag -> provider variant -> registry variant
	strict          bool
	initTimeout     time.Duration
	flushTimeout    time.Duration
	log             *slog.Logger
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		initTimeout:  10 * time.Second,
		flushTimeout: 10 * time.Second,
		log:          slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// WithVariationNames names the variations of flags: flag key -> variation
// index -> name. LaunchDarkly's server-side flag data carries no variation
// names, so without a name the variant is the variation index ("0", "1", ...).
// The name becomes the OpenFeature variant and the experiment variant.
func WithVariationNames(names map[string]map[int]string) Option {
	return func(c *config) error {
		for flag, byIndex := range names {
			for i, name := range byIndex {
				if i < 0 || strings.TrimSpace(name) == "" {
					return fmt.Errorf("launchdarkly: WithVariationNames: flag %q: variation %d needs a non-empty name and a non-negative index", flag, i)
				}
			}
		}
		c.variationNames = names
		return nil
	}
}

// WithExperimentNames names the experiments of flags: flag key -> experiment
// name, reported in the experiment.name flag metadata. Without a name the
// flag key is used. (A name registered with exposure.WithExperiments wins
// over both.)
func WithExperimentNames(names map[string]string) Option {
	return func(c *config) error {
		for flag, name := range names {
			if strings.TrimSpace(name) == "" {
				return fmt.Errorf("launchdarkly: WithExperimentNames: flag %q has an empty name", flag)
			}
		}
		c.experimentNames = names
		return nil
	}
}

// WithStrictExperiments makes the Provider report experiment.inExperiment
// false for every evaluation that LaunchDarkly does not count in an
// experiment, so that a flag registered with exposure.WithExperiments is an
// assignment only for the users an LD experiment samples. By default only
// in-experiment evaluations carry experiment metadata, and registered flags
// count every evaluation (percentage rollouts analysed in Mixpanel alone).
func WithStrictExperiments() Option {
	return func(c *config) error {
		c.strict = true
		return nil
	}
}

// WithExperiments gives a [Sink] the experiments registered with the
// Tracker, so that it recognises variants renamed by Experiment.Variants.
// The Provider ignores it.
func WithExperiments(exps ...exposure.Experiment) Option {
	return func(c *config) error {
		c.variants = make(map[string]map[string]string, len(exps))
		for _, e := range exps {
			if len(e.Variants) > 0 {
				c.variants[e.FlagKey] = e.Variants
			}
		}
		return nil
	}
}

// WithInitTimeout bounds how long the Provider's Init waits for the client's
// flag data (default 10s). InitWithContext uses its context instead.
func WithInitTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("launchdarkly: WithInitTimeout must be positive, got %v", d)
		}
		c.initTimeout = d
		return nil
	}
}

// WithFlushTimeout bounds how long the Sink's Send waits for LaunchDarkly's
// event processor to deliver the events it recorded (default 10s), when
// Send's context has no earlier deadline.
func WithFlushTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("launchdarkly: WithFlushTimeout must be positive, got %v", d)
		}
		c.flushTimeout = d
		return nil
	}
}

// WithLogger sets the logger for the Sink's mismatches and failures
// (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("launchdarkly: WithLogger: logger is nil")
		}
		c.log = l
		return nil
	}
}

// variantName is the variant of a flag's variation: its configured name, else
// its index.
func (c *config) variantName(flag string, index int) string {
	if name, ok := c.variationNames[flag][index]; ok {
		return name
	}
	return strconv.Itoa(index)
}

func (c *config) experimentName(flag string) string {
	if name, ok := c.experimentNames[flag]; ok {
		return name
	}
	return flag
}

// sameVariant reports whether the variant recorded in an exposure is the one
// the provider names for a variation index, directly or through the
// registry's renaming.
func (c *config) sameVariant(flag, recorded string, index int) bool {
	name := c.variantName(flag, index)
	if recorded == name || recorded == strconv.Itoa(index) {
		return true
	}
	if mapped, ok := c.variants[flag][name]; ok && mapped == recorded {
		return true
	}
	return false
}
