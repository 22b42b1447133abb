package launchdarkly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/launchdarkly/go-sdk-common/v3/ldreason"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
)

// Sink is an exposure.Sink that sends LaunchDarkly's own evaluation event for
// each rendered exposure, so that LaunchDarkly's experiment results count
// the same subjects as Mixpanel. Give it to exposure.WithSink next to the
// Mixpanel sink.
//
// For each exposure it evaluates the flag again for the same context, first
// without events: when the variation is still the one the user saw
// (compared by the name its Provider gives the variation, see
// [WithVariationNames], with the exposure's ProviderVariant, so that a
// variant renamed by exposure.Experiment.Variants needs no registration
// here), it
// evaluates once more with events on (LaunchDarkly records the evaluation,
// with its in-experiment reason); otherwise the exposure is counted as a
// mismatch and nothing is sent, because LaunchDarkly would count the user in
// a variant they never saw. Exposures of flags LaunchDarkly does not know
// (from other providers) are skipped.
type Sink struct {
	p      *Provider
	client *ldclient.LDClient
	cfg    sinkConfig

	sent, mismatched, skipped, failed atomic.Uint64
}

var _ exposure.NamedSink = (*Sink)(nil)

// SinkStats counts what a Sink did with the exposures it was given.
type SinkStats struct {
	Sent       uint64 // evaluation events recorded for LaunchDarkly
	Mismatched uint64 // not sent: the flag now serves another variation
	Skipped    uint64 // not sent: LaunchDarkly does not know the flag
	Failed     uint64 // not sent: invalid context or client not ready
}

// NewSink returns a Sink that records evaluation events through client,
// which must have events enabled, and names variations as p does
// ([WithVariationNames]). It does not close client: close it after
// Tracker.Close, which flushes the Sink.
//
// A nil p, a nil client, a client without events ([ErrEventsDisabled]) or
// a nil option is an error wrapping [exposure.ErrInvalidConfig], as are
// the errors of the options.
func NewSink(p *Provider, client *ldclient.LDClient, opts ...SinkOption) (*Sink, error) {
	var errs []error
	if p == nil {
		errs = append(errs, fmt.Errorf("%w: launchdarkly.NewSink given a nil *Provider", exposure.ErrInvalidConfig))
	}
	switch {
	case client == nil:
		errs = append(errs, fmt.Errorf("%w: launchdarkly.NewSink given a nil *ldclient.LDClient", exposure.ErrInvalidConfig))
	case !eventsEnabled(client):
		errs = append(errs, ErrEventsDisabled)
	}
	cfg := sinkConfig{flushTimeout: 10 * time.Second, log: slog.New(slog.DiscardHandler)}
	errs = append(errs, applyOptions(&cfg, "NewSink", opts))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Sink{p: p, client: client, cfg: cfg}, nil
}

// Stats returns the Sink's counters.
func (s *Sink) Stats() SinkStats {
	return SinkStats{Sent: s.sent.Load(), Mismatched: s.mismatched.Load(), Skipped: s.skipped.Load(), Failed: s.failed.Load()}
}

// Send records one LaunchDarkly evaluation event per exposure whose
// variation is unchanged, then waits (up to the flush timeout or ctx's
// deadline) for LaunchDarkly's event processor to deliver them. Events are
// never recorded twice for one exposure: a failure is reported only for
// exposures that recorded nothing.
func (s *Sink) Send(ctx context.Context, batch []exposure.Exposure) error {
	var failed map[int]error
	fail := func(i int, err error) {
		s.failed.Add(1)
		if failed == nil {
			failed = make(map[int]error)
		}
		failed[i] = err
	}
	quiet := s.client.WithEventsDisabled(true)
	sent := 0
	for i := range batch {
		e := &batch[i]
		c, err := ContextFrom(e.Context)
		if err != nil {
			fail(i, fmt.Errorf("launchdarkly: exposure of flag %q: %w", e.FlagKey, err))
			continue
		}
		_, check, _ := quiet.JSONVariationDetail(e.FlagKey, c, ldvalue.Null())
		if check.Reason.GetKind() == ldreason.EvalReasonError {
			switch kind := check.Reason.GetErrorKind(); kind {
			case ldreason.EvalErrorFlagNotFound:
				s.skipped.Add(1)
			case ldreason.EvalErrorClientNotReady:
				fail(i, exposure.Retryable(errors.New("launchdarkly: client has no flag data yet"), 0))
			default:
				fail(i, fmt.Errorf("launchdarkly: exposure of flag %q: evaluation error %s", e.FlagKey, kind))
			}
			continue
		}
		if !check.VariationIndex.IsDefined() || s.p.cfg.variantName(e.FlagKey, check.VariationIndex.IntValue()) != seenVariant(e) {
			s.mismatched.Add(1)
			s.cfg.log.InfoContext(ctx, "launchdarkly: exposure not sent: the flag now serves another variation",
				"flag", e.FlagKey, "seen", seenVariant(e), "now", check.VariationIndex.OrElse(-1))
			continue
		}
		_, got, _ := s.client.JSONVariationDetailCtx(ctx, e.FlagKey, c, ldvalue.Null())
		sent++
		s.sent.Add(1)
		if got.VariationIndex != check.VariationIndex {
			// The flag changed between the two evaluations; LaunchDarkly
			// recorded what it served now. Rare, and not undoable.
			s.cfg.log.WarnContext(ctx, "launchdarkly: flag changed while its exposure was sent",
				"flag", e.FlagKey, "seen", seenVariant(e), "sent", got.VariationIndex.OrElse(-1))
		}
	}
	if sent > 0 {
		s.flush(ctx)
	}
	if failed != nil {
		return &exposure.BatchError{Failed: failed}
	}
	return nil
}

// seenVariant is the variation the user saw, as the [Provider] named it
// (its [WithVariationNames] name, else its index): the exposure's
// ProviderVariant. An exposure without one (built by hand, or assigned by
// another provider) falls back to its Variant, which is the same name
// unless exposure.Experiment.Variants renamed it; a renamed variant then
// reads as a mismatch and is not sent.
func seenVariant(e *exposure.Exposure) string {
	if e.ProviderVariant != "" {
		return e.ProviderVariant
	}
	return e.Variant
}

// flush asks the event processor to deliver now and waits for it, bounded
// by the flush timeout and ctx's deadline. LaunchDarkly's processor keeps
// (and retries once) what it could not deliver in time, so an expired wait
// loses nothing and is not an error to retry: a retry would count twice.
func (s *Sink) flush(ctx context.Context) {
	timeout := s.cfg.flushTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		s.client.Flush()
		return
	}
	if !s.client.FlushAndWait(timeout) {
		s.cfg.log.WarnContext(ctx, "launchdarkly: events still being delivered after the flush timeout", "timeout", timeout)
	}
}

// Name identifies the sink in exposure.Stats.
func (s *Sink) Name() string { return "launchdarkly" }
