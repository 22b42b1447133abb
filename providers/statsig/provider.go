// Package statsig is an OpenFeature provider over the Statsig Go server SDK
// that evaluates feature gates, dynamic configs and experiments with
// exposure logging disabled, and an exposure [Sink] that logs Statsig's
// exposure manually when the variant is rendered.
//
// Statsig logs an exposure whenever a gate is checked or an experiment is
// read, which counts users who never saw the variant. The [Provider] reads
// with the SDK's "WithExposureLoggingDisabled" methods and reports the
// experiment's name and group in exposure's flag metadata; the [Sink], given
// to exposure.WithSink, calls the SDK's ManuallyLog*Exposure for each
// rendered exposure whose group has not changed since.
//
// Flag keys name Statsig entities:
//
//	"new_nav"                          a feature gate (boolean evaluation)
//	"checkout_redesign"                a dynamic config or experiment: its whole value (object evaluation)
//	"checkout_redesign.button_color"   one parameter of it, of any type
//
// The provider runs a Statsig client of its own (never the SDK's global
// one), created by Init and shut down by Shutdown.
package statsig

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
	sdk "github.com/statsig-io/go-sdk"
)

// Flag-metadata keys set by the Provider besides exposure's experiment.* keys.
const (
	// MetadataRuleID is the id of the Statsig rule that matched (string).
	MetadataRuleID = "statsig.ruleID"
	// MetadataGroupName is the name of the rule or experiment group that
	// matched, when it has one (string).
	MetadataGroupName = "statsig.groupName"
)

// ErrNotInitialized is the cause of PROVIDER_NOT_READY results and of the
// Sink's retryable failures before Init.
var ErrNotInitialized = errors.New("statsig: provider not initialized")

// Provider is an OpenFeature provider over a Statsig client of its own. It
// is safe for concurrent use.
type Provider struct {
	sdkKey  string
	options sdk.Options
	cfg     config

	initMu sync.Mutex
	mu     sync.RWMutex
	client *sdk.Client
	specs  atomic.Pointer[specIndex]
}

var (
	_ openfeature.FeatureProvider = (*Provider)(nil)
	_ openfeature.StateHandler    = (*Provider)(nil)
)

// NewProvider returns a provider that will create its Statsig client, with
// sdkKey (the server secret key) and a copy of options, when OpenFeature
// initializes it. options may be nil. The provider chains
// options.RulesUpdatedCallback to learn which configs are experiments.
//
// An sdkKey that is not a server secret key (outside LocalMode) or a nil
// option is an error wrapping [exposure.ErrInvalidConfig], as are the
// errors of the options.
func NewProvider(sdkKey string, options *sdk.Options, opts ...Option) (*Provider, error) {
	var o sdk.Options
	if options != nil {
		o = *options
	}
	var errs []error
	if !o.LocalMode && !strings.HasPrefix(sdkKey, "secret") {
		errs = append(errs, fmt.Errorf(`%w: statsig.NewProvider: sdkKey must be a server secret key ("secret-..."), or set Options.LocalMode`, exposure.ErrInvalidConfig))
	}
	cfg := config{separator: "."}
	errs = append(errs, applyOptions(&cfg, "NewProvider", opts))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p := &Provider{sdkKey: sdkKey, options: o, cfg: cfg}
	if o.BootstrapValues != "" {
		p.loadSpecs(o.BootstrapValues)
	}
	return p, nil
}

func (p *Provider) loadSpecs(raw string) {
	if idx, err := parseSpecs(raw); err == nil {
		p.specs.Store(idx)
	}
}

// Metadata names the provider.
func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: "Statsig (exposure)"}
}

