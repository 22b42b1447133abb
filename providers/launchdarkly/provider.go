// Package launchdarkly is an OpenFeature provider over the LaunchDarkly Go
// server SDK that evaluates flags without sending LaunchDarkly anything, and
// an exposure [Sink] that sends LaunchDarkly's evaluation event only when the
// variant is rendered.
//
// LaunchDarkly counts an experiment's exposure when the SDK records an
// evaluation event, which it does at evaluation time. This package splits
// the two: the [Provider] evaluates through a client whose events are
// disabled, and the [Sink], given to exposure.WithSink, evaluates again with a
// second client whose events are on, after the variant was rendered, and
// only when that evaluation yields the variation the user saw.
//
// Evaluation contexts map to LaunchDarkly contexts by [ContextFrom]: the
// targeting key is the key, "kind" the kind ("multi" for multi-kind
// contexts), "name", "anonymous" and "privateAttributes" their LaunchDarkly
// meaning, every other attribute a custom attribute.
package launchdarkly

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/launchdarkly/go-sdk-common/v3/ldreason"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/interfaces"
	"github.com/open-feature/go-sdk/openfeature"
)

// Flag-metadata keys set by the Provider besides exposure's experiment.* keys.
const (
	// MetadataReasonKind is LaunchDarkly's evaluation reason kind, such as
	// "RULE_MATCH" or "FALLTHROUGH" (string).
	MetadataReasonKind = "launchdarkly.reasonKind"
	// MetadataVariationIndex is the index of the variation served (int).
	MetadataVariationIndex = "launchdarkly.variationIndex"
)

// ErrEventsEnabled is returned by [NewProvider] for a client that would send
// evaluation events, and ErrEventsDisabled by [NewSink] for one that would
// not. Both wrap [exposure.ErrInvalidConfig].
var (
	ErrEventsEnabled  = fmt.Errorf("%w: launchdarkly: the provider's client must have events disabled (Config.Events: ldcomponents.NoEvents()), or every evaluation would count as an exposure", exposure.ErrInvalidConfig)
	ErrEventsDisabled = fmt.Errorf("%w: launchdarkly: the sink's client must have events enabled, or it cannot send exposures", exposure.ErrInvalidConfig)
)

// Provider is an OpenFeature provider that evaluates LaunchDarkly flags
// without generating analytics events. It is safe for concurrent use.
type Provider struct {
	client *ldclient.LDClient
	cfg    config
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.StateHandler             = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
)

// NewProvider returns a provider evaluating through client, which must be
// configured with events disabled (ldcomponents.NoEvents()). The provider
// owns the client from then on: Shutdown closes it.
//
// A nil client, a client with events ([ErrEventsEnabled]) or a nil option
// is an error wrapping [exposure.ErrInvalidConfig], as are the errors of
// the options.
func NewProvider(client *ldclient.LDClient, opts ...Option) (*Provider, error) {
	var errs []error
	switch {
	case client == nil:
		errs = append(errs, fmt.Errorf("%w: launchdarkly.NewProvider given a nil *ldclient.LDClient", exposure.ErrInvalidConfig))
	case eventsEnabled(client):
		errs = append(errs, ErrEventsEnabled)
	}
	cfg := config{initTimeout: 10 * time.Second}
	errs = append(errs, applyOptions(&cfg, "NewProvider", opts))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Provider{client: client, cfg: cfg}, nil
}

// eventsEnabled reports whether client records analytics events:
// WithEventsDisabled returns the client itself only when its events are off.
func eventsEnabled(client *ldclient.LDClient) bool {
	return client.WithEventsDisabled(true) != interfaces.LDClientInterface(client)
}

// Metadata names the provider.
func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: "LaunchDarkly (exposure)"}
}

// Hooks returns no provider hooks.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// Init waits, at most the init timeout (see [WithInitTimeout]), until the
// client has flag data.
func (p *Provider) Init(openfeature.EvaluationContext) error {
	if p.client.Initialized() {
		return nil
	}
	if !p.client.GetDataSourceStatusProvider().WaitFor(interfaces.DataSourceStateValid, p.cfg.initTimeout) {
		return fmt.Errorf("launchdarkly: client has no flag data after %v", p.cfg.initTimeout)
	}
	return nil
}

