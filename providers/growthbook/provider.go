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
// NewProvider. Give NewProvider a client without plugins (no gb.WithPlugins, no
// gb.WithGrowthBookTracking); to send experiment-viewed events to
// GrowthBook's own ingestion, call the plugin from the [Sink]'s callback.
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
// client's tracking (see [Provider]). A nil client or a nil option is an
// error wrapping [exposure.ErrInvalidConfig].
func NewProvider(client *gb.Client, opts ...Option) (*Provider, error) {
	var cfg config
	err := applyOptions(&cfg, "NewProvider", opts)
	if client == nil {
		err = errors.Join(fmt.Errorf("%w: growthbook.NewProvider given a nil *growthbook.Client", exposure.ErrInvalidConfig), err)
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

// silence derives a child client that runs no tracking at evaluation.
func silence(c *gb.Client) (*gb.Client, error) {
	c, err := c.WithExperimentCallback(nil)
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
	err   *openfeature.ResolutionError
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
	res := c.EvalFeature(ctx, flag)
	switch res.Source {
	case gb.UnknownFeatureResultSource:
		e := openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("growthbook feature %q not found", flag))
		return evaluation{err: &e}
	case gb.CyclicPrerequisiteResultSource:
		e := openfeature.NewGeneralResolutionError(fmt.Sprintf("growthbook feature %q has cyclic prerequisites", flag))
		return evaluation{err: &e}
	}
	return evaluation{res: res, attrs: attrs}
}

// experimentOf returns the experiment that decided res, when the user is
// counted in it the way GrowthBook's own tracking counts: in the
// experiment, not a passthrough (holdout) variation, assigned by hashing
// (forced and QA variations are not tracked).
func experimentOf(res *gb.FeatureResult) (exp *gb.Experiment, r *gb.ExperimentResult, ok bool) {
	if res == nil || res.Source != gb.ExperimentResultSource || res.Experiment == nil || res.ExperimentResult == nil {
		return nil, nil, false
	}
	r = res.ExperimentResult
	return res.Experiment, r, r.InExperiment && !r.Passthrough && r.HashUsed
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

// detail builds the resolution detail of a successful evaluation. A value
// not decided by an experiment the subject is counted in carries
// experiment.inExperiment=false, so that the exposure Tracker does not count
// a registered flag's default or forced value as a variant.
func detail(res *gb.FeatureResult) openfeature.ProviderResolutionDetail {
	d := openfeature.ProviderResolutionDetail{
		Reason:       reason(res),
		FlagMetadata: openfeature.FlagMetadata{exposure.MetadataInExperiment: false},
	}
	if exp, r, in := experimentOf(res); exp != nil {
		d.FlagMetadata = openfeature.FlagMetadata{
			exposure.MetadataExperimentName: ExperimentName(exp),
			exposure.MetadataInExperiment:   in,
			MetadataExperimentKey:           exp.Key,
			MetadataVariationKey:            r.Key,
			MetadataVariationID:             int64(r.VariationId),
		}
		d.Variant = VariationName(r)
		if in {
			d.FlagMetadata[exposure.MetadataExperimentVariant] = d.Variant
		}
	}
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
		// prerequisite): the caller's default.
		return openfeature.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
			Reason:       openfeature.DefaultReason,
			FlagMetadata: openfeature.FlagMetadata{exposure.MetadataInExperiment: false},
		}}
	}
	v, ok := convert(ev.res.Value)
	if !ok {
		return openfeature.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: mismatch(flag, want, ev.res.Value)}
	}
	return openfeature.GenericResolutionDetail[T]{Value: v, ProviderResolutionDetail: detail(ev.res)}
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
// arrays as []any, as GrowthBook decoded them.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	return resolve(p, ctx, flag, def, flat, "JSON value", func(v any) (any, bool) { return v, true })
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