// Hooks returns no provider hooks.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// Init creates the Statsig client, which downloads the project's rules
// (bounded by Options.InitTimeout when set). It fails when the client got
// no rules; the client keeps trying in the background.
func (p *Provider) Init(openfeature.EvaluationContext) (err error) {
	// initMu serializes Init; mu is held only to publish the client, so
	// evaluations never wait for the network.
	p.initMu.Lock()
	defer p.initMu.Unlock()
	if p.Client() != nil {
		return nil
	}
	o := p.options
	userCallback := o.RulesUpdatedCallback
	o.RulesUpdatedCallback = func(rules string, t int64) {
		p.loadSpecs(rules)
		if userCallback != nil {
			userCallback(rules, t)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("statsig: creating the client panicked: %v", r)
		}
	}()
	client, details := sdk.NewClientWithDetails(p.sdkKey, &o)
	if o.DataAdapter != nil && p.specs.Load() == nil {
		if raw := o.DataAdapter.Get(sdk.CONFIG_SPECS_KEY); raw != "" {
			p.loadSpecs(raw)
		}
	}
	p.mu.Lock()
	p.client = client
	p.mu.Unlock()
	if !details.Success && !o.LocalMode {
		cause := "no error reported"
		if details.Error != nil {
			// The SDK's errors may hold the download URL, which holds the key.
			cause = strings.ReplaceAll(details.Error.Error(), p.sdkKey, "secret-****")
		}
		return fmt.Errorf("statsig: client initialized without rules (source %s): %s", details.Source, cause)
	}
	return nil
}

// Shutdown flushes the exposures Statsig has queued and stops the client.
func (p *Provider) Shutdown() {
	p.mu.Lock()
	c := p.client
	p.client = nil
	p.mu.Unlock()
	if c != nil {
		c.Shutdown()
	}
}

// Client returns the provider's Statsig client, nil before Init and after
// Shutdown. Reading through it logs exposures as the SDK always does.
func (p *Provider) Client() *sdk.Client {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.client
}

// BooleanEvaluation evaluates a feature gate, or a boolean parameter.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	name, param, hasParam := p.cfg.split(flag)
	if !hasParam {
		v, res := p.gate(name, def, flat)
		return openfeature.BoolResolutionDetail{Value: v, ProviderResolutionDetail: res}
	}
	v, res := p.param(name, param, flat)
	b, ok := v.(bool)
	if res.ResolutionError == (openfeature.ResolutionError{}) && !ok {
		res = typeMismatch(flag, "bool", v)
	}
	if res.ResolutionError != (openfeature.ResolutionError{}) {
		b = def
	}
	return openfeature.BoolResolutionDetail{Value: b, ProviderResolutionDetail: res}
}

// StringEvaluation evaluates a string parameter.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	v, res := p.paramOf(flag, flat)
	s, ok := v.(string)
	if res.ResolutionError == (openfeature.ResolutionError{}) && !ok {
		res = typeMismatch(flag, "string", v)
	}
	if res.ResolutionError != (openfeature.ResolutionError{}) {
		s = def
	}
	return openfeature.StringResolutionDetail{Value: s, ProviderResolutionDetail: res}
}

// FloatEvaluation evaluates a numeric parameter.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	v, res := p.paramOf(flag, flat)
	f, ok := v.(float64)
	if res.ResolutionError == (openfeature.ResolutionError{}) && !ok {
		res = typeMismatch(flag, "number", v)
	}
	if res.ResolutionError != (openfeature.ResolutionError{}) {
		f = def
	}
	return openfeature.FloatResolutionDetail{Value: f, ProviderResolutionDetail: res}
}

// IntEvaluation evaluates an integer parameter; a fractional number is a
// TYPE_MISMATCH.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	v, res := p.paramOf(flag, flat)
	f, ok := v.(float64)
	if res.ResolutionError == (openfeature.ResolutionError{}) && (!ok || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64) {
		res = typeMismatch(flag, "integer", v)
	}
	if res.ResolutionError != (openfeature.ResolutionError{}) {
		return openfeature.IntResolutionDetail{Value: def, ProviderResolutionDetail: res}
	}
	return openfeature.IntResolutionDetail{Value: int64(f), ProviderResolutionDetail: res}
}

