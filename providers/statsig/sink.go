package statsig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/sinkutil"
	sdk "github.com/statsig-io/go-sdk"
)

// Sink is an exposure.Sink that logs Statsig's own exposure for each
// rendered exposure, through the Provider's client, so that Statsig's
// experiment results count the same subjects as Mixpanel. Give it to
// exposure.WithSink next to the Mixpanel sink.
//
// For each exposure it reads the entity again without logging: when the
// group (a gate's value, a config's rule) is still the one the user saw,
// compared by the name the Provider gave it (the exposure's
// ProviderVariant, so that a group renamed by exposure.Experiment.Variants
// needs no registration here), it calls the SDK's
// ManuallyLogExperimentExposure (ManuallyLogConfigExposure,
// ManuallyLogGateExposure); otherwise the exposure is counted as a mismatch
// and nothing is logged, since Statsig would count the user in a group
// they never saw. Exposures of entities Statsig does not know (from other
// providers) are skipped.
//
// The SDK batches what is logged and posts it on its own schedule
// (Options.LoggingInterval, 1 minute by default) and at Shutdown: shut the
// Provider down (openfeature.Shutdown) after Tracker.Close.
type Sink struct {
	p   *Provider
	log *slog.Logger

	logged, mismatched, skipped, failed atomic.Uint64
}

var _ exposure.NamedSink = (*Sink)(nil)

// SinkStats counts what a Sink did with the exposures it was given.
type SinkStats struct {
	Logged     uint64 // manual exposures handed to the Statsig SDK
	Mismatched uint64 // not logged: the user is now in another group
	Skipped    uint64 // not logged: Statsig does not know the entity
	Failed     uint64 // not logged: invalid user or client not ready
}

// NewSink returns a Sink logging exposures through p's client. It splits
// flag keys as p does ([WithParameterSeparator]) and compares groups by the
// names p gave them, so it needs none of the Tracker's experiments.
//
// A nil p or a nil option is an error wrapping [exposure.ErrInvalidConfig],
// as are the errors of the options.
func NewSink(p *Provider, opts ...SinkOption) (*Sink, error) {
	var errs []error
	if p == nil {
		errs = append(errs, fmt.Errorf("%w: statsig.NewSink given a nil *Provider", exposure.ErrInvalidConfig))
	}
	cfg := sinkConfig{log: slog.New(slog.DiscardHandler)}
	errs = append(errs, applyOptions(&cfg, "NewSink", opts))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Sink{p: p, log: cfg.log}, nil
}

// Name identifies the sink in exposure.Stats.
func (s *Sink) Name() string { return "statsig" }

// Stats returns the Sink's counters.
func (s *Sink) Stats() SinkStats {
	return SinkStats{Logged: s.logged.Load(), Mismatched: s.mismatched.Load(), Skipped: s.skipped.Load(), Failed: s.failed.Load()}
}

// Send logs a manual exposure for every exposure whose group is unchanged.
// Before the Provider is initialized the whole batch is retryable.
func (s *Sink) Send(ctx context.Context, batch []exposure.Exposure) error {
	c := s.p.Client()
	if c == nil {
		return exposure.Retryable(ErrNotInitialized, 0)
	}
	return sinkutil.SendEach(ctx, batch, func(ctx context.Context, e *exposure.Exposure) error {
		err := s.send(ctx, c, e)
		if err != nil {
			s.failed.Add(1)
		}
		return err
	})
}

func (s *Sink) send(ctx context.Context, c *sdk.Client, e *exposure.Exposure) error {
	u, err := UserFrom(e.Context)
	if err != nil {
		return fmt.Errorf("statsig: exposure of flag %q: %w", e.FlagKey, err)
	}
	name, _, hasParam := s.p.cfg.split(e.FlagKey)
	specs := s.p.specs.Load()
	if !hasParam && !specs.config(name).knownConfig {
		g := c.GetGateWithExposureLoggingDisabled(u, name)
		if g.EvaluationDetails != nil && g.EvaluationDetails.Source == sdk.SourceUninitialized {
			return exposure.Retryable(errors.New("statsig: client has no rules yet"), 0)
		}
		if !unrecognized(g.EvaluationDetails) {
			s.logIfSame(ctx, e, strconv.FormatBool(g.Value), func() { c.ManuallyLogGateExposure(u, name) })
			return nil
		}
	}
	info := specs.config(name)
	var cfg sdk.DynamicConfig
	if info.experiment {
		cfg = c.GetExperimentWithExposureLoggingDisabled(u, name)
	} else {
		cfg = c.GetConfigWithExposureLoggingDisabled(u, name)
	}
	switch {
	case cfg.EvaluationDetails != nil && cfg.EvaluationDetails.Source == sdk.SourceUninitialized:
		return exposure.Retryable(errors.New("statsig: client has no rules yet"), 0)
	case unrecognized(cfg.EvaluationDetails):
		s.skipped.Add(1)
		return nil
	case info.experiment && !info.groupRules[cfg.RuleID]:
		s.mismatch(ctx, e, "not in an experiment group")
		return nil
	}
	logExposure := func() { c.ManuallyLogConfigExposure(u, name) }
	if info.experiment {
		logExposure = func() { c.ManuallyLogExperimentExposure(u, name) }
	}
	s.logIfSame(ctx, e, configVariant(cfg), logExposure)
	return nil
}

func (s *Sink) logIfSame(ctx context.Context, e *exposure.Exposure, now string, log func()) {
	if now == "" || now != seenVariant(e) {
		s.mismatch(ctx, e, now)
		return
	}
	log()
	s.logged.Add(1)
}

func (s *Sink) mismatch(ctx context.Context, e *exposure.Exposure, now string) {
	s.mismatched.Add(1)
	s.log.InfoContext(ctx, "statsig: exposure not logged: the user is now in another group",
		"flag", e.FlagKey, "seen", seenVariant(e), "now", now)
}

// seenVariant is the group the user saw, as the [Provider] named it (a
// gate's "true" or "false", a config's group name, else its rule id): the
// exposure's ProviderVariant. An exposure without one (built by hand, or
// assigned by another provider) falls back to its Variant, which is the
// same name unless exposure.Experiment.Variants renamed it; a renamed
// group then reads as a mismatch and is not logged.
func seenVariant(e *exposure.Exposure) string {
	if e.ProviderVariant != "" {
		return e.ProviderVariant
	}
	return e.Variant
}
