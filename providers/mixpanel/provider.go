// Package mixpanelflags is an OpenFeature provider over Mixpanel's feature
// flags (package flags of github.com/mixpanel/mixpanel-go/v2) that
// evaluates flags WITHOUT reporting an exposure, so that the exposure
// Tracker sends Mixpanel's "$experiment_started" only when the variant is
// rendered, once per user and variant.
//
// The directory is providers/mixpanel; the package is named mixpanelflags
// so that it never clashes with exposure's Mixpanel sink (package mixpanel)
// in the same file:
//
//	import (
//		"github.com/exposurekit/exposure/mixpanel"                       // the sink
//		mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel" // the flags
//	)
//
// Mixpanel's SDK (GetVariantValue, IsEnabled) and its own OpenFeature
// provider send "$experiment_started" at every evaluation, whether or not
// the page shows the variant, and without deduplication. The [Provider]
// calls the SDK's GetVariant with exposure reporting off, and puts in the
// flag metadata what Mixpanel's exposure would carry: the experiment
// (experiment.name, experiment.variant, experiment.inExperiment) for flags
// linked to an experiment, and the event properties ($experiment_id,
// $is_experiment_active, $is_qa_tester, $experiment_type, "Flag evaluation
// mode", "Variant fetch latency (ms)") under exposure.MetadataPropertyPrefix.
// The Tracker and its Mixpanel sink send them with the exposure at render.
//
// Package flagstest is a fake of Mixpanel's flags API for tests and demos.
package mixpanelflags

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixpanel/mixpanel-go/v2/flags"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/exposurekit/exposure"
)

// Evaluation modes, the value of the "Flag evaluation mode" property.
const (
	ModeLocal  = "local"
	ModeRemote = "remote"
)

// sdkVersion is sent as $lib_version on flags API requests.
const sdkVersion = "exposure-mixpanelflags"

// ErrNotReady is the cause of PROVIDER_NOT_READY results: before Init, in
// local mode before the first definitions, and after Shutdown.
var ErrNotReady = errors.New("mixpanelflags: provider not ready")

// variantGetter is what both SDK providers offer.
type variantGetter interface {
	GetVariant(ctx context.Context, flagKey string, fallback flags.SelectedVariant, fc flags.FlagContext, reportExposure bool) (flags.SelectedVariant, error)
}

// Provider is an OpenFeature provider over Mixpanel's feature flags, in
// local or remote evaluation mode. It reports no exposure. It is safe for
// concurrent use.
type Provider struct {
	token     string
	mode      string
	groupKeys []string
	get       variantGetter
	local     *flags.LocalFeatureFlagsProvider // nil in remote mode

	polling   bool
	pollEvery time.Duration
	timeout   time.Duration

	ready  atomic.Bool
	stale  atomic.Bool
	events chan openfeature.Event

	mu   sync.Mutex // lifecycle
	stop chan struct{}
	done chan struct{}

	// flip orders the poller's ready.Store(true), after a failed Init,
	// with Shutdown's close(stop): a poll that ends as Shutdown runs never
	// makes a shut-down provider ready.
	flip sync.Mutex
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.StateHandler             = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
	_ openfeature.EventHandler             = (*Provider)(nil)
)

// NewProvider returns a provider for the Mixpanel project of token (the
// project token), evaluating locally with flags.DefaultLocalFlagsConfig()
// unless an option says otherwise. It downloads nothing until OpenFeature
// initializes it.
//
// The SDK's flags provider is built with no exposure tracker, so nothing
// it does can send an event. An empty token, a nil option and a bad option
// value are errors wrapping [exposure.ErrInvalidConfig].
func NewProvider(token string, opts ...Option) (*Provider, error) {
	cfg := config{mode: ModeLocal, local: flags.DefaultLocalFlagsConfig()}
	var errs []error
	if strings.TrimSpace(token) == "" {
		errs = append(errs, fmt.Errorf("%w: mixpanelflags.NewProvider: empty project token", exposure.ErrInvalidConfig))
	}
	errs = append(errs, applyOptions(&cfg, opts))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p := &Provider{
		token:     token,
		mode:      cfg.mode,
		groupKeys: cfg.groupKeys,
		events:    make(chan openfeature.Event, 8),
	}
	switch cfg.mode {
	case ModeRemote:
		rc := cfg.remote
		rc.ExposureExecutor = nil
		p.timeout = requestTimeout(rc.RequestTimeout)
		p.get = flags.NewRemoteFeatureFlagsProvider(token, sdkVersion, rc, nil)
	default:
		lc := cfg.local
		lc.ExposureExecutor = nil
		// The provider polls by itself, to see each poll's outcome (the SDK
		// only logs its failures) and raise provider events.
		p.polling, lc.EnablePolling = lc.EnablePolling, false
		p.pollEvery = lc.PollingInterval
		if p.pollEvery <= 0 {
			p.pollEvery = flags.DefaultLocalFlagsConfig().PollingInterval
		}
		p.timeout = requestTimeout(lc.RequestTimeout)
		p.local = flags.NewLocalFeatureFlagsProvider(token, sdkVersion, lc, nil)
		p.get = p.local
	}
	return p, nil
}