// ObjectEvaluation evaluates a whole dynamic config or experiment
// (map[string]any), or a parameter of any type.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	name, param, hasParam := p.cfg.split(flag)
	var (
		v   any
		res openfeature.ProviderResolutionDetail
	)
	if hasParam {
		v, res = p.param(name, param, flat)
	} else {
		var cfg sdk.DynamicConfig
		cfg, res = p.config(name, flat)
		v = cfg.Value
	}
	if res.ResolutionError != (openfeature.ResolutionError{}) {
		v = def
	}
	return openfeature.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

func (p *Provider) paramOf(flag string, flat openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
	name, param, hasParam := p.cfg.split(flag)
	if !hasParam {
		return nil, errorDetail(openfeature.NewTypeMismatchResolutionError(fmt.Sprintf(
			"flag %q names a gate or a config; evaluate a gate as a boolean, a config as an object, or one parameter as %q",
			flag, flag+p.cfg.separator+"<parameter>")))
	}
	return p.param(name, param, flat)
}

func typeMismatch(flag, want string, got any) openfeature.ProviderResolutionDetail {
	return errorDetail(openfeature.NewTypeMismatchResolutionError(fmt.Sprintf("flag %q is a %T, not a %s", flag, got, want)))
}

func errorDetail(e openfeature.ResolutionError) openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{ResolutionError: e, Reason: openfeature.ErrorReason}
}

// prepare returns the client and the user, or the error result.
func (p *Provider) prepare(flat openfeature.FlattenedContext) (*sdk.Client, sdk.User, *openfeature.ProviderResolutionDetail) {
	c := p.Client()
	if c == nil {
		res := errorDetail(openfeature.NewProviderNotReadyResolutionError(ErrNotInitialized.Error()))
		return nil, sdk.User{}, &res
	}
	u, err := userFrom(flat)
	if err != nil {
		var res openfeature.ProviderResolutionDetail
		if errors.Is(err, errNoUnit) {
			res = errorDetail(openfeature.NewTargetingKeyMissingResolutionError(err.Error()))
		} else {
			res = errorDetail(openfeature.NewInvalidContextResolutionError(err.Error()))
		}
		return nil, sdk.User{}, &res
	}
	return c, u, nil
}

func unrecognized(d *sdk.EvaluationDetails) bool {
	return d != nil && d.Source != sdk.SourceUninitialized && d.Reason == sdk.ReasonUnrecognized
}

// notFound maps Statsig's "unrecognized" and "uninitialized" answers.
func notFound(kind, name string, d *sdk.EvaluationDetails) *openfeature.ProviderResolutionDetail {
	if d == nil {
		return nil
	}
	var res openfeature.ProviderResolutionDetail
	switch {
	case d.Source == sdk.SourceUninitialized:
		res = errorDetail(openfeature.NewProviderNotReadyResolutionError("statsig client has no rules yet"))
	case d.Reason == sdk.ReasonUnrecognized:
		res = errorDetail(openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("%s %q not found", kind, name)))
	case d.Reason == sdk.ReasonUnsupported:
		res = errorDetail(openfeature.NewGeneralResolutionError(fmt.Sprintf("%s %q uses a condition this SDK does not support", kind, name)))
	default:
		return nil
	}
	return &res
}

func (p *Provider) gate(name string, def bool, flat openfeature.FlattenedContext) (bool, openfeature.ProviderResolutionDetail) {
	c, u, bad := p.prepare(flat)
	if bad != nil {
		return def, *bad
	}
	g := c.GetGateWithExposureLoggingDisabled(u, name)
	if unrecognized(g.EvaluationDetails) && p.specs.Load().config(name).knownConfig {
		return def, errorDetail(openfeature.NewTypeMismatchResolutionError(fmt.Sprintf(
			"%q is a dynamic config or experiment, not a feature gate; evaluate it as an object or a parameter", name)))
	}
	if bad := notFound("feature gate", name, g.EvaluationDetails); bad != nil {
		return def, *bad
	}
	return g.Value, openfeature.ProviderResolutionDetail{
		Reason:       ruleReason(g.RuleID, g.EvaluationDetails, false),
		Variant:      strconv.FormatBool(g.Value),
		FlagMetadata: ruleMetadata(g.RuleID, g.GroupName),
	}
}

