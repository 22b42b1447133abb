package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/options"
	"github.com/exposurekit/exposure/internal/tally"
)

// MeterName is the instrumentation scope of a Recorder's instruments.
const MeterName = "github.com/exposurekit/exposure/metrics"

// Attribute keys of the measurements.
const (
	AttrExperiment = "experiment" // canonical experiment name
	AttrVariant    = "variant"    // variant name
	AttrSink       = "sink"       // sink name, as in exposure.SinkStats.Name
	AttrFlag       = "flag"       // OpenFeature flag key
	AttrReason     = "reason"     // why an evaluation was skipped
	AttrStage      = "stage"      // the stage of a failed request: failed_render or failed_request
)

// maxSinks bounds the sinks a Recorder accounts; a Tracker has a few.
const maxSinks = 64

// A Recorder counts the events of a Tracker's pipeline and reports them as
// OpenTelemetry metrics (see the package documentation for the
// instruments). It is an [exposure.Observer]: give it to one Tracker with
// [exposure.WithObserver]. It is safe for concurrent use.
type Recorder struct {
	base    []attribute.KeyValue
	baseOpt metric.MeasurementOption

	totals tally.Stages               // every event, by stage
	table  *tally.Table[variantAttrs] // Ext: the variant's attribute sets
	sinks  *tally.Index[sinkAccount]  // by sink name

	mu  sync.Mutex // guards reg
	reg metric.Registration
}

var _ exposure.Observer = (*Recorder)(nil)

// variantAttrs are the attribute sets of one variant's measurements, made
// once, when the variant is first seen.
type variantAttrs struct {
	all           metric.MeasurementOption // experiment and variant
	failedRender  metric.MeasurementOption // and stage=failed_render
	failedRequest metric.MeasurementOption // and stage=failed_request
}

// sinkAccount is the counts of one sink and its attributes.
type sinkAccount struct {
	counts tally.Stages
	attrs  metric.MeasurementOption
}

// NewRecorder creates the instruments on mp's meter [MeterName] and
// registers the callback that reports them. It reports every invalid
// option at once, joined in one error wrapping [exposure.ErrInvalidConfig];
// a nil mp or option is an error.
func NewRecorder(mp metric.MeterProvider, opts ...Option) (*Recorder, error) {
	var c config
	errs := options.Apply(&c, "metrics.NewRecorder", opts)
	if mp == nil {
		errs = append(errs, fmt.Errorf("%w: metrics.NewRecorder given a nil MeterProvider", exposure.ErrInvalidConfig))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r := &Recorder{
		base:  c.attrs,
		sinks: tally.NewIndex[sinkAccount](maxSinks),
	}
	r.baseOpt = r.attrs()
	r.table = tally.NewTable(func(experiment, variant string, ext *variantAttrs) {
		e, v := attribute.String(AttrExperiment, experiment), attribute.String(AttrVariant, variant)
		*ext = variantAttrs{
			all:           r.attrs(e, v),
			failedRender:  r.attrs(e, v, attribute.String(AttrStage, exposure.StageFailedRender.String())),
			failedRequest: r.attrs(e, v, attribute.String(AttrStage, exposure.StageFailedRequest.String())),
		}
	})
	reg, err := r.register(mp.Meter(MeterName))
	if err != nil {
		return nil, err
	}
	r.reg = reg
	return r, nil
}

// attrs returns the measurement option of the Recorder's attributes and
// kvs.
func (r *Recorder) attrs(kvs ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(append(slices.Clip(r.base), kvs...)...))
}

// Observe counts one event of the pipeline. The Tracker calls it; see
// [exposure.Observer]. On StageClosed it unregisters the callback: a
// closed Tracker reports nothing more.
func (r *Recorder) Observe(ev exposure.Event) {
	r.totals.Add(ev.Stage, ev.Count)
	r.table.Record(&ev)
	if ev.Sink != "" {
		if s := r.sink(ev.Sink); s != nil {
			s.counts.Add(ev.Stage, ev.Count)
		}
	}
	if ev.Stage == exposure.StageClosed {
		r.unregister()
	}
}

