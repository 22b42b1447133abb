package mixpaneltest

import (
	"fmt"
	"strings"
	"time"

	"github.com/exposurekit/exposure"
)

// An Option configures a fake [Server]; see [NewServer].
type Option func(*config) error

type config struct {
	token                       string
	saUser, saSecret, projectID string
	maxEvents, maxBytes         int
	dollarInsertIDKey           bool
	discardBodies               bool
	now                         func() time.Time
	seed                        uint64
}

func optionErr(format string, args ...any) error {
	return fmt.Errorf("%w: mixpaneltest: "+format, append([]any{exposure.ErrInvalidConfig}, args...)...)
}

// WithToken sets the project token the server accepts as the basic-auth
// user of /import and requires in the properties of /track events.
// Default "test-token".
func WithToken(token string) Option {
	return func(c *config) error {
		if strings.TrimSpace(token) == "" {
			return optionErr("WithToken given an empty token")
		}
		c.token = token
		return nil
	}
}

// WithServiceAccount makes /import also accept this service account, with
// ?project_id=projectID. All three values are required.
func WithServiceAccount(user, secret, projectID string) Option {
	return func(c *config) error {
		if user == "" || secret == "" || projectID == "" {
			return optionErr("WithServiceAccount needs a user, a secret and a project id")
		}
		c.saUser, c.saSecret, c.projectID = user, secret, projectID
		return nil
	}
}

// WithMaxEvents sets how many events one request may hold; over it the
// answer is 413. Default [DefaultMaxEvents] (2000).
func WithMaxEvents(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return optionErr("WithMaxEvents(%d): the cap must be positive", n)
		}
		c.maxEvents = n
		return nil
	}
}

// WithMaxBytes sets the largest uncompressed body of one request; over it
// the answer is 413. Default [DefaultMaxBytes] (2 MiB).
func WithMaxBytes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return optionErr("WithMaxBytes(%d): the cap must be positive", n)
		}
		c.maxBytes = n
		return nil
	}
}

// WithDollarInsertIDKey names the insert id "$insert_id" instead of
// "insert_id" in the failed_records of a 400 (Mixpanel's documentation
// shows both).
func WithDollarInsertIDKey() Option {
	return func(c *config) error {
		c.dollarInsertIDKey = true
		return nil
	}
}

// WithoutBodies keeps neither Request.Body nor the events' JSON
// (Event.Raw and Event.Properties stay empty), for tests and benchmarks
// sending many events.
func WithoutBodies() Option {
	return func(c *config) error {
		c.discardBodies = true
		return nil
	}
}

// WithClock sets the server's clock, for the "not more than 1 hour in the
// future" rule. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return optionErr("WithClock given a nil function")
		}
		c.now = now
		return nil
	}
}

// WithSeed seeds the choice of faults of [Server.SetFaultRate], so that a
// test sees the same faults on every run. Default 1.
func WithSeed(seed uint64) Option {
	return func(c *config) error {
		c.seed = seed
		return nil
	}
}
