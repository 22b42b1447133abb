// Package beacon confirms exposures in the browser. A variant rendered
// below the fold, in a hidden element or in a tab nobody looks at was
// rendered but not seen. For such render sites the template function
// "exposureBeacon" takes the assignment out of the request's
// [exposure.Scope] (see [exposure.Scope.HandOff]) and puts a signed token
// on the element instead of marking it; a small script served by the
// [Confirmer] posts the token back once the element was visible long
// enough, and only then is the exposure committed with
// [exposure.Tracker.Confirm], through the same dedupe and delivery as every
// other exposure.
//
// Wiring is a constructor, a handler and a template function:
//
//	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key))
//	mux.Handle("/exposure/beacon", confirmer)
//	tmpl.Funcs(exposure.TemplateFuncs()).Funcs(confirmer.TemplateFuncs())
//
//	<script src="/exposure/beacon" defer></script>
//	<aside {{ exposureBeacon .Ctx "accessories-panel" }}>…</aside>
//
// Single-page apps, JSON APIs and mobile apps, whose client draws the
// variant after the server has answered, take the token with
// [Confirmer.Token] and post it back themselves; the protocol is in
// PROTOCOL.md, beside this package's sources.
//
// # Tokens
//
// A token is the assignment, encrypted and authenticated with AES-256-GCM
// under a key of its own derived from the first key of [WithKeys], and
// bound to the application ([WithApplication]): the flag key, the
// experiment, the variant and the provider's own name of it
// (Assignment.ProviderVariant, which vendor sinks compare with a fresh
// evaluation), the subject (distinct id, user id, device id, targeting
// key), the reason, the evaluation time, the issue time and the
// attributes of the evaluation context, encoded in base64url. Vendor sinks
// that evaluate the flag again (GrowthBook, say, with a rule on a
// "country" attribute) so see the same context for a confirmed exposure as
// for one marked on the server, on any instance that holds the key; and
// the client that carries the token can read none of it. The token also
// carries the event properties of the assignment
// ([exposure.Assignment.Properties], types kept) and its related
// assignments ([exposure.Assignment.Related], a holdout around the
// experiment, say), so that the confirmed exposure reaches every sink as
// a server-marked one would: with its properties, and with each related
// assignment as an exposure of its own. A typical token (five attributes)
// is about 220 characters, and none is over 4096: what follows the fields
// gets what they leave (at least 710 bytes, typically about 2,900), the
// related assignments first, then the properties, then the attributes,
// each whole; what does not fit is left out and counted in
// [Stats].RelatedDropped, PropertiesDropped and AttributesDropped.
//
// Tokens are versioned. This release issues version 5 and verifies
// versions 5, 4, 3, 2 and 1. Version 4, issued by the release before,
// carries no properties and no related assignment. Versions 3 and
// earlier carry no attributes beyond $user_id and $device_id, and are
// signed in clear. Version 3 is bound to the application; versions 2 and
// 1 name none: they are accepted by a Confirmer of the unnamed
// application (the default) and refused as forged by one with a name.
// Version 1 has no provider variant, so an exposure confirmed with it
// arrives with ProviderVariant empty. Pages rendered before a deploy
// therefore keep confirming until their tokens expire ([WithExpiry]),
// unless the deploy gives the application a name.
//
// # Hostile pages and clients
//
// The script confirms only what a person could have seen, and cannot be
// steered by the page around it:
//
//   - In a frame it confirms nothing unless every ancestor frame is of the
//     page's own origin, or of an origin listed in the data-allow-framing
//     attribute of its script element (space-separated origins); a
//     browser that cannot tell an ancestor's origin (no
//     location.ancestorOrigins) counts it as foreign. Pages that carry
//     tokens should still forbid framing by others, which also stops
//     clickjacking, with the Content-Security-Policy header
//     "frame-ancestors 'self'" (listing any origin allowed to frame them).
//   - Where the browser tracks visibility (IntersectionObserver v2, in
//     Chromium-based browsers) an element counts as visible only while
//     nothing is drawn over it and it has no opacity below 1, no filter
//     and no transform beyond translation and scaling, itself, on its
//     ancestors or on the frames around it. Other browsers check
//     visibility:hidden and opacity:0 on the element and its ancestors.
//   - It reads its settings from its own script element only, through
//     the DOM's own accessors, so injected markup such as an
//     <img name="currentScript"> cannot shadow them (DOM clobbering), and
//     it posts only to an endpoint of the page's origin: a data-endpoint
//     of another origin makes it send nothing.
//
// The endpoint accepts confirmations from its own origin and from clients
// that send no Origin (mobile apps, servers); a browser page of another
// origin is refused unless [WithAllowedOrigins] lists it.
//
// The endpoint bounds what a client can make it do: a body over 8 KiB or
// not received within 5 seconds is refused and its connection closed, and
// [WithRateLimit] limits confirmations per client. Each token confirms one
// subject's assignment, but an application that lets a client choose its
// subject (an id taken from a cookie) lets it mint tokens for invented
// subjects: a rate limit bounds how fast such subjects can push real users
// out of a bounded Deduper.
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
	c := config{expiry: DefaultExpiry, ratio: DefaultRatio, dwell: DefaultDwell}
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
	cf := &Confirmer{tracker: t, codec: codec, log: c.logger, now: time.Now, bodyTimeout: bodyReadTimeout}
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