// Mode returns the evaluation mode, [ModeLocal] or [ModeRemote].
func (p *Provider) Mode() string { return p.mode }

// Metadata names the provider.
func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: "Mixpanel feature flags (exposure)"}
}

// Hooks returns no provider hooks.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// EventChannel delivers the provider's events to OpenFeature: in local
// mode, PROVIDER_STALE when a poll of the definitions fails (the last
// definitions stay in use), PROVIDER_READY when a later poll succeeds, and
// PROVIDER_READY when a poll first downloads the definitions after a
// failed Init. OpenFeature itself reports READY or ERROR after Init.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

// Init is InitWithContext without a deadline of the caller's; the
// download is still bounded by the config's RequestTimeout.
func (p *Provider) Init(ec openfeature.EvaluationContext) error {
	return p.InitWithContext(context.Background(), ec)
}

// InitWithContext makes the provider ready. In remote mode there is
// nothing to download: it is ready at once. In local mode it downloads the
// flag definitions, within ctx and the config's RequestTimeout, and starts
// polling when the config enables it.
//
// When that first download fails, Init returns the error (OpenFeature
// reports PROVIDER_ERROR) and evaluations answer PROVIDER_NOT_READY. With
// polling enabled, the poller starts all the same: the first poll that
// downloads the definitions makes the provider ready and emits
// PROVIDER_READY, so an app that booted while Mixpanel was unreachable
// recovers by itself within a PollingInterval of Mixpanel's return. With
// polling disabled the provider stays not ready until Init succeeds.
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready.Load() {
		return nil
	}
	if p.local != nil {
		ctx, cancel := context.WithTimeout(ctx, p.timeout)
		err := p.local.StartPollingForDefinitions(ctx)
		cancel()
		if p.polling && p.stop == nil { // not already polling since a failed Init
			p.stop, p.done = make(chan struct{}), make(chan struct{})
			go p.poll(p.stop, p.done)
		}
		if err != nil {
			if p.polling {
				return fmt.Errorf("mixpanelflags: downloading the flag definitions (polling retries every %s): %s", p.pollEvery, p.redact(err))
			}
			return fmt.Errorf("mixpanelflags: downloading the flag definitions: %s", p.redact(err))
		}
	}
	p.stale.Store(false)
	p.ready.Store(true)
	return nil
}

// Shutdown stops polling; evaluations then answer PROVIDER_NOT_READY until
// the provider is initialized again.
func (p *Provider) Shutdown() { _ = p.ShutdownWithContext(context.Background()) }

// ShutdownWithContext is Shutdown, waiting for the poller to stop no
// longer than ctx.
func (p *Provider) ShutdownWithContext(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flip.Lock()
	p.ready.Store(false)
	if p.stop == nil {
		p.flip.Unlock()
		return nil
	}
	close(p.stop)
	p.flip.Unlock()
	done := p.done
	p.stop, p.done = nil, nil
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// poll refreshes the definitions every pollEvery until stop is closed.
// Before the provider is ready (its Init failed), a failed poll says
// nothing and the first successful one makes it ready.
func (p *Provider) poll(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(p.pollEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		fctx, fcancel := context.WithTimeout(ctx, p.timeout)
		err := p.local.StartPollingForDefinitions(fctx)
		fcancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case !p.ready.Load():
			if err == nil && p.becomeReady(stop) {
				p.emit(openfeature.ProviderReady, "flag definitions downloaded after a failed Init")
			}
		case err != nil && p.stale.CompareAndSwap(false, true):
			p.emit(openfeature.ProviderStale, "polling the flag definitions failed, the last ones stay in use: "+p.redact(err))
		case err == nil && p.stale.CompareAndSwap(true, false):
			p.emit(openfeature.ProviderReady, "flag definitions downloaded again")
		}
	}
}

// becomeReady makes the provider ready after a failed Init, unless
// Shutdown has closed stop; it reports whether it did.
func (p *Provider) becomeReady(stop <-chan struct{}) bool {
	p.flip.Lock()
	defer p.flip.Unlock()
	select {
	case <-stop:
		return false
	default:
	}
	p.stale.Store(false)
	return p.ready.CompareAndSwap(false, true)
}

// emit never blocks: OpenFeature drains the channel while the provider is
// registered, and an event it cannot take is dropped.
func (p *Provider) emit(t openfeature.EventType, msg string) {
	ev := openfeature.Event{
		ProviderName:         p.Metadata().Name,
		EventType:            t,
		ProviderEventDetails: openfeature.ProviderEventDetails{Message: msg},
	}
	select {
	case p.events <- ev:
	default:
	}
}

// redact removes the project token from the SDK's errors, which may hold
// the request URL.
func (p *Provider) redact(err error) string {
	return strings.ReplaceAll(err.Error(), p.token, "****")
}