// InitWithContext waits until the client has flag data or ctx ends (at
// most the init timeout when ctx has no deadline).
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	if p.client.Initialized() {
		return nil
	}
	timeout := p.cfg.initTimeout
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		timeout = time.Until(dl)
	}
	done := make(chan bool, 1)
	go func() {
		done <- p.client.GetDataSourceStatusProvider().WaitFor(interfaces.DataSourceStateValid, timeout)
	}()
	select {
	case ok := <-done:
		switch {
		case ok:
			return nil
		case hasDeadline:
			return fmt.Errorf("launchdarkly: waiting for flag data: %w", context.DeadlineExceeded)
		default:
			return fmt.Errorf("launchdarkly: client has no flag data after %v", timeout)
		}
	case <-ctx.Done():
		return fmt.Errorf("launchdarkly: waiting for flag data: %w", ctx.Err())
	}
}

// Shutdown closes the client.
func (p *Provider) Shutdown() { _ = p.client.Close() }

// ShutdownWithContext closes the client.
func (p *Provider) ShutdownWithContext(context.Context) error { return p.client.Close() }

// BooleanEvaluation evaluates a boolean flag.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	detail, res := p.evaluate(flag, flat, func(c ldcontext.Context) (ldreason.EvaluationDetail, error) {
		_, d, err := p.client.BoolVariationDetailCtx(ctx, flag, c, def)
		return d, err
	})
	v := def
	if res.ResolutionError == (openfeature.ResolutionError{}) {
		v = detail.Value.BoolValue()
	}
	return openfeature.BoolResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// StringEvaluation evaluates a string flag.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	detail, res := p.evaluate(flag, flat, func(c ldcontext.Context) (ldreason.EvaluationDetail, error) {
		_, d, err := p.client.StringVariationDetailCtx(ctx, flag, c, def)
		return d, err
	})
	v := def
	if res.ResolutionError == (openfeature.ResolutionError{}) {
		v = detail.Value.StringValue()
	}
	return openfeature.StringResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// FloatEvaluation evaluates a numeric flag.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	detail, res := p.evaluate(flag, flat, func(c ldcontext.Context) (ldreason.EvaluationDetail, error) {
		_, d, err := p.client.Float64VariationDetailCtx(ctx, flag, c, def)
		return d, err
	})
	v := def
	if res.ResolutionError == (openfeature.ResolutionError{}) {
		v = detail.Value.Float64Value()
	}
	return openfeature.FloatResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// IntEvaluation evaluates a numeric flag whose value is an integer; a
// fractional value is a TYPE_MISMATCH rather than silently truncated.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	detail, res := p.evaluate(flag, flat, func(c ldcontext.Context) (ldreason.EvaluationDetail, error) {
		_, d, err := p.client.Float64VariationDetailCtx(ctx, flag, c, float64(def))
		return d, err
	})
	v := def
	if res.ResolutionError == (openfeature.ResolutionError{}) {
		f := detail.Value.Float64Value()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return openfeature.IntResolutionDetail{Value: def, ProviderResolutionDetail: errorDetail(
				openfeature.NewTypeMismatchResolutionError(fmt.Sprintf("flag %q has the non-integer value %v", flag, f)))}
		}
		v = int64(f)
	}
	return openfeature.IntResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// ObjectEvaluation evaluates a flag of any JSON value; objects come back as
// map[string]any, arrays as []any, numbers as float64.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	detail, res := p.evaluate(flag, flat, func(c ldcontext.Context) (ldreason.EvaluationDetail, error) {
		_, d, err := p.client.JSONVariationDetailCtx(ctx, flag, c, ldvalue.CopyArbitraryValue(def))
		return d, err
	})
	v := def
	if res.ResolutionError == (openfeature.ResolutionError{}) {
		v = detail.Value.AsArbitraryValue()
	}
	return openfeature.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// evaluate converts the context, runs eval and maps LaunchDarkly's detail to
