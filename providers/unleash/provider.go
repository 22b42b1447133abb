// Package unleash is an OpenFeature provider over Unleash's Go SDK that
// evaluates toggles without counting them in Unleash's usage metrics or
// emitting impression events, and a [Sink] that records the exposure in
// Unleash when the variant is really rendered.
//
// Unleash's Go SDK counts every IsEnabled and GetVariant call in the usage
// metrics it posts to the Unleash server (/client/metrics: yes/no and
// per-variant counts, the "exposures" Unleash shows for a toggle), and emits
// an impression event to the client's ImpressionListener for toggles with
// impression data enabled. Both happen at evaluation, whether or not the
// page ever shows the variant. [Provider] evaluates with a client of its own
// whose metrics are disabled and which has no impression listener, so an
// evaluation sends and emits nothing. [Sink], at render time, makes the SDK
// count exactly the variant the subject saw in the metrics of a regular
// client (and emit that client's impression event), and the exposure
// Tracker's Mixpanel sink records the experiment exposure itself.
//
// Unleash experiments are toggles with variants: the experiment name is the
// toggle's name and the variant is the variant's name. Evaluate them with
// the string, number or object methods, which resolve the variant's payload
// (or, for strings without payload, its name). Boolean evaluations resolve
// whether the toggle is enabled and are never experiment assignments.
package unleash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/exposurekit/exposure/internal/options"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	"github.com/Unleash/unleash-go-sdk/v5/api"
	ucontext "github.com/Unleash/unleash-go-sdk/v5/context"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/exposurekit/exposure"
)

// Name is the provider's name in its OpenFeature [openfeature.Metadata].
const Name = "Unleash (exposure)"

// DefaultReadyTimeout bounds the wait for the first toggle fetch in
// [Provider.Init], and in InitWithContext when its context has no deadline.
const DefaultReadyTimeout = 10 * time.Second

// MetadataPayloadType is the flag-metadata key holding the assigned
// variant's payload type ("string", "json", "csv", "number"), when any.
const MetadataPayloadType = "unleash.payloadType"

// Provider is an OpenFeature provider over an Unleash client that counts no
// metrics and emits no impression events. It is safe for concurrent use.
type Provider struct {
	client       *unleashsdk.Client
	listener     *listener
	readyTimeout time.Duration

	mu     sync.RWMutex
	closed bool
}

// An Option configures a [Provider]; see [NewProvider]. An option given a
// bad value returns an error, and NewProvider reports every such error at
// once.
type Option func(*config) error

type config struct {
	clientOpts   []unleashsdk.ConfigOption
	user         any
	readyTimeout time.Duration
}

// WithClientOptions configures the provider's Unleash client: its URL, app
// name, custom headers (API token), storage, refresh interval, HTTP client
// and so on, as for unleash.NewClient. The provider always adds
// unleash.WithDisableMetrics(true) and its own listener after them, so
// options that enable metrics or set a listener have no effect here; use
// [WithListener] for errors and readiness.
func WithClientOptions(opts ...unleashsdk.ConfigOption) Option {
	return func(c *config) error {
		for i, o := range opts {
			if o == nil {
				return fmt.Errorf("%w: unleash.WithClientOptions option %d is nil", exposure.ErrInvalidConfig, i)
			}
		}
		c.clientOpts = append(c.clientOpts, opts...)
		return nil
	}
}

// WithListener receives the client's errors, warnings and repository
// events: l may implement unleash.ErrorListener and
// unleash.RepositoryListener. Its other listener methods (OnImpression,
// OnCount, ...) are never called, since the provider's client neither emits
// impressions nor counts metrics.
func WithListener(l any) Option {
	return func(c *config) error {
		_, isErr := l.(unleashsdk.ErrorListener)
		_, isRepo := l.(unleashsdk.RepositoryListener)
		if !isErr && !isRepo {
			return fmt.Errorf("%w: unleash.WithListener given a %T, which implements neither ErrorListener nor RepositoryListener", exposure.ErrInvalidConfig, l)
		}
		c.user = l
		return nil
	}
}

