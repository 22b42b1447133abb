// Package growthbook is an OpenFeature provider over the GrowthBook Go SDK
// that evaluates features without GrowthBook's exposure tracking, and a
// [Sink] that logs GrowthBook's experiment-viewed event when the variant is
// really rendered.
//
// GrowthBook calls its tracking callback (and its tracking plugins) every
// time an evaluation puts a user in an experiment, whether or not the page
// that asked ever shows the variant. With this package the evaluation is
// silent: [Provider] fills the exposure package's experiment metadata, the
// exposure Tracker turns a rendered assignment into one deduplicated
// exposure, and [Sink] hands that exposure to your experiment-viewed
// callback, in GrowthBook's own callback shape, at render time.
//
// One evaluation can put a user in several experiments, as GrowthBook's own
// tracking reports them: a holdout and the experiment behind it. The
// Provider reports each (the flag's experiment as experiment.*, the others
// as experiment.1.*, experiment.2.*, ...), so a rendered variant is one
// exposure per experiment, and the Sink reports each to GrowthBook.
//
//	gbClient, _ := gb.NewClient(ctx, gb.WithJsonFeatures(featuresJSON)) // no tracking callback needed
//	provider, _ := growthbook.NewProvider(gbClient)
//	sink, _ := growthbook.NewSink(provider, trackExperimentViewed)
//	tracker, _ := exposure.NewTracker(exposure.WithSink(sink), exposure.WithSink(mixpanelSink))
//	openfeature.SetProviderAndWait(provider)
//	openfeature.AddHooks(tracker.Hook())
package growthbook

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/exposurekit/exposure/internal/options"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/exposurekit/exposure"
)

// Name is the provider's name in its OpenFeature [openfeature.Metadata].
const Name = "GrowthBook (exposure)"

// Flag-metadata keys set, besides the exposure package's experiment.* keys,
// on evaluations decided by a GrowthBook experiment.
const (
	// MetadataExperimentKey is the GrowthBook experiment key (string).
	MetadataExperimentKey = "growthbook.experimentKey"
	// MetadataVariationKey is the assigned variation's key (string).
	MetadataVariationKey = "growthbook.variationKey"
	// MetadataVariationID is the assigned variation's index (int64).
	MetadataVariationID = "growthbook.variationId"
)

// Provider is an OpenFeature provider that evaluates GrowthBook features
// with no tracking: no experiment callback, no feature-usage callback, no
// event logger and no tracking buffer run at evaluation, whatever the
// client given to [NewProvider] was configured with.
//
// Plugins are the exception GrowthBook does not let a child client drop:
// they are shared by every client derived from the one given to
// NewProvider, and run at every evaluation. NewProvider therefore refuses
// a client with plugins (gb.WithPlugins, gb.WithGrowthBookTracking); to
// send experiment-viewed events to GrowthBook's own ingestion, put the
// tracking plugin on a separate client and give it to [LogExperimentViewed].
//
// # Experiments and holdouts
//
// The flag metadata names every experiment the evaluation put the subject
// in, the way GrowthBook's own tracking counts them (by hashing; forced and
// QA variations are not counted, passthrough variations are):
//
//   - the flag's own experiment, the one that decided the value, as
//     experiment.name, experiment.variant and experiment.inExperiment, with
//     [MetadataExperimentKey], [MetadataVariationKey] and [MetadataVariationID];
//   - every other one, in GrowthBook's order, as experiment.1.name,
//     experiment.1.variant, experiment.1.inExperiment, then experiment.2.…:
//     the holdout around the experiment (a "$holdout:" prerequisite feature,
//     or a rule with a passthrough variation before the experiment rule) and
//     the experiments of prerequisite features.
//
// A subject in a holdout's held-out arm runs no experiment: the metadata
// says experiment.inExperiment false and names the holdout as
// experiment.1, which the exposure Tracker then records as the assignment,
// under the holdout's own name (a registry entry for the flag names the
// flag's experiment, never its holdout). Each experiment also carries its
// GrowthBook keys as the event properties [PropertyExperimentKey] and
// [PropertyVariationKey], by which the [Sink] tells them apart.
//
// A Provider is safe for concurrent use.
type Provider struct {
	client      *gb.Client // the caller's client, stripped of tracking
	orig        *gb.Client
	waitLoaded  bool
	closeClient bool

	mu     sync.RWMutex
	closed bool
}

