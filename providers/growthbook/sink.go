package growthbook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	gb "github.com/growthbook/growthbook-golang"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/sinkutil"
)

// Sink is an [exposure.Sink] that reports each rendered exposure to
// GrowthBook's experiment-viewed tracking: a callback in GrowthBook's own
// [gb.ExperimentCallback] shape, called once per exposure, at delivery
// time, never at evaluation.
//
// To rebuild GrowthBook's experiment and result for the callback, the Sink
// evaluates the flag again, silently, with the exposure's evaluation
// context, and takes the experiment whose key the exposure carries as its
// [PropertyExperimentKey] property: a holdout's exposure is reported as
// the holdout's assignment, the experiment's as the experiment's (an
// exposure without the property stands for the flag's own experiment).
// It reports the exposure only when GrowthBook still assigns the variation
// the subject saw, compared by the name the Provider gave it (the
// exposure's ProviderVariant), so a variant renamed by
// exposure.Experiment.Variants needs no registration here: it never
// reports a variation the subject did not see. An exposure whose variation
// changed since the render (the feature was edited in between) is counted
// as mismatched, one whose experiment GrowthBook no longer puts the subject
// in (a deleted feature, a registered flag decided by a force rule) as
// skipped; both are logged and not sent, and neither is a delivery failure.
type Sink struct {
	p      *Provider
	track  gb.ExperimentCallback
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

// A SinkOption configures a [Sink]; see [NewSink]. An option given a bad
// value returns an error, and NewSink reports every such error at once.
type SinkOption func(*sinkConfig) error

type sinkConfig struct {
	extra  any
	logger *slog.Logger
}

// WithExtraData sets the last argument of the callback (GrowthBook's
// extraData), as gb.WithExtraData does for GrowthBook's own callback.
func WithExtraData(extra any) SinkOption {
	return func(c *sinkConfig) error {
		c.extra = extra
		return nil
	}
}

// WithLogger sets where the Sink logs exposures it could not send.
// Default: slog.Default() at the time NewSink is called.
func WithLogger(l *slog.Logger) SinkOption {
	return func(c *sinkConfig) error {
		if l == nil {
			return fmt.Errorf("%w: growthbook.WithLogger given a nil *slog.Logger", exposure.ErrInvalidConfig)
		}
		c.logger = l
		return nil
	}
}

// NewSink returns a Sink that evaluates with p and reports to track. The
// callback receives the experiment and result GrowthBook computes for the
// subject and a user context holding the attributes the flag was
// evaluated with (see [Attributes]). It runs on the Tracker's delivery
// goroutine, one call per exposure; a panic is recovered and counted.
//
// A nil p, a nil track or a nil option is an error wrapping
// [exposure.ErrInvalidConfig].
func NewSink(p *Provider, track gb.ExperimentCallback, opts ...SinkOption) (*Sink, error) {
	var errs []error
	if p == nil {
		errs = append(errs, fmt.Errorf("%w: growthbook.NewSink given a nil *Provider", exposure.ErrInvalidConfig))
	}
	if track == nil {
		errs = append(errs, fmt.Errorf("%w: growthbook.NewSink given a nil experiment-viewed callback", exposure.ErrInvalidConfig))
	}
	cfg := sinkConfig{logger: slog.Default()}
	errs = append(errs, applyOptions(&cfg, "NewSink", opts))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Sink{p: p, track: track, extra: cfg.extra, logger: cfg.logger}, nil
}

// Name identifies the sink in exposure.Stats.
func (s *Sink) Name() string { return "growthbook" }

// Send implements [exposure.Sink]. Only exposures whose callback panicked
// (not retried) or that were not reached before ctx ended (retried) are
// failures, listed in a [*exposure.BatchError].
func (s *Sink) Send(ctx context.Context, batch []exposure.Exposure) error {
	return sinkutil.SendEach(ctx, batch, s.sendOne)
}

func (s *Sink) sendOne(ctx context.Context, x *exposure.Exposure) error {
	ev := s.p.eval(ctx, x.FlagKey, flatten(x.Context))
	if ev.err != nil {
		s.skipped.Add(1)
		s.logger.InfoContext(ctx, "growthbook: exposure not sent: the flag did not evaluate", "flag", x.FlagKey, "experiment", x.Experiment, "error", ev.err.Error())
		return nil
	}
	seen := seenVariant(x)
	a, ok := experimentFor(&ev, x, seen)
	if !ok {
		s.skipped.Add(1)
		s.logger.InfoContext(ctx, "growthbook: exposure not sent: not a GrowthBook experiment the subject is in", "flag", x.FlagKey, "experiment", x.Experiment)
		return nil
	}
	if now := VariationName(a.res); seen != now {
		s.mismatched.Add(1)
		s.logger.InfoContext(ctx, "growthbook: exposure not sent: the feature now serves another variation",
			"flag", x.FlagKey, "experiment", x.Experiment, "seen", seen, "now", now)
		return nil
	}
	if err := s.call(ctx, a.exp, a.res, ev.attrs); err != nil {
		s.failed.Add(1)
		s.logger.ErrorContext(ctx, "growthbook: experiment-viewed callback failed", "flag", x.FlagKey, "error", err)
		return err
	}
	s.sent.Add(1)
	return nil
}

// experimentFor returns the experiment of ev an exposure reports: the one
// whose GrowthBook key the exposure carries as its [PropertyExperimentKey]
// property (every assignment of the Provider does, the holdout's as the
// experiment's), else the flag's own experiment, when GrowthBook counts
// the subject in it.
func experimentFor(ev *evaluation, x *exposure.Exposure, seen string) (assigned, bool) {
	if key, ok := x.Properties[PropertyExperimentKey].(string); ok && key != "" {
		return ev.find(key, seen)
	}
	exp, res, counted := ev.own()
	return assigned{exp: exp, res: res}, counted
}

// seenVariant is the variation the subject saw, as the [Provider] named it
// (its name, else its key): the exposure's ProviderVariant. An exposure
// without one (built by hand, or assigned by another provider) falls back
// to its Variant, which is the same name unless exposure.Experiment.Variants
// renamed it; a renamed variant then reads as a mismatch and is not sent.
func seenVariant(x *exposure.Exposure) string {
	if x.ProviderVariant != "" {
		return x.ProviderVariant
	}
	return x.Variant
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

var _ exposure.NamedSink = (*Sink)(nil)

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
// It needs no features. [NewProvider] refuses it: GrowthBook runs a
// client's plugins at every evaluation.
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
