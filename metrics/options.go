package metrics

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"

	"github.com/exposurekit/exposure"
)

// An Option configures a Recorder; see [NewRecorder]. An option given a
// bad value returns an error wrapping [exposure.ErrInvalidConfig].
type Option func(*config) error

type config struct {
	attrs []attribute.KeyValue
}

// WithAttributes adds attrs to every measurement of the Recorder, such as
// to tell apart two Trackers of one process that report through the same
// MeterProvider. A key must be valid and not one of the Recorder's own
// ([AttrExperiment], [AttrVariant], [AttrSink], [AttrFlag], [AttrReason],
// [AttrStage]).
// It is repeatable.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) error {
		for _, kv := range attrs {
			if !kv.Valid() {
				return fmt.Errorf("%w: metrics.WithAttributes: attribute %q is not valid", exposure.ErrInvalidConfig, kv.Key)
			}
			switch kv.Key {
			case AttrExperiment, AttrVariant, AttrSink, AttrFlag, AttrReason, AttrStage:
				return fmt.Errorf("%w: metrics.WithAttributes: %q is an attribute of the Recorder's own", exposure.ErrInvalidConfig, kv.Key)
			}
		}
		c.attrs = append(c.attrs, attrs...)
		return nil
	}
}