func (r *Recorder) sink(name string) *sinkAccount {
	if s := r.sinks.Find(name); s != nil {
		return s
	}
	return r.sinks.Add(name, &sinkAccount{attrs: r.attrs(attribute.String(AttrSink, name))})
}

func (r *Recorder) unregister() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reg != nil {
		// The SDK's Unregister fails only for a callback it does not know:
		// there is nothing left to undo either way.
		_ = r.reg.Unregister()
		r.reg = nil
	}
}

// instruments are the Recorder's instruments, by the stage they count.
type instruments struct {
	all []metric.Observable

	evaluations, skipped, untracked, unassigned metric.Int64ObservableCounter
	perVariant                                  map[exposure.Stage]metric.Int64ObservableCounter
	failedRequests                              metric.Int64ObservableCounter // by stage too
	perSink                                     map[exposure.Stage]metric.Int64ObservableCounter
	subjAssigned, subjExposed, pending          metric.Int64ObservableGauge
	crossoverShare                              metric.Float64ObservableGauge
}

// register creates the instruments and the callback that observes them.
func (r *Recorder) register(m metric.Meter) (metric.Registration, error) {
	var (
		in   = instruments{perVariant: map[exposure.Stage]metric.Int64ObservableCounter{}, perSink: map[exposure.Stage]metric.Int64ObservableCounter{}}
		errs []error
	)
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		in.all = append(in.all, c)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		in.all = append(in.all, g)
		return g
	}
	in.evaluations = counter("exposure.evaluations", "{evaluation}", "Flag evaluations seen by the exposure hook.")
	in.skipped = counter("exposure.skipped", "{evaluation}", "Experiment evaluations that were not assignments, by reason.")
	in.untracked = counter("exposure.untracked", "{event}", "Events of experiments or variants past the bounds, left out of the per-variant metrics.")
	in.unassigned = counter("exposure.marks.unassigned", "{mark}", "Marks and handoffs of a flag not assigned in the scope: render-site bugs.")
	for _, i := range []struct {
		stage            exposure.Stage
		name, unit, desc string
	}{
		{exposure.StageAssigned, "exposure.assignments", "{assignment}", "Experiment assignments recorded in a scope."},
		{exposure.StageReverted, "exposure.assignments.reverted", "{assignment}", "Assignments undone because a later hook failed the evaluation."},
		{exposure.StageMarked, "exposure.marks", "{mark}", "MarkRendered calls that found their assignment."},
		{exposure.StageHandedOff, "exposure.handoffs", "{assignment}", "Assignments handed off for another party to confirm."},
		{exposure.StageDiscarded, "exposure.discarded", "{assignment}", "Marked assignments of failed requests or discarded scopes."},
		{exposure.StageCommitted, "exposure.committed", "{exposure}", "New exposures handed to the sinks' queues."},
		{exposure.StageDuplicate, "exposure.duplicates", "{exposure}", "Exposures suppressed because the subject had already seen the variant."},
		{exposure.StageDedupeError, "exposure.dedupe.errors", "{exposure}", "Claims the deduper failed; the exposure was sent rather than lost."},
		{exposure.StageBot, "exposure.bots", "{mark}", "Marked assignments of requests from bots and crawlers: rendered, not exposed."},
		{exposure.StageCrossover, "exposure.crossovers", "{exposure}", "Exposures of subjects who had seen another variant of the experiment within the dedupe window, by the variant crossed into."},
	} {
		in.perVariant[i.stage] = counter(i.name, i.unit, i.desc)
	}
	in.failedRequests = counter("exposure.requests.failed", "{assignment}",
		"Assignments in failed requests (status >= 500 or panic), by stage: failed_render when marked, failed_request when not.")
	share, err := m.Float64ObservableGauge("exposure.crossover.share", metric.WithUnit("1"),
		metric.WithDescription("Crossovers over committed exposures of the experiment (committed counts first exposures per subject and variant)."))
	errs = append(errs, err)
	in.all = append(in.all, share)
	in.crossoverShare = share
	in.subjAssigned = gauge("exposure.subjects.assigned", "{subject}", "Distinct subjects assigned to the variant (estimated past 384).")
	in.subjExposed = gauge("exposure.subjects.exposed", "{subject}", "Distinct subjects exposed to the variant (estimated past 384).")
	for _, i := range []struct {
		stage      exposure.Stage
		name, desc string
	}{
		{exposure.StageQueued, "exposure.queued", "Exposures accepted into the sink's queue."},
		{exposure.StageDropped, "exposure.dropped", "Exposures refused by a full or closed sink queue."},
		{exposure.StageDelivered, "exposure.delivered", "Exposures the sink accepted."},
		{exposure.StageRetried, "exposure.retried", "Exposures sent again after a retryable failure."},
		{exposure.StageFailed, "exposure.failed", "Exposures that failed for good."},
		{exposure.StageUndelivered, "exposure.undelivered", "Exposures still pending when Close gave up."},
	} {
		in.perSink[i.stage] = counter(i.name, "{exposure}", i.desc)
	}
	in.pending = gauge("exposure.pending", "{exposure}", "Exposures queued to the sink and not yet delivered, failed or given up.")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics: creating instruments: %w", err)
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r.observe(o, &in)
		return nil
	}, in.all...)
}

