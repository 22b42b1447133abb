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
// [WithKeys]: the flag key, the experiment, the variant and the provider's
// own name of it (Assignment.ProviderVariant, which vendor sinks compare
// with a fresh evaluation), the subject (distinct id, user id, device id,
// targeting key), the reason, the evaluation time and the issue time,
// encoded in base64url. A typical token is about 150 characters; the
// largest, every field at the root's bound of 255 bytes, is 3150, so
// every assignment the Tracker holds gets a token.
//
// Tokens are versioned. This release issues version 2 and verifies
// versions 2 and 1; version 1, issued by the release before, has no
// provider variant, so an exposure confirmed with it arrives with
// ProviderVariant empty. Pages rendered before a deploy therefore keep
// confirming until their tokens expire ([WithExpiry]).
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
// shorter than [MinKeyBytes], an expiry under a second, a ratio outside
// (0, 1], or a dwell that is negative, over 10 minutes or not shorter than
// the expiry.
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
	codec, err := token.NewCodec(c.keys, c.expiry)
	if err != nil { // the options checked everything the codec checks
		return nil, fmt.Errorf("%w: %w", exposure.ErrInvalidConfig, err)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	cf := &Confirmer{tracker: t, codec: codec, log: c.logger, now: time.Now}
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
