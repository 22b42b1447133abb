package beacon

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/token"
)

// Defaults of a [Confirmer].
const (
	// DefaultExpiry is how long a token stays valid after the page that
	// carries it was rendered.
	DefaultExpiry = time.Hour
	// DefaultRatio is the share of an element that must be inside the
	// viewport for it to count as visible.
	DefaultRatio = 0.5
	// DefaultDwell is how long an element must stay visible before the
	// browser confirms it.
	DefaultDwell = time.Second
	// MinKeyBytes is the shortest key [WithKeys] accepts.
	MinKeyBytes = token.MinKeyBytes
)

// An Option configures a [Confirmer]; see [NewConfirmer]. An option given
// a bad value returns an error wrapping [exposure.ErrInvalidConfig], and
// NewConfirmer reports every such error at once.
type Option func(*config) error

type config struct {
	keys        [][]byte
	keysGiven   bool // WithKeys was given, valid or not
	application string
	expiry      time.Duration
	ratio       float64
	dwell       time.Duration
	logger      *slog.Logger
	limit       *rateLimit // nil: no rate limit
	origins     []string   // WithAllowedOrigins
	isBot       func(*http.Request) bool
}

// WithKeys sets the keys that sign and verify tokens; it is required. The
// first key signs; every key verifies, so keys rotate without losing
// confirmations in flight: put the new key first, keep the old one second
// for at least the token expiry, then drop it. Each key must have at least
// [MinKeyBytes] bytes of secret randomness (crypto/rand), the same on every
// app instance. Errors name a short key by its position and length, never
// its bytes. A later WithKeys replaces an earlier one.
func WithKeys(keys ...[]byte) Option {
	return func(c *config) error {
		c.keysGiven = true
		if len(keys) == 0 {
			return fmt.Errorf("%w: beacon.WithKeys given no key", exposure.ErrInvalidConfig)
		}
		var errs []error
		cp := make([][]byte, len(keys))
		for i, k := range keys {
			if len(k) < MinKeyBytes {
				errs = append(errs, fmt.Errorf("%w: beacon.WithKeys key %d is %d bytes; each key needs at least %d",
					exposure.ErrInvalidConfig, i, len(k), MinKeyBytes))
				continue
			}
			cp[i] = append([]byte(nil), k...)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		c.keys = cp
		return nil
	}
}

// WithExpiry sets how long a token stays valid after its page was
// rendered, at least a second. Default [DefaultExpiry]. A page left open
// longer confirms nothing; a shorter expiry narrows the window in which a
// copied token can be replayed (replays are deduplicated anyway).
func WithExpiry(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return fmt.Errorf("%w: beacon.WithExpiry must be at least 1s, got %v", exposure.ErrInvalidConfig, d)
		}
		c.expiry = d
		return nil
	}
}

// WithVisibility sets when the browser counts an element as seen: at least
// ratio of it (0 < ratio <= 1) inside the viewport, or of the viewport
// covered by it for elements taller than the screen, for dwell (at most
// 10 minutes, shorter than the expiry) without interruption while the page
// is in the foreground. Defaults [DefaultRatio] and [DefaultDwell]; an
// element may override them with data-exposure-ratio and
// data-exposure-dwell (milliseconds) attributes.
func WithVisibility(ratio float64, dwell time.Duration) Option {
	return func(c *config) error {
		var errs []error
		if !(ratio > 0 && ratio <= 1) { // also refuses NaN
			errs = append(errs, fmt.Errorf("%w: beacon.WithVisibility ratio must be in (0, 1], got %v", exposure.ErrInvalidConfig, ratio))
		}
		if dwell < 0 || dwell > 10*time.Minute {
			errs = append(errs, fmt.Errorf("%w: beacon.WithVisibility dwell must be between 0 and 10m, got %v", exposure.ErrInvalidConfig, dwell))
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		c.ratio, c.dwell = ratio, dwell
		return nil
	}
}

// WithLogger sets the logger for misuse of the template function and for
// confirmations the Tracker refused. Default [slog.Default] at the time
// NewConfirmer is called.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: beacon.WithLogger given a nil logger", exposure.ErrInvalidConfig)
		}
		c.logger = l
		return nil
	}
}

// MaxApplicationBytes bounds the name given to [WithApplication].
const MaxApplicationBytes = token.MaxApplicationBytes

// WithApplication binds the Confirmer's tokens to the application called
// name: they are signed for that name, and a token signed for another
// name is refused as forged ([Stats].Forged), even under the same key. So
// two applications that share a key (which they should not) cannot confirm
// each other's exposures, provided they have different names. The name is
// not in the token; it enters the signature only. Default "", the unnamed
// application. Every instance of one application must use the same name.
//
// Changing the name (from "" as well) is like changing the key: tokens in
// pages rendered before the change are refused until they expire. The
// tokens of earlier releases (versions 1 and 2) name no application: a
// Confirmer of the unnamed application accepts them; one with a name
// refuses them. The name must be valid UTF-8 of at most
// [MaxApplicationBytes] bytes.
func WithApplication(name string) Option {
	return func(c *config) error {
		if len(name) > MaxApplicationBytes || !utf8.ValidString(name) {
			return fmt.Errorf("%w: beacon.WithApplication name %.40q is not UTF-8 of at most %d bytes (%d bytes)",
				exposure.ErrInvalidConfig, name, MaxApplicationBytes, len(name))
		}
		c.application = name
		return nil
	}
}

