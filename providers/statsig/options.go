package statsig

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/options"
)

// An Option configures a [Provider]; see [NewProvider]. An option given a
// bad value returns an error, and NewProvider reports every such error at
// once.
type Option func(*config) error

type config struct {
	separator string
}

// WithParameterSeparator sets the separator between a config's (or
// experiment's) name and a parameter in a flag key (default "."):
// "checkout_redesign.button_color" is the parameter button_color of the
// experiment checkout_redesign. The [Sink] splits flag keys as its
// Provider does.
func WithParameterSeparator(sep string) Option {
	return func(c *config) error {
		if sep == "" {
			return fmt.Errorf("%w: statsig.WithParameterSeparator given an empty separator", exposure.ErrInvalidConfig)
		}
		c.separator = sep
		return nil
	}
}

// split parses a flag key into a Statsig entity name and an optional
// parameter.
func (c *config) split(flag string) (name, param string, hasParam bool) {
	return strings.Cut(flag, c.separator)
}

// A SinkOption configures a [Sink]; see [NewSink]. An option given a bad
// value returns an error, and NewSink reports every such error at once.
type SinkOption func(*sinkConfig) error

type sinkConfig struct {
	log *slog.Logger
}

// WithLogger sets the logger for the Sink's mismatches and failures
// (default: discard).
func WithLogger(l *slog.Logger) SinkOption {
	return func(c *sinkConfig) error {
		if l == nil {
			return fmt.Errorf("%w: statsig.WithLogger given a nil *slog.Logger", exposure.ErrInvalidConfig)
		}
		c.log = l
		return nil
	}
}

// applyOptions applies opts to cfg and returns every error they report,
// joined; a nil option is an error too. constructor names the caller in
// the errors.
func applyOptions[C any, O ~func(*C) error](cfg *C, constructor string, opts []O) error {
	return errors.Join(options.Apply(cfg, "statsig."+constructor, opts)...)
}
