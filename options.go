package exposure

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/exposurekit/exposure/internal/options"
	"github.com/open-feature/go-sdk/openfeature"
)

// defaultDedupeWindow is Mixpanel's experiment exposure window.
const defaultDedupeWindow = 90 * 24 * time.Hour

// An Option configures a Tracker; see [NewTracker]. An option that is
// given a bad value returns an error, and NewTracker reports every such
// error at once.
type Option func(*config) error

type config struct {
	sinks         []sinkSpec
	experiments   []Experiment
	deduper       Deduper
	window        time.Duration
	logger        *slog.Logger
	identity      func(openfeature.EvaluationContext) (Identity, error)
	now           func() time.Time
	observers     []Observer
	sinkGiven     bool
	isBot         func(*http.Request) bool
	discardFailed bool
}

type sinkSpec struct {
	sink Sink
	cfg  sinkConfig
}

// WithSink adds a destination for exposures. It is repeatable: each sink
// gets its own queue and delivery goroutines, so a slow sink never holds up
// another. At least one sink is required. opts tune the sink's delivery.
func WithSink(s Sink, opts ...SinkOption) Option {
	return func(c *config) error {
		c.sinkGiven = true // a faulty WithSink is reported as such, not as a missing sink
		if s == nil {
			return fmt.Errorf("%w: WithSink given a nil Sink", ErrInvalidConfig)
		}
		spec := sinkSpec{sink: s, cfg: defaultSinkConfig()}
		if errs := options.Apply(&spec.cfg, "exposure.WithSink", opts); len(errs) > 0 {
			return errors.Join(errs...)
		}
		c.sinks = append(c.sinks, spec)
		return nil
	}
}

// WithExperiments registers experiment flags. Evaluations of other flags
// are assignments only when their provider marks them as experiments in
// flag metadata (see [MetadataExperimentName]). It is repeatable.
func WithExperiments(e ...Experiment) Option {
	return func(c *config) error {
		c.experiments = append(c.experiments, e...)
		return nil
	}
}

// WithDeduper replaces the default deduper (an in-memory one holding
// 1,000,000 keys), such as with a shared one for many app instances.
func WithDeduper(d Deduper) Option {
	return func(c *config) error {
		if d == nil {
			return fmt.Errorf("%w: WithDeduper given a nil Deduper", ErrInvalidConfig)
		}
		c.deduper = d
		return nil
	}
}

// WithDedupeWindow sets how long an exposure of a subject to a variant
// suppresses repeats. Default 90 days, Mixpanel's experiment exposure
// window.
func WithDedupeWindow(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: dedupe window must be positive, got %v", ErrInvalidConfig, d)
		}
		c.window = d
		return nil
	}
}

// WithLogger sets the logger for warnings and delivery errors. Default
// [slog.Default] at the time NewTracker is called.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger given a nil logger", ErrInvalidConfig)
		}
		c.logger = l
		return nil
	}
}

// WithIdentity replaces [DefaultIdentity], the function that derives the
// subject of an evaluation. It must be fast and safe for concurrent use;
// returning an error (such as [ErrNoSubject]) makes the evaluation not an
// assignment.
func WithIdentity(f func(openfeature.EvaluationContext) (Identity, error)) Option {
	return func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: WithIdentity given a nil function", ErrInvalidConfig)
		}
		c.identity = f
		return nil
	}
}

// WithObserver adds an [Observer] of every stage of the pipeline. It is
// repeatable; observers are called in the order given.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return fmt.Errorf("%w: WithObserver given a nil Observer", ErrInvalidConfig)
		}
		c.observers = append(c.observers, o)
		return nil
	}
}

// WithDiscardFailedRenders makes the middleware discard the marks of a
// request that failed (a status of 500 or more, or a panic), as if the
// page had not been seen, instead of committing them.
//
// Beware the bias: when a variant causes the failures (its template
// breaks for large baskets), discarding them removes from that variant
// exactly the users it hurt, and its metrics look better than they are.
// The default, intent to treat, counts what was rendered. The failures
// are counted per variant either way (StageFailedRender,
// StageFailedRequest).
func WithDiscardFailedRenders() Option {
	return func(c *config) error {
		c.discardFailed = true
		return nil
	}
}

// WithBotFilter replaces the middleware's test for requests from bots and
// crawlers, whose marks are counted (StageBot) and not exposed. The
// default, [IsKnownBot], matches the User-Agent against the bots Mixpanel's
// browser SDK ignores (Googlebot and Google's other agents, Bingbot,
// Yandex, Baidu, Ahrefs, Amazonbot, Petalbot, Lighthouse, Pinterest,
// Facebook's link preview, Screaming Frog, Yahoo! Slurp) and agents shaped
// like a crawler's ("…bot/1.0", "crawler", "spider", "+http://…"). It is
// not exhaustive. To extend it, combine it with your own test or a
// library's (github.com/x-way/crawlerdetect knows thousands of agents, but
// costs over 100 µs a request and also flags curl and Go's HTTP client):
//
//	exposure.WithBotFilter(func(r *http.Request) bool {
//		return exposure.IsKnownBot(r) || strings.HasPrefix(r.UserAgent(), "SiteMonitor/")
//	})
//
// To disable filtering, pass a function that returns false. isBot runs at
// most once a request, and only for a request that has marks to expose;
// still, keep it fast. The beacon endpoint filters the confirmations
// posted to it with a filter of its own (beacon.WithBotFilter, by default
// IsKnownBot), since crawlers that run scripts would confirm the tokens of
// the pages they render.
func WithBotFilter(isBot func(r *http.Request) bool) Option {
	return func(c *config) error {
		if isBot == nil {
			return fmt.Errorf("%w: WithBotFilter given a nil function; to disable the filter, pass one that returns false", ErrInvalidConfig)
		}
		c.isBot = isBot
		return nil
	}
}