// WithReadyTimeout replaces [DefaultReadyTimeout].
func WithReadyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: unleash.WithReadyTimeout must be positive, got %v", exposure.ErrInvalidConfig, d)
		}
		c.readyTimeout = d
		return nil
	}
}

// listener is the provider client's listener. It implements ErrorListener
// and RepositoryListener only: without an ImpressionListener, the SDK emits
// no impression event.
type listener struct {
	user      any
	readyOnce sync.Once
	ready     chan struct{}
}

func (l *listener) OnError(err error) {
	if u, ok := l.user.(unleashsdk.ErrorListener); ok {
		u.OnError(err)
	}
}

func (l *listener) OnWarning(err error) {
	if u, ok := l.user.(unleashsdk.ErrorListener); ok {
		u.OnWarning(err)
	}
}

func (l *listener) OnReady() {
	l.readyOnce.Do(func() { close(l.ready) })
	if u, ok := l.user.(unleashsdk.RepositoryListener); ok {
		u.OnReady()
	}
}

func (l *listener) OnUpdate() {
	if u, ok := l.user.(unleashsdk.RepositoryListener); ok {
		u.OnUpdate()
	}
}

var (
	_ unleashsdk.ErrorListener      = (*listener)(nil)
	_ unleashsdk.RepositoryListener = (*listener)(nil)
)

// NewProvider creates the provider and its Unleash client, which starts
// fetching toggles at once. Register the provider with openfeature's
// SetProviderAndWait to wait for the first fetch. A nil option, an
// option's error and the Unleash SDK's refusal of its configuration are
// errors wrapping [exposure.ErrInvalidConfig].
func NewProvider(opts ...Option) (*Provider, error) {
	cfg := config{readyTimeout: DefaultReadyTimeout}
	if err := applyOptions(&cfg, "NewProvider", opts); err != nil {
		return nil, err
	}
	l := &listener{user: cfg.user, ready: make(chan struct{})}
	clientOpts := append(append([]unleashsdk.ConfigOption(nil), cfg.clientOpts...),
		unleashsdk.WithDisableMetrics(true),
		unleashsdk.WithListener(l),
	)
	c, err := unleashsdk.NewClient(clientOpts...)
	if err != nil {
		// NewClient fails only on its configuration (no URL, no app name,
		// a URL that does not parse).
		return nil, fmt.Errorf("%w: unleash: creating the client: %w", exposure.ErrInvalidConfig, err)
	}
	return &Provider{client: c, listener: l, readyTimeout: cfg.readyTimeout}, nil
}

// applyOptions applies opts to cfg and returns every error they report,
// joined; a nil option is an error too. constructor names the caller in
// the errors.
func applyOptions[C any, O ~func(*C) error](cfg *C, constructor string, opts []O) error {
	return errors.Join(options.Apply(cfg, "unleash."+constructor, opts)...)
}

// Metadata returns the provider's name.
func (p *Provider) Metadata() openfeature.Metadata { return openfeature.Metadata{Name: Name} }

// Hooks returns no hooks: register the exposure Tracker's hook yourself.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// Init implements [openfeature.StateHandler]: it waits up to the ready
// timeout for the first toggle fetch.
func (p *Provider) Init(ec openfeature.EvaluationContext) error {
	return p.InitWithContext(context.Background(), ec)
}

// InitWithContext implements [openfeature.ContextAwareStateHandler]: it
// waits for the first toggle fetch until ctx ends, or for the ready timeout
// when ctx has no deadline. If the fetch has not succeeded by then, it
// fails, unless the client holds toggles from its storage (a bootstrap, or
// the backup file of an earlier run), which it then evaluates with.
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	if p.isClosed() {
		return errors.New("unleash: provider was shut down; create a new one")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.readyTimeout)
		defer cancel()
	}
	select {
	case <-p.listener.ready:
		return nil
	case <-ctx.Done():
		if len(p.client.ListFeatures()) > 0 {
			// Not fetched, but bootstrapped (unleash.BootstrapStorage) or
			// loaded from the backup file: evaluate with those while the
			// client keeps fetching.
			return nil
		}
		return fmt.Errorf("unleash: toggles not fetched yet: %w", ctx.Err())
	}
}

