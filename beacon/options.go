package beacon

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	keys      [][]byte
	keysGiven bool // WithKeys was given, valid or not
	expiry    time.Duration
	ratio     float64
	dwell     time.Duration
	logger    *slog.Logger
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
