package mixpanelflags

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/mixpanel/mixpanel-go/v2/flags"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/exposurekit/exposure"
)

// Event properties of Mixpanel's own exposure, which the provider puts in
// the flag metadata (each key prefixed with exposure.MetadataPropertyPrefix)
// for experiment evaluations; the Tracker sends them with the exposure.
// Names and values are those of the SDK's exposure tracking.
const (
	PropertyExperimentID       = "$experiment_id"             // string, the experiment linked to the flag
	PropertyIsExperimentActive = "$is_experiment_active"      // bool, when Mixpanel says
	PropertyIsQATester         = "$is_qa_tester"              // bool, when Mixpanel says (a QA tester's override)
	PropertyExperimentType     = "$experiment_type"           // "feature_flag"
	PropertyEvaluationMode     = "Flag evaluation mode"       // ModeLocal or ModeRemote
	PropertyFetchLatency       = "Variant fetch latency (ms)" // float64, whole milliseconds the evaluation took
)

// ExperimentType is the value of $experiment_type.
const ExperimentType = "feature_flag"

// BooleanEvaluation evaluates a flag whose variant value is a JSON boolean.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	v, res := resolveAs(p, ctx, flag, def, flat, "boolean", func(v any) (bool, bool) { b, ok := v.(bool); return b, ok })
	return openfeature.BoolResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// StringEvaluation evaluates a flag whose variant value is a JSON string.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	v, res := resolveAs(p, ctx, flag, def, flat, "string", func(v any) (string, bool) { s, ok := v.(string); return s, ok })
	return openfeature.StringResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// FloatEvaluation evaluates a flag whose variant value is a JSON number.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	v, res := resolveAs(p, ctx, flag, def, flat, "number", number)
	return openfeature.FloatResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// IntEvaluation evaluates a flag whose variant value is a whole JSON
// number that fits an int64; 2.5 is a TYPE_MISMATCH.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	v, res := resolveAs(p, ctx, flag, def, flat, "integer", func(v any) (int64, bool) {
		f, ok := number(v)
		if !ok || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	})
	return openfeature.IntResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// resolveAs resolves flag and converts its variant value with as: a value
// as refuses is a TYPE_MISMATCH, and the caller's default is the answer.
func resolveAs[T any](p *Provider, ctx context.Context, flag string, def T, flat openfeature.FlattenedContext,
	kind string, as func(any) (T, bool)) (T, openfeature.ProviderResolutionDetail) {
	v, res, ok := p.resolve(ctx, flag, flat)
	if !ok {
		return def, res
	}
	t, isT := as(v)
	if !isT {
		return def, typeMismatch(flag, kind, v)
	}
	return t, res
}

// ObjectEvaluation evaluates a flag of any variant value, as decoded from
// JSON (map[string]any, []any, string, float64, bool, nil). Each caller
// gets its own copy, which it may change: in local mode the SDK keeps one
// value per variant, shared by every evaluation.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	v, res, ok := p.resolve(ctx, flag, flat)
	if !ok {
		return openfeature.InterfaceResolutionDetail{Value: def, ProviderResolutionDetail: res}
	}
	return openfeature.InterfaceResolutionDetail{Value: cloneJSON(v), ProviderResolutionDetail: res}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// resolve evaluates flag without reporting an exposure. ok is false when
