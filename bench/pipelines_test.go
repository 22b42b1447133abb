package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/launchdarkly/go-sdk-common/v3/ldlog"
	"github.com/launchdarkly/go-sdk-common/v3/ldtime"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	ldevents "github.com/launchdarkly/go-sdk-events/v3"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/posthog/posthog-go"
	segment "github.com/segmentio/analytics-go/v3"
)

// Every pipeline sends, for event i, one exposure of subject "user-<i>" to
// the experiment below, variant A for even i and B for odd i.
const (
	flagKey        = "checkout-redesign"
	experimentName = "Checkout Redesign"
)

var variantNames = [2]string{"Variant A", "Variant B"}

var checkout = exposure.Experiment{
	FlagKey:  flagKey,
	Name:     experimentName,
	Variants: map[string]string{"a": variantNames[0], "b": variantNames[1]},
}

// userID builds the subject of event i, as every pipeline's caller would.
func userID(i int) string {
	var buf [24]byte
	return string(strconv.AppendInt(append(buf[:0], "user-"...), int64(i), 10))
}

// A pipeline takes events one by one and delivers them to the loopback
// server at endpoint.
type pipeline interface {
	// Start connects the pipeline to the server's base URL.
	Start(endpoint string) error
	// Send hands event i to the pipeline, the way an application would.
	Send(i int) error
	// Nudge asks the pipeline to send what it buffers now, without
	// blocking; a no-op for pipelines that send full batches by themselves.
	Nudge()
	// Drain delivers everything sent so far and stops the pipeline.
	// delivered is the server's running count.
	Drain(ctx context.Context, n int64, delivered func() int64) error
}

// pipelineSpec names a pipeline and how the harness feeds it.
type pipelineSpec struct {
	name string
	new  func() pipeline
	// window bounds the events handed over but not yet counted by the
	// server, so that no pipeline drops events because the harness feeds
	// it faster than it can deliver (see feed). It is the pipeline's own
	// buffer bound or half of it.
	window int
	// nudgeEvery: call Nudge after this many events (0: never).
	nudgeEvery int
}

// LaunchDarkly's server-side SDK defaults (ldcomponents.SendEvents), which
// its go-sdk-events package leaves to the caller.
const (
	ldCapacity            = 10000
	ldFlushInterval       = 5 * time.Second
	ldContextKeysCapacity = 1000
	ldContextKeysFlush    = 5 * time.Minute
)

// exposureQueueSize is the queue of exposure's sink: its default, set
// explicitly so that the harness's window below follows it.
const exposureQueueSize = 100_000

var pipelines = []pipelineSpec{
	{name: "exposure", new: func() pipeline { return &exposurePipeline{} }, window: exposureQueueSize / 2},
	{name: "exposure+openfeature", new: func() pipeline { return &exposurePipeline{evaluate: true} }, window: exposureQueueSize / 2},
	{name: "posthog", new: func() pipeline { return &posthogPipeline{} }, window: exposureQueueSize / 2},
	{name: "segment", new: func() pipeline { return &segmentPipeline{} }, window: exposureQueueSize / 2},
	// Each event adds an index event too (every subject is new), so the
	// outbox holds twice the events in flight: half the capacity keeps it
	// from overflowing. LaunchDarkly flushes on a 5 s timer only, so the
	// harness asks for a flush every quarter capacity.
	{name: "launchdarkly", new: func() pipeline { return &launchDarklyPipeline{} }, window: ldCapacity / 2, nudgeEvery: ldCapacity / 4},
}

// exposurePipeline is ours: a Tracker with the Mixpanel sink. Each event is
// one request's worth of work: open a Scope, record the assignment through
// the real OpenFeature hook, MarkRendered, Commit. With evaluate, the
// assignment comes from a full OpenFeature evaluation (client, in-memory
// provider, hook); without, the hook is called directly with the details
// the SDK would pass it, which leaves out the flag evaluation itself (a
// cost the peers' pipelines do not carry either).
type exposurePipeline struct {
	evaluate bool
	tracker  *exposure.Tracker
	hook     openfeature.Hook
	client   *openfeature.Client
	clientMD openfeature.ClientMetadata
	details  [2]openfeature.InterfaceEvaluationDetails
}

var domainSeq atomic.Int64

func (p *exposurePipeline) Start(endpoint string) error {
	sink, err := mixpanel.NewSink("bench-token", mixpanel.WithEndpoint(endpoint), mixpanel.WithLogger(quietLogger))
	if err != nil {
		return err
	}
	p.tracker, err = exposure.NewTracker(exposure.WithExperiments(checkout),
		exposure.WithSink(sink, exposure.WithQueueSize(exposureQueueSize)), exposure.WithLogger(quietLogger))
	if err != nil {
		return err
	}
	p.hook = p.tracker.Hook()
	domain := fmt.Sprintf("bench-%d", domainSeq.Add(1))
	p.clientMD = openfeature.NewClientMetadata(domain)
	for v, name := range []string{"a", "b"} {
		p.details[v] = openfeature.InterfaceEvaluationDetails{
			Value: []string{"classic", "one-page"}[v],
			EvaluationDetails: openfeature.EvaluationDetails{
				FlagKey: flagKey, FlagType: openfeature.String,
				ResolutionDetail: openfeature.ResolutionDetail{Variant: name, Reason: openfeature.SplitReason},
			},
		}
	}
	if p.evaluate {
		if err := openfeature.SetNamedProviderAndWait(domain, newProvider()); err != nil {
			return err
		}
		p.client = openfeature.NewClient(domain)
		p.client.AddHooks(p.hook)
	}
	return nil
}

