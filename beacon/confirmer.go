package beacon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/options"
	"github.com/exposurekit/exposure/internal/token"
)

// A Confirmer issues tokens for render sites (its template function),
// serves the script that watches them, and commits the exposures the
// browser confirms (its ServeHTTP). It is safe for concurrent use. Create
// it with [NewConfirmer].
type Confirmer struct {
	tracker *exposure.Tracker
	codec   *token.Codec
	log     *slog.Logger
	now     func() time.Time

	// experiments are the flags the Tracker registers; nil when it
	// registers none (see ServeHTTP).
	experiments map[string]struct{}
	limiter     *limiter                    // nil: no rate limit
	bodyTimeout time.Duration               // for reading a confirmation's body
	origins     map[string]struct{}         // WithAllowedOrigins
	crossOrigin *http.CrossOriginProtection // refuses other origins' posts
	isBot       func(*http.Request) bool

	script      []byte // beacon.js with this Confirmer's settings
	scriptETag  string
	moduleIndex moduleFile // js/index.js with this Confirmer's settings

	counters  counters
	misuseLog rateLimitedLog // misuse of the template function, refusals
	signLog   rateLimitedLog // tokens that could not be signed
	dropLog   rateLimitedLog // attributes left out of tokens
}

// NewConfirmer returns the browser confirmation of t's exposures,
// configured by opts. [WithKeys] is required. Every invalid option is
// reported, joined in one error wrapping [exposure.ErrInvalidConfig] that
// names the offending value: a nil tracker or option, no key or a key
// shorter than [MinKeyBytes], an application name over
// [MaxApplicationBytes], an expiry under a second, a ratio outside (0, 1],
// a dwell that is negative, over 10 minutes or not shorter than the
// expiry, or a rate limit that is not positive.
//
// The template function hands off assignments of the Scope it is given,
// which must be a Scope of t (opened by t's middleware or t.Scope).
func NewConfirmer(t *exposure.Tracker, opts ...Option) (*Confirmer, error) {
	c := config{expiry: DefaultExpiry, ratio: DefaultRatio, dwell: DefaultDwell, isBot: exposure.IsKnownBot}
	var errs []error
	if t == nil {
		errs = append(errs, fmt.Errorf("%w: beacon.NewConfirmer given a nil Tracker", exposure.ErrInvalidConfig))
	}
	errs = append(errs, options.Apply(&c, "beacon.NewConfirmer", opts)...)
	if !c.keysGiven {
		errs = append(errs, fmt.Errorf("%w: beacon.NewConfirmer needs beacon.WithKeys", exposure.ErrInvalidConfig))
	}
	if c.dwell >= c.expiry {
		errs = append(errs, fmt.Errorf("%w: beacon.WithVisibility dwell %v must be shorter than the expiry %v",
			exposure.ErrInvalidConfig, c.dwell, c.expiry))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	codec, err := token.NewCodec(c.keys, c.expiry, c.application)
	if err != nil { // the options checked everything the codec checks
		return nil, fmt.Errorf("%w: %w", exposure.ErrInvalidConfig, err)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	cf := &Confirmer{tracker: t, codec: codec, log: c.logger, now: time.Now, bodyTimeout: bodyReadTimeout, isBot: c.isBot}
	// The registry is fixed for the Tracker's life.
	if exps := t.Experiments(); len(exps) > 0 {
		cf.experiments = make(map[string]struct{}, len(exps))
		for _, e := range exps {
			cf.experiments[e.FlagKey] = struct{}{}
		}
	}
	if c.limit != nil {
		cf.limiter = newLimiter(c.limit)
	}
	cf.crossOrigin = http.NewCrossOriginProtection()
	if len(c.origins) > 0 {
		cf.origins = make(map[string]struct{}, len(c.origins))
		for _, o := range c.origins {
			cf.origins[o] = struct{}{}
			if err := cf.crossOrigin.AddTrustedOrigin(o); err != nil { // WithAllowedOrigins checked it
				return nil, fmt.Errorf("%w: beacon.WithAllowedOrigins: %w", exposure.ErrInvalidConfig, err)
			}
		}
	}
	cf.script, cf.scriptETag = buildScript(c.ratio, c.dwell)
	cf.moduleIndex = buildModuleIndex(c.ratio, c.dwell)
	return cf, nil
}

// rateLimitedLog lets one message through per interval, so that a bug hit
// by every request logs once a minute, not once a request.
type rateLimitedLog struct{ last atomic.Int64 }

func (r *rateLimitedLog) allow(every time.Duration) bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(every) && r.last.CompareAndSwap(last, now)
}

// warn logs a misuse or a refusal, at most once a minute.
func (c *Confirmer) warn(msg string, args ...any) {
	if c.misuseLog.allow(time.Minute) {
		c.log.Warn(msg, args...)
	}
}

// Token hands the assignment of flagKey off from the Scope in ctx (see
// [exposure.Scope.HandOff]) and returns its confirmation token, for a
// client that draws the variant itself: a single-page app, a mobile app,
// any client of a JSON, GraphQL or gRPC API. Put it in the response; the
// client posts it back to the Confirmer's endpoint once the variant was
// seen (PROTOCOL.md, beside this package's sources, is the protocol; the
// browser module does it for web pages). As with the "exposureBeacon"
// template function, the Scope's commit then leaves that exposure to the
// client: the server sends nothing for it.
//
//	func pricing(w http.ResponseWriter, r *http.Request) {
//		plan, _ := client.StringValue(r.Context(), "pricing-page", "classic", ec)
//		tok, err := confirmer.Token(r.Context(), "pricing-page")
//		if err != nil {
//			log.Print(err) // the page still renders; no exposure will be counted
//		}
//		json.NewEncoder(w).Encode(map[string]string{"plan": plan, "exposureToken": tok})
//	}
//
// The token carries the evaluation context's attributes, encrypted (see
// the package documentation), so vendor sinks see the same context as for
// a server-marked exposure. It is base64url, at most 4096 characters,
// safe in JSON, a URL and a header.
//
// Misuse returns "" and an error the handler can log, never one that
// should fail the request: wrapping [exposure.ErrNoScope] when ctx has no
// Scope (the handler is not behind the Tracker's middleware), wrapping
// [exposure.ErrNotAssigned] when the flag was not evaluated in the Scope.
// Both are counted in [Stats].NotIssued. Calling Token twice for one flag
// returns two tokens of the same assignment: either confirms it, and the
// second is a duplicate.
func (c *Confirmer) Token(ctx context.Context, flagKey string) (string, error) {
	if ctx == nil {
		c.counters.notIssued.Add(1)
		return "", fmt.Errorf("exposure/beacon: Token given a nil context: %w", exposure.ErrNoScope)
	}
	a, err := exposure.ScopeFromContext(ctx).HandOff(flagKey)
	if err != nil {
		c.counters.notIssued.Add(1)
		return "", fmt.Errorf("exposure/beacon: no token for flag %q: %w", flagKey, err)
	}
	var buf [512]byte
	b, ok := c.appendToken(buf[:0], &a)
	if !ok {
		return "", fmt.Errorf("exposure/beacon: the assignment of flag %q is too large for a token", flagKey)
	}
	return string(b), nil
}