// An Option configures a [Provider]; see [NewProvider]. An option given a
// bad value returns an error, and NewProvider reports every such error at
// once.
type Option func(*config) error

type config struct {
	waitLoaded  bool
	closeClient bool
}

// WithWaitForLoad makes the provider's initialization wait, within the
// context given to openfeature's SetProviderWithContextAndWait (or InitWithContext),
// until the client's data source has loaded features
// (gb.Client.EnsureLoaded). Use it with gb.WithPollDataSource or
// gb.WithSseDataSource; without a data source the wait never ends.
func WithWaitForLoad() Option {
	return func(c *config) error {
		c.waitLoaded = true
		return nil
	}
}

// WithCloseClient makes the provider's shutdown close the GrowthBook client
// (its data source and plugins). By default the caller keeps ownership.
func WithCloseClient() Option {
	return func(c *config) error {
		c.closeClient = true
		return nil
	}
}

// NewProvider returns a provider evaluating with client, minus the
// client's tracking (see [Provider]). A nil client, a client with plugins
// or a nil option is an error wrapping [exposure.ErrInvalidConfig].
func NewProvider(client *gb.Client, opts ...Option) (*Provider, error) {
	var cfg config
	err := applyOptions(&cfg, "NewProvider", opts)
	if client == nil {
		err = errors.Join(fmt.Errorf("%w: growthbook.NewProvider given a nil *growthbook.Client", exposure.ErrInvalidConfig), err)
	} else if perr := checkNoPlugins(client); perr != nil {
		err = errors.Join(perr, err)
	}
	if err != nil {
		return nil, err
	}
	silent, err := silence(client)
	if err != nil {
		return nil, fmt.Errorf("growthbook: deriving a client without tracking: %w", err)
	}
	return &Provider{client: silent, orig: client, waitLoaded: cfg.waitLoaded, closeClient: cfg.closeClient}, nil
}

// applyOptions applies opts to cfg and returns every error they report,
// joined; a nil option is an error too. constructor names the caller in
// the errors.
func applyOptions[C any, O ~func(*C) error](cfg *C, constructor string, opts []O) error {
	return errors.Join(options.Apply(cfg, "growthbook."+constructor, opts)...)
}

// silence derives a child client that runs no tracking at evaluation: no
// feature-usage callback, no event logger, no tracking buffer, and as
// experiment callback only [collect], which hands the experiments
// GrowthBook records to the evaluation that asked (so that a holdout is
// reported with the experiment behind it) and reports nothing.
func silence(c *gb.Client) (*gb.Client, error) {
	c, err := c.WithExperimentCallback(collect)
	if err == nil {
		c, err = c.WithFeatureUsageCallback(nil)
	}
	if err == nil {
		c, err = c.WithEventLogger(nil)
	}
	if err == nil {
		c, err = c.WithTrackingBuffer(nil)
	}
	return c, err
}

// Metadata returns the provider's name.
func (p *Provider) Metadata() openfeature.Metadata { return openfeature.Metadata{Name: Name} }

// Hooks returns no hooks: register the exposure Tracker's hook yourself.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// Init implements [openfeature.StateHandler].
func (p *Provider) Init(ec openfeature.EvaluationContext) error {
	return p.InitWithContext(context.Background(), ec)
}

// InitWithContext implements [openfeature.ContextAwareStateHandler]: with
// [WithWaitForLoad] it waits for the client's features, until ctx ends.
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	p.mu.Lock()
	p.closed = false
	p.mu.Unlock()
	if !p.waitLoaded {
		return nil
	}
	if err := p.orig.EnsureLoaded(ctx); err != nil {
		return fmt.Errorf("growthbook: features not loaded: %w", err)
	}
	return nil
}

// Shutdown implements [openfeature.StateHandler].
func (p *Provider) Shutdown() { _ = p.ShutdownWithContext(context.Background()) }