func (p *exposurePipeline) Send(i int) error {
	ctx, scope := p.tracker.Scope(context.Background())
	ec := openfeature.NewEvaluationContext(userID(i), nil)
	if p.evaluate {
		if _, err := p.client.StringValue(ctx, flagKey, "classic", ec); err != nil {
			return err
		}
	} else {
		hc := openfeature.NewHookContext(flagKey, openfeature.String, "classic", p.clientMD, providerMetadata, ec)
		d := p.details[i&1]
		if err := p.hook.After(ctx, hc, d, openfeature.HookHints{}); err != nil {
			return err
		}
		p.hook.Finally(ctx, hc, d, openfeature.HookHints{})
	}
	if err := exposure.MarkRendered(ctx, flagKey); err != nil {
		return err
	}
	return scope.Commit(ctx)
}

func (p *exposurePipeline) Nudge() {}

func (p *exposurePipeline) Drain(ctx context.Context, n int64, _ func() int64) error {
	if err := p.tracker.Close(ctx); err != nil {
		return err
	}
	st := p.tracker.Stats()
	if s := st.Sinks[0].Counts; s[exposure.StageDropped] > 0 || s[exposure.StageFailed] > 0 ||
		s[exposure.StageDelivered] != uint64(n) || st.Counts[exposure.StageDuplicate] > 0 {
		return fmt.Errorf("tracker did not deliver every exposure: %+v", st)
	}
	return nil
}

var providerMetadata = openfeature.Metadata{Name: "InMemoryProvider"}

// newProvider is OpenFeature's in-memory provider with the experiment flag,
// split by the parity of the subject's number.
func newProvider() *memprovider.InMemoryProvider {
	split := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[openfeature.TargetingKey].(string)
		v := "a"
		if user != "" && (user[len(user)-1]-'0')&1 == 1 {
			v = "b"
		}
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason}
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flagKey: {Key: flagKey, State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "classic", "b": "one-page"}, ContextEvaluator: &split},
	})
}

// posthogPipeline captures $feature_flag_called, the event PostHog's
// experiments count exposures with, with PostHog's defaults (batch size
// 250, 5 s interval) and the endpoint pointed at the loopback server.
type posthogPipeline struct{ client posthog.Client }

func (p *posthogPipeline) Start(endpoint string) error {
	var err error
	p.client, err = posthog.NewWithConfig("phc_bench", posthog.Config{Endpoint: endpoint})
	return err
}

func (p *posthogPipeline) Send(i int) error {
	return p.client.Enqueue(posthog.Capture{
		DistinctId: userID(i),
		Event:      "$feature_flag_called",
		Properties: posthog.NewProperties().
			Set("$feature_flag", flagKey).
			Set("$feature_flag_response", variantNames[i&1]),
	})
}

func (p *posthogPipeline) Nudge() {}

func (p *posthogPipeline) Drain(context.Context, int64, func() int64) error { return p.client.Close() }

// segmentPipeline tracks "Experiment Viewed" (Segment's A/B testing spec)
// with Segment's defaults (batch size 250, 5 s interval).
type segmentPipeline struct{ client segment.Client }

func (p *segmentPipeline) Start(endpoint string) error {
	var err error
	p.client, err = segment.NewWithConfig("bench-write-key", segment.Config{Endpoint: endpoint})
	return err
}

func (p *segmentPipeline) Send(i int) error {
	return p.client.Enqueue(segment.Track{
		UserId: userID(i),
		Event:  "Experiment Viewed",
		Properties: segment.NewProperties().
			Set("experiment_name", experimentName).
			Set("variation_name", variantNames[i&1]),
	})
}

func (p *segmentPipeline) Nudge() {}

func (p *segmentPipeline) Drain(context.Context, int64, func() int64) error { return p.client.Close() }

// launchDarklyPipeline records custom events through LaunchDarkly's event
// processor, configured as its server-side SDK configures it by default.
type launchDarklyPipeline struct{ ep ldevents.EventProcessor }

func (p *launchDarklyPipeline) Start(endpoint string) error {
	loggers := ldlog.NewDefaultLoggers()
	p.ep = ldevents.NewDefaultEventProcessor(ldevents.EventsConfiguration{
		Capacity:              ldCapacity,
		FlushInterval:         ldFlushInterval,
		UserKeysCapacity:      ldContextKeysCapacity,
		UserKeysFlushInterval: ldContextKeysFlush,
		Loggers:               loggers,
		EventSender: ldevents.NewServerSideEventSender(ldevents.EventSenderConfiguration{
			BaseURI: endpoint, Loggers: loggers,
		}, "sdk-bench"),
	})
	return nil
}

func (p *launchDarklyPipeline) Send(i int) error {
	p.ep.RecordCustomEvent(ldevents.CustomEventData{
		BaseEvent: ldevents.BaseEvent{
			CreationDate: ldtime.UnixMillisNow(),
			Context:      ldevents.Context(ldcontext.New(userID(i))),
		},
		Key: "$experiment_started",
		Data: ldvalue.ObjectBuild().
			SetString("experiment", experimentName).
			SetString("variant", variantNames[i&1]).
			Build(),
	})
	return nil
}

func (p *launchDarklyPipeline) Nudge() { p.ep.Flush() }

// Drain flushes until the server has everything: Close flushes once, but a
// flush is skipped while LaunchDarkly's flush workers are all busy.
func (p *launchDarklyPipeline) Drain(ctx context.Context, n int64, delivered func() int64) error {
	for delivered() < n && ctx.Err() == nil {
		p.ep.FlushBlocking(time.Second)
	}
	return errors.Join(p.ep.Close(), ctx.Err())
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