// Shutdown implements [openfeature.StateHandler].
func (p *Provider) Shutdown() { _ = p.ShutdownWithContext(context.Background()) }

// ShutdownWithContext implements [openfeature.ContextAwareStateHandler]: it
// closes the provider's Unleash client. Evaluations after it return the
// caller's default with PROVIDER_NOT_READY.
func (p *Provider) ShutdownWithContext(context.Context) error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if already {
		return nil
	}
	return p.client.Close()
}

func (p *Provider) isClosed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed
}

// Context converts an OpenFeature evaluation context to an Unleash
// context. The attributes userId, sessionId, remoteAddress, environment,
// appName and currentTime (a string, or a time.Time) fill the fields of the
// same name; userId defaults to the targeting key. Every other scalar
// attribute becomes a property, in its string form.
func Context(flat openfeature.FlattenedContext) ucontext.Context {
	var c ucontext.Context
	for k, v := range flat {
		switch k {
		case openfeature.TargetingKey:
			continue
		case "userId":
			c.UserId = str(v)
		case "sessionId":
			c.SessionId = str(v)
		case "remoteAddress":
			c.RemoteAddress = str(v)
		case "environment":
			c.Environment = str(v)
		case "appName":
			c.AppName = str(v)
		case "currentTime":
			if t, ok := v.(time.Time); ok {
				c.CurrentTime = t.UTC().Format(time.RFC3339)
			} else {
				c.CurrentTime = str(v)
			}
		default:
			if s, ok := scalar(v); ok {
				if c.Properties == nil {
					c.Properties = map[string]string{}
				}
				c.Properties[k] = s
			}
		}
	}
	if c.UserId == "" {
		c.UserId, _ = flat[openfeature.TargetingKey].(string)
	}
	return c
}

func str(v any) string {
	s, _ := scalar(v)
	return s
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	case fmt.Stringer:
		return x.String(), true
	}
	return "", false
}

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

// enabled evaluates whether flag is enabled; found is false when Unleash
// has no such toggle.
func (p *Provider) enabled(flag string, uc ucontext.Context) (enabled, found bool) {
	found = true
	enabled = p.client.IsEnabled(flag, unleashsdk.WithContext(uc),
		unleashsdk.WithFallbackFunc(func(string, *ucontext.Context) bool {
			found = false // called only when the toggle does not exist
			return false
		}))
	return enabled, found
}

// variantOf evaluates flag's variant for uc, silently (the provider's
// client counts no metrics and has no impression listener).
func (p *Provider) variantOf(flag string, uc ucontext.Context) (*api.Variant, *openfeature.ResolutionError) {
	if p.isClosed() {
		e := openfeature.NewProviderNotReadyResolutionError("unleash provider is shut down")
		return nil, &e
	}
	v := p.client.GetVariant(flag, unleashsdk.WithVariantContext(uc))
	if v != nil && (v.Enabled || v.FeatureEnabled) {
		return v, nil
	}
	// Not enabled: a missing toggle looks the same, so ask once more.
	if _, found := p.enabled(flag, uc); !found {
		e := openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("unleash toggle %q not found", flag))
		return nil, &e
	}
	return v, nil
}

func errDetail(e openfeature.ResolutionError) openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{ResolutionError: e, Reason: openfeature.ErrorReason}
}

// notIn is the detail of an evaluation that assigned no variant: the
// caller's default, and experiment.inExperiment=false so that the exposure
// Tracker does not count a registered flag's default as a variant.
func notIn(featureEnabled bool) openfeature.ProviderResolutionDetail {
	d := openfeature.ProviderResolutionDetail{
		Reason:       openfeature.DisabledReason,
		FlagMetadata: openfeature.FlagMetadata{exposure.MetadataInExperiment: false},
	}
	if featureEnabled {
		d.Reason = openfeature.DefaultReason // enabled, but without variants
	}
	return d
}