// ShutdownWithContext implements [openfeature.ContextAwareStateHandler]:
// evaluations after it return the caller's default with PROVIDER_NOT_READY,
// and with [WithCloseClient] the GrowthBook client is closed.
func (p *Provider) ShutdownWithContext(context.Context) error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if p.closeClient && !already {
		return p.orig.Close()
	}
	return nil
}

// Attributes converts an OpenFeature evaluation context to GrowthBook
// attributes: every attribute as is, and the targeting key as "id"
// (GrowthBook's default hash attribute) unless an "id" attribute is set.
func Attributes(flat openfeature.FlattenedContext) gb.Attributes {
	attrs := make(gb.Attributes, len(flat))
	for k, v := range flat {
		if k == openfeature.TargetingKey {
			continue
		}
		attrs[k] = v
	}
	if tk, ok := flat[openfeature.TargetingKey].(string); ok && tk != "" {
		if _, set := attrs["id"]; !set {
			attrs["id"] = tk
		}
	}
	return attrs
}

// flatten is FlattenedContext for an EvaluationContext, as the OpenFeature
// SDK builds it for providers.
func flatten(ec openfeature.EvaluationContext) openfeature.FlattenedContext {
	attrs := ec.Attributes()
	flat := make(openfeature.FlattenedContext, len(attrs)+1)
	for k, v := range attrs {
		flat[k] = v
	}
	if tk := ec.TargetingKey(); tk != "" {
		flat[openfeature.TargetingKey] = tk
	}
	return flat
}

// evaluation is one silent evaluation of a feature.
type evaluation struct {
	res   *gb.FeatureResult
	attrs gb.Attributes
	// assigned are the experiments GrowthBook recorded for the subject
	// during the evaluation, in its order (see [collect]).
	assigned []assigned
	err      *openfeature.ResolutionError
}

func (p *Provider) eval(ctx context.Context, flag string, flat openfeature.FlattenedContext) evaluation {
	p.mu.RLock()
	closed := p.closed
	p.mu.RUnlock()
	if closed {
		e := openfeature.NewProviderNotReadyResolutionError("growthbook provider is shut down")
		return evaluation{err: &e}
	}
	attrs := Attributes(flat)
	c, err := p.client.WithAttributes(attrs)
	if err != nil {
		e := openfeature.NewInvalidContextResolutionError(fmt.Sprintf("growthbook attributes: %v", err))
		return evaluation{err: &e}
	}
	ev := &evaluation{attrs: attrs}
	ev.res = c.EvalFeature(context.WithValue(ctx, collectorKey{}, ev), flag)
	switch ev.res.Source {
	case gb.UnknownFeatureResultSource:
		e := openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("growthbook feature %q not found", flag))
		return evaluation{err: &e}
	case gb.CyclicPrerequisiteResultSource:
		e := openfeature.NewGeneralResolutionError(fmt.Sprintf("growthbook feature %q has cyclic prerequisites", flag))
		return evaluation{err: &e}
	}
	return *ev
}

// ExperimentName is the experiment's name, else its key.
func ExperimentName(e *gb.Experiment) string {
	if e.Name != "" {
		return e.Name
	}
	return e.Key
}

// VariationName is the variation's name, else its key.
func VariationName(r *gb.ExperimentResult) string {
	if r.Name != "" {
		return r.Name
	}
	return r.Key
}

func reason(res *gb.FeatureResult) openfeature.Reason {
	switch res.Source {
	case gb.ExperimentResultSource:
		return openfeature.SplitReason
	case gb.ForceResultSource:
		return openfeature.TargetingMatchReason
	case gb.OverrideResultSource:
		return openfeature.StaticReason
	case gb.DefaultValueResultSource, gb.PrerequisiteResultSource:
		return openfeature.DefaultReason
	default:
		return openfeature.UnknownReason
	}
}

