package growthbook

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	gb "github.com/growthbook/growthbook-golang"

	"github.com/exposurekit/exposure"
)

// Sink is an [exposure.Sink] that reports each rendered exposure to
// GrowthBook's experiment-viewed tracking: a callback in GrowthBook's own
// [gb.ExperimentCallback] shape, called once per exposure, at delivery
// time, never at evaluation.
//
// To rebuild GrowthBook's experiment and result for the callback, the Sink
// evaluates the flag again, silently, with the exposure's evaluation
// context. It reports the exposure only when GrowthBook still assigns the
// variation the subject saw: it never reports a variation the subject did
// not see. An exposure whose variation changed since the render (the
// feature was edited in between) is counted as mismatched, one whose flag
// GrowthBook no longer evaluates as an experiment the subject is counted in
// (a deleted feature, a registered flag decided by a force rule) as
// skipped; both are logged and not sent, and neither is a delivery failure.
type Sink struct {
	p      *Provider
	track  gb.ExperimentCallback
	names  map[string]map[string]string // flag -> provider variant -> exposure variant
	extra  any
	logger *slog.Logger

	sent, mismatched, skipped, failed atomic.Uint64
}

// SinkStats counts what a [Sink] did with the exposures it was given.
type SinkStats struct {
	Sent       uint64 // reported to the callback
	Mismatched uint64 // not sent: GrowthBook now assigns another variation
	Skipped    uint64 // not sent: not a GrowthBook experiment the subject is in
	Failed     uint64 // the callback panicked
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

// WithExtraData sets the last argument of the callback (GrowthBook's
// extraData), as gb.WithExtraData does for GrowthBook's own callback.
func WithExtraData(extra any) SinkOption { return func(s *Sink) { s.extra = extra } }

// WithLogger sets where the Sink logs exposures it could not send.
// Default: slog.Default().
func WithLogger(l *slog.Logger) SinkOption {
	return func(s *Sink) {
		if l != nil {
			s.logger = l
		}
	}
}

// NewSink returns a Sink that evaluates with p and reports to track. The
// callback receives the experiment and result GrowthBook computes for the
// subject and a user context holding the attributes the flag was
// evaluated with (see [Attributes]). It runs on the Tracker's delivery
// goroutine, one call per exposure; a panic is recovered and counted.
func NewSink(p *Provider, track gb.ExperimentCallback, opts ...SinkOption) (*Sink, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("growthbook: NewSink given a nil *Provider")
	case track == nil:
		return nil, fmt.Errorf("growthbook: NewSink given a nil experiment-viewed callback")
	}
	s := &Sink{p: p, track: track, names: map[string]map[string]string{}, logger: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Name identifies the sink in exposure.Stats.
func (s *Sink) Name() string { return "growthbook" }

// Send implements [exposure.Sink]. Only exposures whose callback panicked
// (not retried) or that were not reached before ctx ended (retried) are
// failures, listed in a [*exposure.BatchError].
func (s *Sink) Send(ctx context.Context, batch []exposure.Exposure) error {
	return exposure.SendEach(ctx, batch, s.sendOne)
}

func (s *Sink) sendOne(ctx context.Context, x *exposure.Exposure) error {
	ev := s.p.eval(ctx, x.FlagKey, flatten(x.Context))
	if ev.err != nil {
		s.skipped.Add(1)
		s.logger.InfoContext(ctx, "growthbook: exposure not sent: the flag did not evaluate", "flag", x.FlagKey, "experiment", x.Experiment, "error", ev.err.Error())
		return nil
	}
	exp, res, in := experimentOf(ev.res)
	if !in {
		s.skipped.Add(1)
		s.logger.InfoContext(ctx, "growthbook: exposure not sent: not a GrowthBook experiment the subject is in", "flag", x.FlagKey, "experiment", x.Experiment)
		return nil
	}
	if !s.sameVariant(x.FlagKey, x.Variant, VariationName(res)) {
		s.mismatched.Add(1)
		s.logger.InfoContext(ctx, "growthbook: exposure not sent: the feature now serves another variation",
			"flag", x.FlagKey, "experiment", x.Experiment, "seen", x.Variant, "now", VariationName(res))
		return nil
	}
	if err := s.call(ctx, exp, res, ev.attrs); err != nil {
		s.failed.Add(1)
		s.logger.ErrorContext(ctx, "growthbook: experiment-viewed callback failed", "flag", x.FlagKey, "error", err)
		return err
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

func (s *Sink) call(ctx context.Context, exp *gb.Experiment, res *gb.ExperimentResult, attrs gb.Attributes) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("growthbook: experiment-viewed callback panicked: %v", r)
		}
	}()
	s.track(ctx, exp, res, &gb.TrackingUserContext{Attributes: attrs}, s.extra)
	return nil
}

// Stats returns the Sink's counters.
func (s *Sink) Stats() SinkStats {
	return SinkStats{Sent: s.sent.Load(), Mismatched: s.mismatched.Load(), Skipped: s.skipped.Load(), Failed: s.failed.Load()}
}

var _ exposure.Sink = (*Sink)(nil)

// LogExperimentViewed returns an experiment-viewed callback for [NewSink]
// that logs GrowthBook's built-in "Experiment Viewed" event
// ([gb.EventExperimentViewed]) through client's event logger and plugins,
// with the properties GrowthBook's own exposure tracking gives it
// (experimentId, variationId, hashAttribute, hashValue) and the subject's
// attributes. With the GrowthBook tracking plugin on client
// (gb.WithGrowthBookTracking), the event goes to GrowthBook's ingestor, as
// it would at evaluation without this package, but only once the variant is
// rendered.
//
// client is a tracking client of its own, such as
//
//	gb.NewClient(ctx, gb.WithClientKey(key), gb.WithGrowthBookTracking(gb.TrackingPluginConfig{}))
//
// It needs no features. Never give it to [New]: GrowthBook runs a client's
// plugins at every evaluation.
func LogExperimentViewed(client *gb.Client) gb.ExperimentCallback {
	return func(ctx context.Context, exp *gb.Experiment, res *gb.ExperimentResult, user *gb.TrackingUserContext, _ any) {
		c := client
		if user != nil {
			if withUser, err := client.WithAttributes(user.Attributes); err == nil {
				c = withUser
			}
		}
		c.LogEvent(ctx, gb.EventExperimentViewed, gb.EventProperties{
			"experimentId":  exp.Key,
			"variationId":   res.Key,
			"hashAttribute": res.HashAttribute,
			"hashValue":     res.HashValue,
		})
	}
}