func assigned(flag string, v *api.Variant) openfeature.ProviderResolutionDetail {
	md := openfeature.FlagMetadata{
		exposure.MetadataExperimentName:    flag,
		exposure.MetadataExperimentVariant: v.Name,
		exposure.MetadataInExperiment:      true,
	}
	if v.Payload.Type != "" {
		md[MetadataPayloadType] = v.Payload.Type
	}
	return openfeature.ProviderResolutionDetail{Reason: openfeature.SplitReason, Variant: v.Name, FlagMetadata: md}
}

// resolveVariant is the body of the variant-typed evaluations: convert
// turns the assigned variant into T, or reports false on a type mismatch.
func resolveVariant[T any](p *Provider, flag string, def T, flat openfeature.FlattenedContext, want string, convert func(*api.Variant) (T, bool)) openfeature.GenericResolutionDetail[T] {
	v, rerr := p.variantOf(flag, Context(flat))
	if rerr != nil {
		return openfeature.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: errDetail(*rerr)}
	}
	if v == nil || !v.Enabled {
		return openfeature.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: notIn(v != nil && v.FeatureEnabled)}
	}
	val, ok := convert(v)
	if !ok {
		return openfeature.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: errDetail(openfeature.NewTypeMismatchResolutionError(
			fmt.Sprintf("unleash toggle %q: variant %q has a %q payload that is not a %s", flag, v.Name, v.Payload.Type, want)))}
	}
	return openfeature.GenericResolutionDetail[T]{Value: val, ProviderResolutionDetail: assigned(flag, v)}
}

// BooleanEvaluation resolves whether the toggle is enabled for the context
// (TARGETING_MATCH when it is, DISABLED when not). It is never an
// experiment assignment.
func (p *Provider) BooleanEvaluation(_ context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	if p.isClosed() {
		return openfeature.BoolResolutionDetail{Value: def, ProviderResolutionDetail: errDetail(openfeature.NewProviderNotReadyResolutionError("unleash provider is shut down"))}
	}
	on, found := p.enabled(flag, Context(flat))
	if !found {
		return openfeature.BoolResolutionDetail{Value: def, ProviderResolutionDetail: errDetail(openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("unleash toggle %q not found", flag)))}
	}
	reason := openfeature.DisabledReason
	if on {
		reason = openfeature.TargetingMatchReason
	}
	return openfeature.BoolResolutionDetail{Value: on, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{Reason: reason}}
}

// StringEvaluation resolves the toggle's variant: its payload's value when
// it has one, else its name.
func (p *Provider) StringEvaluation(_ context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	return resolveVariant(p, flag, def, flat, "string", func(v *api.Variant) (string, bool) {
		if v.Payload.Type == "" {
			return v.Name, true
		}
		return v.Payload.Value, true
	})
}

// FloatEvaluation resolves the toggle's variant's numeric payload.
func (p *Provider) FloatEvaluation(_ context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	return resolveVariant(p, flag, def, flat, "number", func(v *api.Variant) (float64, bool) {
		f, err := strconv.ParseFloat(v.Payload.Value, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	})
}

// IntEvaluation resolves the toggle's variant's whole-number payload.
func (p *Provider) IntEvaluation(_ context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	return resolveVariant(p, flag, def, flat, "whole number", func(v *api.Variant) (int64, bool) {
		i, err := strconv.ParseInt(v.Payload.Value, 10, 64)
		return i, err == nil
	})
}

// ObjectEvaluation resolves the toggle's variant's JSON payload, decoded
// (objects as map[string]any).
func (p *Provider) ObjectEvaluation(_ context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	return resolveVariant(p, flag, def, flat, "JSON value", func(v *api.Variant) (any, bool) {
		if v.Payload.Type != "json" {
			return nil, false
		}
		var out any
		if err := json.Unmarshal([]byte(v.Payload.Value), &out); err != nil {
			return nil, false
		}
		return out, true
	})
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
)