// WithRateLimit limits the confirmations each client may post: perSecond
// on average, in bursts of at most burst, counted by the client key that
// key returns for a request (nil: [RemoteIP]). A confirmation over the
// limit is answered 429 Too Many Requests with a Retry-After header, sends
// nothing and is counted in [Stats].RateLimited; the script loaded with GET
// is not limited. Default: no limit.
//
// A limit stops one client from committing exposures for many invented
// subjects, which would push real users out of a bounded Deduper and
// expose them again. A page confirms one token per render site once, so a
// limit of a few confirmations a second, with a burst of the most render
// sites a page has, never slows a real visitor; behind a NAT or a proxy
// many visitors share an address, which calls for a larger limit.
//
// Behind a reverse proxy every request comes from the proxy: give a key
// that reads the client's address from the header the proxy sets (and
// only from the proxy's own entry in it, which a client cannot forge), or
// limit the rate in the proxy instead.
//
// The Confirmer remembers the clients seen recently, at most 65,536 (a
// few megabytes, whatever the length of the keys): past that it forgets
// first the clients whose bucket has refilled, which loses nothing, then
// those idle longest, which may let one of them start a new burst early.
// perSecond must be positive and finite and burst at least 1.
func WithRateLimit(perSecond float64, burst int, key func(*http.Request) string) Option {
	return func(c *config) error {
		var errs []error
		if !(perSecond > 0) || math.IsInf(perSecond, 0) {
			errs = append(errs, fmt.Errorf("%w: beacon.WithRateLimit perSecond must be positive and finite, got %v", exposure.ErrInvalidConfig, perSecond))
		}
		if burst < 1 {
			errs = append(errs, fmt.Errorf("%w: beacon.WithRateLimit burst must be at least 1, got %d", exposure.ErrInvalidConfig, burst))
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if key == nil {
			key = RemoteIP
		}
		c.limit = &rateLimit{perSecond: perSecond, burst: burst, key: key}
		return nil
	}
}

// WithAllowedOrigins lets browser pages of other origins post
// confirmations, for a front end served from another origin than its API
// (https://app.example.com calling https://api.example.com). By default
// the endpoint is same-origin: a browser's post from another origin is
// refused with 403 and counted in [Stats].CrossOrigin, whatever its token.
// Clients that are not browsers (mobile apps, servers) send no Origin and
// are not concerned.
//
// Each origin is exact, as a browser spells it in the Origin header:
// "scheme://host" or "scheme://host:port", scheme http or https, lower
// case, no path, no trailing slash. "*", "null" and anything else are an
// error: there is no wildcard. For a listed origin the endpoint answers
// CORS preflights (OPTIONS) with Access-Control-Allow-Origin naming that
// origin, Access-Control-Allow-Methods POST, Access-Control-Allow-Headers
// Content-Type and Access-Control-Max-Age, and adds
// Access-Control-Allow-Origin to its answers to posts; every answer
// varies by Origin. It never allows credentials: a token needs no cookie,
// so clients should post with credentials "omit". Later calls add to the
// list.
func WithAllowedOrigins(origins ...string) Option {
	return func(c *config) error {
		if len(origins) == 0 {
			return fmt.Errorf("%w: beacon.WithAllowedOrigins given no origin", exposure.ErrInvalidConfig)
		}
		var errs []error
		for _, o := range origins {
			if err := checkOrigin(o); err != nil {
				errs = append(errs, fmt.Errorf("%w: beacon.WithAllowedOrigins: %w", exposure.ErrInvalidConfig, err))
				continue
			}
			c.origins = append(c.origins, o)
		}
		return errors.Join(errs...)
	}
}

// checkOrigin accepts the serialization of an http or https origin, and
// nothing else.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
		u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
		strings.Contains(o, "#") || strings.Contains(o, "*") || o != u.Scheme+"://"+strings.ToLower(u.Host) ||
		(u.Port() == "" && strings.HasSuffix(u.Host, ":")) {
		return fmt.Errorf("%.80q is not an origin (scheme://host[:port], http or https, lower case, no path, no wildcard)", o)
	}
	if p := u.Port(); p != "" {
		n := 0
		for _, d := range p {
			n = n*10 + int(d-'0')
			if d < '0' || d > '9' || n > 65535 {
				return fmt.Errorf("%.80q is not an origin: port %q", o, p)
			}
		}
	}
	return nil
}

// WithBotFilter replaces the test that refuses confirmations posted by bots
// and crawlers: crawlers that run scripts (Googlebot renders pages) would
// otherwise confirm the tokens of the pages they render, past the
// Tracker's own filter, which sees only the page's request. The default is
// [exposure.IsKnownBot], the Tracker's default too; pass the function you
// gave [exposure.WithBotFilter] to keep the two alike, or one that returns
// false to filter nothing. A bot's confirmation is answered 204, so that it
// does not retry, and counted in [Stats].Bots.
func WithBotFilter(isBot func(r *http.Request) bool) Option {
	return func(c *config) error {
		if isBot == nil {
			return fmt.Errorf("%w: beacon.WithBotFilter given a nil function; to disable the filter, pass one that returns false", exposure.ErrInvalidConfig)
		}
		c.isBot = isBot
		return nil
	}
}
