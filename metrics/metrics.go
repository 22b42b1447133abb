package exposure

import (
	"context"
	"fmt"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MeterName is the instrumentation scope of the metrics a Tracker reports
// through [WithMeterProvider].
const MeterName = "github.com/exposurekit/exposure"

// Metric attribute keys.
const (
	MetricAttrExperiment = "experiment" // canonical experiment name
	MetricAttrVariant    = "variant"    // variant name
	MetricAttrSink       = "sink"       // sink name, as in SinkStats.Name
	MetricAttrFlag       = "flag"       // OpenFeature flag key
)

// WithMeterProvider reports the Tracker's counters as OpenTelemetry
// metrics through mp. All instruments are observable: they are read from
// the counters the Tracker keeps anyway when the provider collects, so the
// request path pays nothing more. The instruments (scope [MeterName]):
//
//	exposure.evaluations          counter  flag evaluations seen by the hook
//	exposure.assignments          counter  assignments recorded in a scope   experiment, variant
//	exposure.subjects.assigned    gauge    distinct subjects assigned        experiment, variant
//	exposure.subjects.exposed     gauge    distinct subjects exposed         experiment, variant
//	exposure.marks                counter  MarkRendered calls that found their assignment
//	exposure.marks.unassigned     counter  MarkRendered calls without assignment (render-site bugs)   flag
//	exposure.committed            counter  new exposures handed to the sinks' queues                  experiment, variant
//	exposure.duplicates           counter  exposures suppressed by the deduper                        experiment, variant
//	exposure.discarded            counter  marked exposures of failed requests or discarded scopes
//	exposure.dropped              counter  exposures a full or closed queue refused                    sink
//	exposure.delivered            counter  exposures the sink accepted                                 sink
//	exposure.failed               counter  exposures that failed for good                              sink
//	exposure.retried              counter  exposures sent again after a retryable failure              sink
//	exposure.queue.depth          gauge    exposures waiting in the queue                              sink
//
// Attributes: experiment, variant, sink and flag (see [MetricAttrExperiment]).
// The callback is unregistered by [Tracker.Close].
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return fmt.Errorf("%w: WithMeterProvider given a nil MeterProvider", ErrInvalidConfig)
		}
		c.audit.meterProvider = mp
		return nil
	}
}

func metricAttrs(experiment, variant string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(
		attribute.String(MetricAttrExperiment, experiment),
		attribute.String(MetricAttrVariant, variant)))
}

// registerMetrics creates the instruments and the callback that observes
// them.
func (t *Tracker) registerMetrics(mp metric.MeterProvider) (metric.Registration, error) {
	m := mp.Meter(MeterName)
	var (
		errs []error
		all  []metric.Observable
	)
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		all = append(all, c)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		all = append(all, g)
		return g
	}
	evaluations := counter("exposure.evaluations", "{evaluation}", "Flag evaluations seen by the exposure hook.")
	assignments := counter("exposure.assignments", "{assignment}", "Experiment assignments recorded in a scope.")
	subjAssigned := gauge("exposure.subjects.assigned", "{subject}", "Distinct subjects assigned to the variant (estimated past 384).")
	subjExposed := gauge("exposure.subjects.exposed", "{subject}", "Distinct subjects exposed to the variant (estimated past 384).")
	marks := counter("exposure.marks", "{mark}", "MarkRendered calls that found their assignment.")
	unassigned := counter("exposure.marks.unassigned", "{mark}", "MarkRendered calls for a flag not assigned in the scope: render-site bugs.")
	committed := counter("exposure.committed", "{exposure}", "New exposures handed to the sinks' queues.")
	duplicates := counter("exposure.duplicates", "{exposure}", "Exposures suppressed because the subject had already seen the variant.")
	discarded := counter("exposure.discarded", "{exposure}", "Marked exposures of failed requests or discarded scopes.")
	dropped := counter("exposure.dropped", "{exposure}", "Exposures refused by a full or closed sink queue.")
	delivered := counter("exposure.delivered", "{exposure}", "Exposures the sink accepted.")
	failed := counter("exposure.failed", "{exposure}", "Exposures that failed for good.")
	retried := counter("exposure.retried", "{exposure}", "Exposures sent again after a retryable failure.")
	depth := gauge("exposure.queue.depth", "{exposure}", "Exposures waiting in the sink's queue.")
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("exposure: creating metrics: %w", err)
		}
	}
	au := t.audit
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := t.Stats()
		o.ObserveInt64(evaluations, clampInt64(st.Evaluations))
		o.ObserveInt64(marks, clampInt64(st.Marks))
		o.ObserveInt64(discarded, clampInt64(st.Discarded))
		for _, e := range au.experiments() {
			for _, v := range *e.variants.Load() {
				o.ObserveInt64(assignments, clampInt64(v.assignments.Load()), v.attrs)
				o.ObserveInt64(committed, clampInt64(v.exposures.Load()), v.attrs)
				o.ObserveInt64(duplicates, clampInt64(v.duplicates.Load()), v.attrs)
				o.ObserveInt64(subjAssigned, clampInt64(v.subjectsAssigned.estimate()), v.attrs)
				o.ObserveInt64(subjExposed, clampInt64(v.subjectsExposed.estimate()), v.attrs)
			}
		}
		for flag, n := range au.unassignedByFlag() {
			o.ObserveInt64(unassigned, clampInt64(n), metric.WithAttributes(attribute.String(MetricAttrFlag, flag)))
		}
		for _, s := range st.Sinks {
			attrs := metric.WithAttributes(attribute.String(MetricAttrSink, s.Name))
			o.ObserveInt64(dropped, clampInt64(s.Dropped), attrs)
			o.ObserveInt64(delivered, clampInt64(s.Delivered), attrs)
			o.ObserveInt64(failed, clampInt64(s.Failed), attrs)
			o.ObserveInt64(retried, clampInt64(s.Retried), attrs)
			o.ObserveInt64(depth, int64(s.Queued), attrs)
		}
		return nil
	}, all...)
}

func clampInt64(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