// detail builds the resolution detail of a successful evaluation.
//
// The flag's own experiment (the one that decided the value, unless it is
// a holdout) is the metadata's experiment.*, with inExperiment true when
// GrowthBook counts the subject in it; every other experiment the
// evaluation put the subject in (a holdout around the experiment, or the
// holdout alone when the subject is in its held-out arm) follows as
// experiment.1.*, experiment.2.*, and so on. A value decided by no
// experiment the subject is counted in carries experiment.inExperiment
// false, so that the exposure Tracker does not count a registered flag's
// default or forced value as a variant.
func detail(ev *evaluation) openfeature.ProviderResolutionDetail {
	d := openfeature.ProviderResolutionDetail{
		Reason:       reason(ev.res),
		FlagMetadata: openfeature.FlagMetadata{exposure.MetadataInExperiment: false},
	}
	if fr := ev.res; fr.Source == gb.ExperimentResultSource && fr.ExperimentResult != nil {
		d.Variant = VariationName(fr.ExperimentResult)
	}
	if exp, r, in := ev.own(); exp != nil {
		d.FlagMetadata[exposure.MetadataExperimentName] = ExperimentName(exp)
		d.FlagMetadata[exposure.MetadataInExperiment] = in
		d.FlagMetadata[MetadataExperimentKey] = exp.Key
		d.FlagMetadata[MetadataVariationKey] = r.Key
		d.FlagMetadata[MetadataVariationID] = int64(r.VariationId)
		if in {
			d.FlagMetadata[exposure.MetadataExperimentVariant] = VariationName(r)
			addOwnProperties(d.FlagMetadata, exp, r)
		}
	}
	addRelated(d.FlagMetadata, ev.related())
	return d
}

func errDetail(e openfeature.ResolutionError) openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{ResolutionError: e, Reason: openfeature.ErrorReason}
}

func mismatch(flag string, want string, got any) openfeature.ProviderResolutionDetail {
	return errDetail(openfeature.NewTypeMismatchResolutionError(
		fmt.Sprintf("growthbook feature %q: value of type %T is not a %s", flag, got, want)))
}

// resolve is the common body of the typed evaluations: convert turns the
// feature's (non-nil) value into T, or reports false on a type mismatch.
func resolve[T any](p *Provider, ctx context.Context, flag string, def T, flat openfeature.FlattenedContext, want string, convert func(any) (T, bool)) openfeature.GenericResolutionDetail[T] {
	ev := p.eval(ctx, flag, flat)
	if ev.err != nil {
		return openfeature.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: errDetail(*ev.err)}
	}
	if ev.res.Value == nil {
		// A feature without a value (no default, or gated off by a
		// prerequisite): the caller's default, and the experiments the
		// evaluation put the subject in all the same (such as a holdout
		// gating the feature off).
		md := openfeature.FlagMetadata{exposure.MetadataInExperiment: false}
		addRelated(md, ev.assigned[:min(len(ev.assigned), maxRelated)])
		return openfeature.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
			Reason:       openfeature.DefaultReason,
			FlagMetadata: md,
		}}
	}
	v, ok := convert(ev.res.Value)
	if !ok {
		return openfeature.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: mismatch(flag, want, ev.res.Value)}
	}
	return openfeature.GenericResolutionDetail[T]{Value: v, ProviderResolutionDetail: detail(&ev)}
}

// BooleanEvaluation resolves a boolean feature; any other value type is a
// TYPE_MISMATCH.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	return resolve(p, ctx, flag, def, flat, "boolean", func(v any) (bool, bool) { b, ok := v.(bool); return b, ok })
}

// StringEvaluation resolves a string feature.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	return resolve(p, ctx, flag, def, flat, "string", func(v any) (string, bool) { s, ok := v.(string); return s, ok })
}

// FloatEvaluation resolves a number feature.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	return resolve(p, ctx, flag, def, flat, "number", toFloat)
}

// IntEvaluation resolves a number feature whose value is a whole number
// that fits an int64; 2.5 is a TYPE_MISMATCH.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	return resolve(p, ctx, flag, def, flat, "whole number", toInt)
}

// ObjectEvaluation resolves a JSON feature: objects as map[string]any,
// arrays as []any, as GrowthBook decoded them. Each caller gets its own
// copy, which it may change: GrowthBook keeps one value per feature.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	return resolve(p, ctx, flag, def, flat, "JSON value", func(v any) (any, bool) { return cloneJSON(v), true })
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	}
	return 0, false
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt64 && n < math.MaxInt64 {
			return int64(n), true
		}
	case float32:
		return toInt(float64(n))
	}
	return 0, false
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
)