// OpenFeature's.
func (p *Provider) evaluate(flag string, flat openfeature.FlattenedContext,
	eval func(ldcontext.Context) (ldreason.EvaluationDetail, error)) (ldreason.EvaluationDetail, openfeature.ProviderResolutionDetail) {
	c, err := contextFrom(flat)
	if err != nil {
		if errors.Is(err, errNoKey) {
			return ldreason.EvaluationDetail{}, errorDetail(openfeature.NewTargetingKeyMissingResolutionError(err.Error()))
		}
		return ldreason.EvaluationDetail{}, errorDetail(openfeature.NewInvalidContextResolutionError(err.Error()))
	}
	detail, _ := eval(c) // the error repeats detail.Reason's error kind
	return detail, p.resolution(flag, detail)
}

func errorDetail(e openfeature.ResolutionError) openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{ResolutionError: e, Reason: openfeature.ErrorReason}
}

// resolution maps a LaunchDarkly evaluation detail to OpenFeature: errors to
// error codes, reasons to reasons, the variation to the variant, and the
// in-experiment reason to exposure's experiment metadata.
func (p *Provider) resolution(flag string, d ldreason.EvaluationDetail) openfeature.ProviderResolutionDetail {
	r := d.Reason
	if r.GetKind() == ldreason.EvalReasonError {
		return errorDetail(resolutionError(flag, r.GetErrorKind()))
	}
	res := openfeature.ProviderResolutionDetail{
		Reason:       reason(r),
		FlagMetadata: openfeature.FlagMetadata{MetadataReasonKind: string(r.GetKind())},
	}
	if d.VariationIndex.IsDefined() {
		idx := d.VariationIndex.IntValue()
		res.Variant = p.cfg.variantName(flag, idx)
		res.FlagMetadata[MetadataVariationIndex] = idx
	}
	switch {
	case r.IsInExperiment() && res.Variant != "":
		res.FlagMetadata[exposure.MetadataInExperiment] = true
		res.FlagMetadata[exposure.MetadataExperimentName] = p.cfg.experimentName(flag)
		res.FlagMetadata[exposure.MetadataExperimentVariant] = res.Variant
	case p.cfg.strict:
		res.FlagMetadata[exposure.MetadataInExperiment] = false
	}
	return res
}

// reason maps LaunchDarkly's reason kinds to OpenFeature reasons: OFF is
// DISABLED; an experiment's allocation is SPLIT; individual targets, rules
// and failed prerequisites are TARGETING_MATCH; the fallthrough is DEFAULT.
func reason(r ldreason.EvaluationReason) openfeature.Reason {
	if r.IsInExperiment() {
		return openfeature.SplitReason
	}
	switch r.GetKind() {
	case ldreason.EvalReasonOff:
		return openfeature.DisabledReason
	case ldreason.EvalReasonTargetMatch, ldreason.EvalReasonRuleMatch, ldreason.EvalReasonPrerequisiteFailed:
		return openfeature.TargetingMatchReason
	case ldreason.EvalReasonFallthrough:
		return openfeature.DefaultReason
	default:
		return openfeature.UnknownReason
	}
}

func resolutionError(flag string, kind ldreason.EvalErrorKind) openfeature.ResolutionError {
	switch kind {
	case ldreason.EvalErrorFlagNotFound:
		return openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("flag %q not found", flag))
	case ldreason.EvalErrorWrongType:
		return openfeature.NewTypeMismatchResolutionError(fmt.Sprintf("flag %q has a value of another type", flag))
	case ldreason.EvalErrorClientNotReady:
		return openfeature.NewProviderNotReadyResolutionError("LaunchDarkly client has no flag data yet")
	case ldreason.EvalErrorUserNotSpecified:
		return openfeature.NewInvalidContextResolutionError("invalid LaunchDarkly context")
	case ldreason.EvalErrorMalformedFlag:
		return openfeature.NewParseErrorResolutionError(fmt.Sprintf("flag %q is malformed", flag))
	default:
		return openfeature.NewGeneralResolutionError(fmt.Sprintf("flag %q: LaunchDarkly error %s", flag, kind))
	}
}
