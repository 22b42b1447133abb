package unleash

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	"github.com/Unleash/unleash-go-sdk/v5/api"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/sinkutil"
)

// Sink is an [exposure.Sink] that records each rendered exposure in
// Unleash through a regular Unleash client (metrics enabled), at delivery
// time, never at evaluation. For each exposure it makes the SDK resolve,
// once, exactly the variant the subject saw, so that the SDK:
//
//   - counts it in the usage metrics the client posts to the Unleash server
//     (the toggle's "yes" count and the variant's count: Unleash's only
//     server-side record of who got which variant), and
//   - emits its impression event (type GetVariant) to the client's
//     ImpressionListener, when the toggle has impression data enabled.
//
// Unleash has no exposure API of its own: the experiment exposure proper
// is the Mixpanel event that the Tracker's Mixpanel sink sends.
//
// The Sink first evaluates the flag again, silently, with the exposure's
// evaluation context; it records the exposure only when Unleash still
// assigns the variant the subject saw, compared by Unleash's name for it
// (the exposure's ProviderVariant), so that a variant renamed by
// exposure.Experiment.Variants needs no registration here. It never
// records a variant the subject did not see. An exposure whose variant
// changed since the render (the toggle was edited in between) is counted
// as mismatched, one for which Unleash assigns no variant (a missing or
// disabled toggle, a toggle without variants, a boolean evaluation of a
// registered flag) as skipped; both are logged and not sent, and neither
// is a delivery failure.
//
// Close the exposure Tracker before the Unleash client: the SDK blocks
// evaluations of a closed client that counts metrics.
type Sink struct {
	p      *Provider
	client *unleashsdk.Client
	logger *slog.Logger

	sent, mismatched, skipped, failed atomic.Uint64
}

// SinkStats counts what a [Sink] did with the exposures it was given.
type SinkStats struct {
	Sent       uint64 // counted in the client's metrics
	Mismatched uint64 // not sent: Unleash now assigns another variant
	Skipped    uint64 // not sent: Unleash assigns the subject no variant
	Failed     uint64 // the SDK did not resolve the pinned variant
}

// A SinkOption configures a [Sink]; see [NewSink]. An option given a bad
// value returns an error, and NewSink reports every such error at once.
type SinkOption func(*sinkConfig) error

type sinkConfig struct {
	logger *slog.Logger
}

// WithLogger sets where the Sink logs exposures it could not send.
// Default: slog.Default() at the time NewSink is called.
func WithLogger(l *slog.Logger) SinkOption {
	return func(c *sinkConfig) error {
		if l == nil {
			return fmt.Errorf("%w: unleash.WithLogger given a nil *slog.Logger", exposure.ErrInvalidConfig)
		}
		c.logger = l
		return nil
	}
}

// NewSink returns a Sink that checks variants with p and records exposures
// through client, a regular Unleash client with metrics enabled (and, for
// impression events, an ImpressionListener). client must not be the
// provider's own client, whose metrics are disabled.
//
// A nil p, a nil client, the provider's own client or a nil option is an
// error wrapping [exposure.ErrInvalidConfig].
func NewSink(p *Provider, client *unleashsdk.Client, opts ...SinkOption) (*Sink, error) {
	var errs []error
	switch {
	case p == nil:
		errs = append(errs, fmt.Errorf("%w: unleash.NewSink given a nil *Provider", exposure.ErrInvalidConfig))
	case client != nil && client == p.client:
		errs = append(errs, fmt.Errorf("%w: unleash.NewSink given the provider's own client, which counts no metrics; give it a regular client", exposure.ErrInvalidConfig))
	}
	if client == nil {
		errs = append(errs, fmt.Errorf("%w: unleash.NewSink given a nil *unleash.Client", exposure.ErrInvalidConfig))
	}
	cfg := sinkConfig{logger: slog.Default()}
	errs = append(errs, applyOptions(&cfg, "NewSink", opts))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Sink{p: p, client: client, logger: cfg.logger}, nil
}

// Name identifies the sink in exposure.Stats.
func (s *Sink) Name() string { return "unleash" }

// Send implements [exposure.Sink]. Only exposures the SDK failed to record
// (not retried) or that were not reached before ctx ended (retried) are
// failures, listed in a [*exposure.BatchError].
func (s *Sink) Send(ctx context.Context, batch []exposure.Exposure) error {
	return sinkutil.SendEach(ctx, batch, s.sendOne)
}

func (s *Sink) sendOne(ctx context.Context, x *exposure.Exposure) error {
	uc := Context(flatten(x.Context))
	v, rerr := s.p.variantOf(x.FlagKey, uc)
	if rerr != nil || v == nil || !v.Enabled {
		s.skipped.Add(1)
		s.logger.InfoContext(ctx, "unleash: exposure not sent: the toggle assigns the subject no variant", "flag", x.FlagKey, "experiment", x.Experiment)
		return nil
	}
	if seen := seenVariant(x); seen != v.Name {
		s.mismatched.Add(1)
		s.logger.InfoContext(ctx, "unleash: exposure not sent: the toggle now serves another variant",
			"flag", x.FlagKey, "experiment", x.Experiment, "seen", seen, "now", v.Name)
		return nil
	}
	// Resolve through the regular client with a resolver pinned to the
	// variant the subject saw: the SDK counts it and emits its impression
	// event without deciding anything again.
	pinned := api.Feature{
		Name:    x.FlagKey,
		Enabled: true,
		Variants: []api.VariantInternal{{
			Variant:    api.Variant{Name: v.Name, Payload: v.Payload},
			Weight:     1,
			Stickiness: "default",
		}},
	}
	got := s.client.GetVariant(x.FlagKey,
		unleashsdk.WithVariantContext(uc),
		unleashsdk.WithVariantResolver(func(string) *api.Feature { f := pinned; return &f }))
	if got == nil || got.Name != v.Name {
		s.failed.Add(1)
		return fmt.Errorf("unleash: the SDK resolved the pinned variant %q as %v", v.Name, got)
	}
	s.sent.Add(1)
	return nil
}

// seenVariant is the variant the subject saw, as Unleash named it: the
// exposure's ProviderVariant. An exposure without one (built by hand, or
// assigned by another provider) falls back to its Variant, which is the
// same name unless exposure.Experiment.Variants renamed it; a renamed
// variant then reads as a mismatch and is not sent.
func seenVariant(x *exposure.Exposure) string {
	if x.ProviderVariant != "" {
		return x.ProviderVariant
	}
	return x.Variant
}

// Stats returns the Sink's counters.
func (s *Sink) Stats() SinkStats {
	return SinkStats{Sent: s.sent.Load(), Mismatched: s.mismatched.Load(), Skipped: s.skipped.Load(), Failed: s.failed.Load()}
}

var _ exposure.NamedSink = (*Sink)(nil)