// config evaluates a dynamic config or experiment.
func (p *Provider) config(name string, flat openfeature.FlattenedContext) (sdk.DynamicConfig, openfeature.ProviderResolutionDetail) {
	c, u, bad := p.prepare(flat)
	if bad != nil {
		return sdk.DynamicConfig{}, *bad
	}
	info := p.specs.Load().config(name)
	var cfg sdk.DynamicConfig
	if info.experiment {
		cfg = c.GetExperimentWithExposureLoggingDisabled(u, name)
	} else {
		cfg = c.GetConfigWithExposureLoggingDisabled(u, name)
	}
	if unrecognized(cfg.EvaluationDetails) && p.specs.Load().isGate(name) {
		return sdk.DynamicConfig{}, errorDetail(openfeature.NewTypeMismatchResolutionError(fmt.Sprintf(
			"%q is a feature gate, not a dynamic config or experiment; evaluate it as a boolean", name)))
	}
	if bad := notFound("dynamic config or experiment", name, cfg.EvaluationDetails); bad != nil {
		return sdk.DynamicConfig{}, *bad
	}
	inGroup := info.groupRules[cfg.RuleID]
	res := openfeature.ProviderResolutionDetail{
		Reason:       ruleReason(cfg.RuleID, cfg.EvaluationDetails, inGroup),
		Variant:      configVariant(cfg),
		FlagMetadata: ruleMetadata(cfg.RuleID, cfg.GroupName),
	}
	if info.experiment {
		res.FlagMetadata[exposure.MetadataExperimentName] = name
		res.FlagMetadata[exposure.MetadataInExperiment] = inGroup
		if inGroup {
			res.FlagMetadata[exposure.MetadataExperimentVariant] = cfg.GroupName
		}
	}
	return cfg, res
}

// param evaluates one parameter of a dynamic config or experiment.
func (p *Provider) param(name, param string, flat openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
	cfg, res := p.config(name, flat)
	if res.ResolutionError != (openfeature.ResolutionError{}) {
		return nil, res
	}
	v, ok := cfg.Value[param]
	if !ok {
		return nil, errorDetail(openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("%q has no parameter %q", name, param)))
	}
	return v, res
}

// configVariant is a config's variant: its group's name, else its rule's id.
func configVariant(cfg sdk.DynamicConfig) string {
	if cfg.GroupName != "" {
		return cfg.GroupName
	}
	return cfg.RuleID
}

func ruleMetadata(ruleID, group string) openfeature.FlagMetadata {
	md := openfeature.FlagMetadata{MetadataRuleID: ruleID}
	if group != "" {
		md[MetadataGroupName] = group
	}
	return md
}

// ruleReason maps Statsig's outcome to an OpenFeature reason: a local
// override is STATIC, a disabled entity DISABLED, the default rule DEFAULT,
// an experiment group SPLIT, any other rule TARGETING_MATCH.
func ruleReason(ruleID string, d *sdk.EvaluationDetails, inGroup bool) openfeature.Reason {
	switch {
	case d != nil && d.Reason == sdk.ReasonLocalOverride:
		return openfeature.StaticReason
	case ruleID == "disabled":
		return openfeature.DisabledReason
	case ruleID == "default" || ruleID == "":
		return openfeature.DefaultReason
	case inGroup:
		return openfeature.SplitReason
	default:
		return openfeature.TargetingMatchReason
	}
}
