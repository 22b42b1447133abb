package unleash

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	"github.com/Unleash/unleash-go-sdk/v5/api"

	"github.com/exposurekit/exposure"
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
// assigns the variant the subject saw: it never records a variant the
// subject did not see. An exposure whose variant changed since the render
// (the toggle was edited in between) is counted as mismatched, one for
// which Unleash assigns no variant (a missing or disabled toggle, a toggle
// without variants, a boolean evaluation of a registered flag) as skipped;
// both are logged and not sent, and neither is a delivery failure.
//
// Close the exposure Tracker before the Unleash client: the SDK blocks
// evaluations of a closed client that counts metrics.
type Sink struct {
	p      *Provider
	client *unleashsdk.Client
	names  map[string]map[string]string // flag -> Unleash variant -> exposure variant
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

// A SinkOption configures a [Sink].
type SinkOption func(*Sink)

// WithExperiments gives the Sink the Tracker's experiment registry, so that
// it recognizes variant names renamed by [exposure.Experiment.Variants].
// Pass the same experiments as to exposure.WithExperiments.
func WithExperiments(exps ...exposure.Experiment) SinkOption {
	return func(s *Sink) {
		for _, e := range exps {
			if len(e.Variants) == 0 {
				continue
			}
			if s.names[e.FlagKey] == nil {
				s.names[e.FlagKey] = map[string]string{}
			}
			for from, to := range e.Variants {
				s.names[e.FlagKey][from] = to
			}
		}
	}
}

// WithLogger sets where the Sink logs exposures it could not send.
// Default: slog.Default().
func WithLogger(l *slog.Logger) SinkOption {
	return func(s *Sink) {
		if l != nil {
			s.logger = l
		}
	}
}

// NewSink returns a Sink that checks variants with p and records exposures
// through client, a regular Unleash client with metrics enabled (and, for
// impression events, an ImpressionListener). client must not be the
// provider's own client, whose metrics are disabled.
func NewSink(p *Provider, client *unleashsdk.Client, opts ...SinkOption) (*Sink, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("unleash: NewSink given a nil *Provider")
	case client == nil:
		return nil, fmt.Errorf("unleash: NewSink given a nil *unleash.Client")
	case client == p.client:
		return nil, fmt.Errorf("unleash: NewSink given the provider's own client, which counts no metrics; give it a regular client")
	}
	s := &Sink{p: p, client: client, names: map[string]map[string]string{}, logger: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Name identifies the sink in exposure.Stats.
func (s *Sink) Name() string { return "unleash" }

// Send implements [exposure.Sink]. Only exposures the SDK failed to record
// (not retried) or that were not reached before ctx ended (retried) are
// failures, listed in a [*exposure.BatchError].
func (s *Sink) Send(ctx context.Context, batch []exposure.Exposure) error {
	return exposure.SendEach(ctx, batch, s.sendOne)
}

func (s *Sink) sendOne(ctx context.Context, x *exposure.Exposure) error {
	uc := Context(flatten(x.Context))
	v, rerr := s.p.variantOf(x.FlagKey, uc)
	if rerr != nil || v == nil || !v.Enabled {
		s.skipped.Add(1)
		s.logger.InfoContext(ctx, "unleash: exposure not sent: the toggle assigns the subject no variant", "flag", x.FlagKey, "experiment", x.Experiment)
		return nil
	}
	if !s.sameVariant(x.FlagKey, x.Variant, v.Name) {
		s.mismatched.Add(1)
		s.logger.InfoContext(ctx, "unleash: exposure not sent: the toggle now serves another variant",
			"flag", x.FlagKey, "experiment", x.Experiment, "seen", x.Variant, "now", v.Name)
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

func (s *Sink) sameVariant(flag, rendered, now string) bool {
	if rendered == now {
		return true
	}
	mapped, ok := s.names[flag][now]
	return ok && mapped == rendered
}

// Stats returns the Sink's counters.
func (s *Sink) Stats() SinkStats {
	return SinkStats{Sent: s.sent.Load(), Mismatched: s.mismatched.Load(), Skipped: s.skipped.Load(), Failed: s.failed.Load()}
}

var _ exposure.Sink = (*Sink)(nil)
