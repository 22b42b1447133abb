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
// # Tokens
//
// A token is the assignment, signed with HMAC-SHA256 under the first key of
// [WithKeys] and bound to the application ([WithApplication]): the flag
// key, the experiment, the variant and the provider's own name of it
// (Assignment.ProviderVariant, which vendor sinks compare with a fresh
// evaluation), the subject (distinct id, user id, device id, targeting
// key), the reason, the evaluation time and the issue time, encoded in
// base64url. A typical token is about 150 characters; the largest, every
// field at the root's bound of 255 bytes, is 3150, so every assignment the
// Tracker holds gets a token.
//
// Tokens are versioned. This release issues version 3, whose signature
// covers the application's name, and verifies versions 3, 2 and 1.
// Versions 2 and 1, issued by the releases before, name no application:
// they are accepted by a Confirmer of the unnamed application (the
// default) and refused as forged by one with a name. Version 1 has no
// provider variant, so an exposure confirmed with it arrives with
// ProviderVariant empty. Pages rendered before a deploy therefore keep
// confirming until their tokens expire ([WithExpiry]), unless the deploy
// gives the application a name.
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
// The endpoint bounds what a client can make it do: a body over 8 KiB or
// not received within 5 seconds is refused and its connection closed, and
// [WithRateLimit] limits confirmations per client. Each token confirms one
// subject's assignment, but an application that lets a client choose its
// subject (an id taken from a cookie) lets it mint tokens for invented
// subjects: a rate limit bounds how fast such subjects can push real users
// out of a bounded Deduper.
package beacon

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
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
	limiter     *limiter      // nil: no rate limit
	bodyTimeout time.Duration // for reading a confirmation's body

	script     []byte // beacon.js with this Confirmer's settings
	scriptETag string

	counters  counters
	misuseLog rateLimitedLog // misuse of the template function, refusals
	signLog   rateLimitedLog // tokens that could not be signed
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
	for i, o := range opts {
		if o == nil {
			errs = append(errs, fmt.Errorf("%w: beacon option %d is nil", exposure.ErrInvalidConfig, i))
			continue
		}
		if err := o(&c); err != nil {
			errs = append(errs, err)
		}
	}
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
	cf.script, cf.scriptETag = buildScript(c.ratio, c.dwell)
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
