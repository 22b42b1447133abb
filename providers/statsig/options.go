package statsig

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/exposurekit/exposure"
)

// Option configures a [Provider] or a [Sink].
type Option func(*config) error

type config struct {
	separator string
	variants  map[string]map[string]string // flag -> provider variant -> registry variant
	log       *slog.Logger
}

func newConfig(opts []Option) (*config, error) {
	c := &config{separator: ".", log: slog.New(slog.DiscardHandler)}
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

// WithParameterSeparator sets the separator between a config's (or
// experiment's) name and a parameter in a flag key (default "."):
// "checkout_redesign.button_color" is the parameter button_color of the
// experiment checkout_redesign.
func WithParameterSeparator(sep string) Option {
	return func(c *config) error {
		if sep == "" {
			return fmt.Errorf("statsig: WithParameterSeparator: separator is empty")
		}
		c.separator = sep
		return nil
	}
}

// WithExperiments gives a [Sink] the experiments registered with the
// Tracker, so that it recognises groups renamed by Experiment.Variants. The
// Provider ignores it.
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

// WithLogger sets the logger for the Sink's mismatches and failures
// (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("statsig: WithLogger: logger is nil")
		}
		c.log = l
		return nil
	}
}

// split parses a flag key into a Statsig entity name and an optional
// parameter.
func (c *config) split(flag string) (name, param string, hasParam bool) {
	return strings.Cut(flag, c.separator)
}

// sameVariant reports whether the variant recorded in an exposure is the
// provider's variant now, directly or through the registry's renaming.
func (c *config) sameVariant(flag, recorded, now string) bool {
	if now == "" {
		return false
	}
	if recorded == now {
		return true
	}
	mapped, ok := c.variants[flag][now]
	return ok && mapped == recorded
}