// the caller's default is the answer: res then holds the error, or the
// DEFAULT reason of a flag with no rollout for this context.
func (p *Provider) resolve(ctx context.Context, flag string, flat openfeature.FlattenedContext) (value any, res openfeature.ProviderResolutionDetail, ok bool) {
	if !p.ready.Load() {
		return nil, errorDetail(openfeature.NewProviderNotReadyResolutionError(ErrNotReady.Error())), false
	}
	fc, err := FlagContext(flat, p.groupKeys...)
	if err != nil {
		return nil, errorDetail(openfeature.NewInvalidContextResolutionError(err.Error())), false
	}
	if p.mode == ModeRemote && fc[keyDistinctID] == nil {
		// Do not spend a request on a context Mixpanel cannot assign.
		return nil, errorDetail(openfeature.NewTargetingKeyMissingResolutionError(errNoSubject.Error())), false
	}
	start := time.Now()
	sv, err := p.get.GetVariant(ctx, flag, flags.SelectedVariant{}, fc, false)
	latency := time.Since(start)
	if sv.VariantSource == flags.VariantSourceFallback || err != nil || sv.VariantKey == nil {
		return nil, p.fallback(flag, sv.FallbackReason, fc, err), false
	}

	res = openfeature.ProviderResolutionDetail{
		Variant:      *sv.VariantKey,
		Reason:       openfeature.TargetingMatchReason,
		FlagMetadata: openfeature.FlagMetadata{},
	}
	qa := sv.IsQATester != nil && *sv.IsQATester
	if sv.ExperimentID == nil || *sv.ExperimentID == "" {
		// Not linked to an experiment: never an assignment, even for a
		// flag registered with exposure.WithExperiments.
		res.FlagMetadata[exposure.MetadataInExperiment] = false
		return sv.VariantValue, res, true
	}
	if !qa {
		res.Reason = openfeature.SplitReason
	}
	md := res.FlagMetadata
	md[exposure.MetadataExperimentName] = flag
	md[exposure.MetadataExperimentVariant] = *sv.VariantKey
	md[exposure.MetadataInExperiment] = true
	md[exposure.MetadataPropertyPrefix+PropertyExperimentID] = *sv.ExperimentID
	if sv.IsExperimentActive != nil {
		md[exposure.MetadataPropertyPrefix+PropertyIsExperimentActive] = *sv.IsExperimentActive
	}
	if sv.IsQATester != nil {
		md[exposure.MetadataPropertyPrefix+PropertyIsQATester] = *sv.IsQATester
	}
	md[exposure.MetadataPropertyPrefix+PropertyExperimentType] = ExperimentType
	md[exposure.MetadataPropertyPrefix+PropertyEvaluationMode] = p.mode
	md[exposure.MetadataPropertyPrefix+PropertyFetchLatency] = float64(latency.Milliseconds())
	return sv.VariantValue, res, true
}

// fallback maps the SDK's fallback reasons to OpenFeature.
func (p *Provider) fallback(flag, reason string, fc flags.FlagContext, err error) openfeature.ProviderResolutionDetail {
	switch {
	case reason == flags.FallbackReasonNoRolloutMatch && err == nil:
		// A valid answer: the flag exists and this context is in none of
		// its rollouts. Not an assignment.
		return openfeature.ProviderResolutionDetail{
			Reason:       openfeature.DefaultReason,
			FlagMetadata: openfeature.FlagMetadata{exposure.MetadataInExperiment: false},
		}
	case reason == flags.FallbackReasonFlagNotFound && p.local != nil && !p.local.AreFlagsReady():
		return errorDetail(openfeature.NewProviderNotReadyResolutionError("mixpanelflags: no flag definitions downloaded yet"))
	case reason == flags.FallbackReasonFlagNotFound && err == nil:
		msg := fmt.Sprintf("flag %q not found", flag)
		if p.mode == ModeRemote {
			msg = fmt.Sprintf("flag %q not found, or the context is in none of its rollouts (remote evaluation cannot tell)", flag)
		}
		return errorDetail(openfeature.NewFlagNotFoundResolutionError(msg))
	case reason == flags.FallbackReasonMissingContextKey && fc[keyDistinctID] == nil:
		return errorDetail(openfeature.NewTargetingKeyMissingResolutionError(errNoSubject.Error()))
	case reason == flags.FallbackReasonMissingContextKey:
		return errorDetail(openfeature.NewInvalidContextResolutionError(fmt.Sprintf(
			"flag %q is assigned by a context key the evaluation context lacks (a group key? see WithGroupKeys)", flag)))
	case err != nil:
		return errorDetail(openfeature.NewGeneralResolutionError(fmt.Sprintf("mixpanel flags (%s): %s", reason, p.redact(err))))
	default:
		return errorDetail(openfeature.NewGeneralResolutionError(fmt.Sprintf("mixpanel flags: no variant for %q (%s)", flag, reason)))
	}
}

func typeMismatch(flag, want string, got any) openfeature.ProviderResolutionDetail {
	return errorDetail(openfeature.NewTypeMismatchResolutionError(fmt.Sprintf("flag %q has a %T variant value, not a %s", flag, got, want)))
}

func errorDetail(e openfeature.ResolutionError) openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{ResolutionError: e, Reason: openfeature.ErrorReason}
}