// observe reports every count; it runs when the MeterProvider collects.
func (r *Recorder) observe(o metric.Observer, in *instruments) {
	o.ObserveInt64(in.evaluations, clamp(r.totals.Load(exposure.StageEvaluated)), r.baseOpt)
	o.ObserveInt64(in.untracked, clamp(r.table.Untracked()), r.baseOpt)
	for reason, n := range map[string]uint64{
		"unscoped":   r.table.Skipped.Unscoped.Load(),
		"no_subject": r.table.Skipped.NoSubject.Load(),
		"other":      r.table.Skipped.Other.Load(),
	} {
		o.ObserveInt64(in.skipped, clamp(n), r.attrs(attribute.String(AttrReason, reason)))
	}
	for _, e := range r.table.Experiments() {
		for _, v := range e.Variants.All() {
			for stage, c := range in.perVariant {
				o.ObserveInt64(c, clamp(v.Counts.Load(stage)), v.Ext.all)
			}
			o.ObserveInt64(in.failedRequests, clamp(v.Counts.Load(exposure.StageFailedRender)), v.Ext.failedRender)
			o.ObserveInt64(in.failedRequests, clamp(v.Counts.Load(exposure.StageFailedRequest)), v.Ext.failedRequest)
			o.ObserveInt64(in.subjAssigned, clamp(v.SubjectsAssigned.Estimate()), v.Ext.all)
			o.ObserveInt64(in.subjExposed, clamp(v.SubjectsExposed.Estimate()), v.Ext.all)
		}
		if committed := e.Sum(exposure.StageCommitted); committed > 0 {
			o.ObserveFloat64(in.crossoverShare, float64(e.Sum(exposure.StageCrossover))/float64(committed),
				r.attrs(attribute.String(AttrExperiment, e.Name)))
		}
	}
	for flag, n := range r.table.UnassignedMarks() {
		o.ObserveInt64(in.unassigned, clamp(n), r.attrs(attribute.String(AttrFlag, flag)))
	}
	for _, s := range r.sinks.All() {
		for stage, c := range in.perSink {
			o.ObserveInt64(c, clamp(s.counts.Load(stage)), s.attrs)
		}
		o.ObserveInt64(in.pending, clamp(tally.Pending(s.counts.Load)), s.attrs)
	}
}

func clamp(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
