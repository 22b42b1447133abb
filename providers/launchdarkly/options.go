package launchdarkly

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/options"
)

// An Option configures a [Provider]; see [NewProvider]. An option given a
// bad value returns an error, and NewProvider reports every such error at
// once.
type Option func(*config) error

type config struct {
	variationNames  map[string]map[int]string
	experimentNames map[string]string
	strict          bool
	initTimeout     time.Duration
}

// A SinkOption configures a [Sink]; see [NewSink]. An option given a bad
// value returns an error, and NewSink reports every such error at once.
type SinkOption func(*sinkConfig) error

type sinkConfig struct {
	flushTimeout time.Duration
	log          *slog.Logger
}

// applyOptions applies opts to cfg and returns every error they report,
// joined; a nil option is an error too. constructor names the caller in
// the errors.
func applyOptions[C any, O ~func(*C) error](cfg *C, constructor string, opts []O) error {
	return errors.Join(options.Apply(cfg, "launchdarkly."+constructor, opts)...)
}

// WithVariationNames names the variations of flags: flag key -> variation
// index -> name. LaunchDarkly's server-side flag data carries no variation
// names, so without a name the variant is the variation index ("0", "1", ...).
// The name becomes the OpenFeature variant and the experiment variant, and
// the [Sink], which names variations through its Provider, compares with it.
func WithVariationNames(names map[string]map[int]string) Option {
	return func(c *config) error {
		for flag, byIndex := range names {
			for i, name := range byIndex {
				if i < 0 || strings.TrimSpace(name) == "" {
					return fmt.Errorf("%w: launchdarkly.WithVariationNames: flag %q: variation %d needs a non-empty name and a non-negative index", exposure.ErrInvalidConfig, flag, i)
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
				return fmt.Errorf("%w: launchdarkly.WithExperimentNames: flag %q has an empty name", exposure.ErrInvalidConfig, flag)
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

// WithInitTimeout bounds how long the Provider's Init waits for the client's
// flag data (default 10s). InitWithContext uses its context instead.
func WithInitTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: launchdarkly.WithInitTimeout must be positive, got %v", exposure.ErrInvalidConfig, d)
		}
		c.initTimeout = d
		return nil
	}
}

// WithFlushTimeout bounds how long the Sink's Send waits for LaunchDarkly's
// event processor to deliver the events it recorded (default 10s), when
// Send's context has no earlier deadline.
func WithFlushTimeout(d time.Duration) SinkOption {
	return func(c *sinkConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: launchdarkly.WithFlushTimeout must be positive, got %v", exposure.ErrInvalidConfig, d)
		}
		c.flushTimeout = d
		return nil
	}
}

// WithLogger sets the logger for the Sink's mismatches and failures
// (default: discard).
func WithLogger(l *slog.Logger) SinkOption {
	return func(c *sinkConfig) error {
		if l == nil {
			return fmt.Errorf("%w: launchdarkly.WithLogger given a nil *slog.Logger", exposure.ErrInvalidConfig)
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
