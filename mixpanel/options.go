package mixpanel

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/exposurekit/exposure"
)

// defaultRequestTimeout bounds one request to Mixpanel unless
// [WithRequestTimeout] says otherwise.
const defaultRequestTimeout = 30 * time.Second

// An Option configures a [Sink]; see [NewSink]. An option given a bad value
// returns an error that wraps exposure.ErrInvalidConfig, names the option
// and never contains a secret; NewSink reports every such error at once.
type Option func(*config) error

// config is what the options set; NewSink turns it into a Sink.
type config struct {
	saUser, saSecret, projectID string
	base                        string // from WithRegion, "" for the default
	endpoint                    string // from WithEndpoint, overrides base
	track                       bool
	client                      *http.Client
	timeout                     time.Duration
	maxBytes                    int
	noGzip                      bool
	properties                  map[string]any
	logger                      *slog.Logger
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: mixpanel: "+format, append([]any{exposure.ErrInvalidConfig}, args...)...)
}

// WithServiceAccount authenticates /import with a service account (Project
// Settings > Service Accounts) instead of the project token. All three
// values are required. It cannot be combined with [WithTrack], which
// authenticates with the token only.
func WithServiceAccount(user, secret, projectID string) Option {
	return func(c *config) error {
		var missing []string
		for _, f := range []struct{ name, v string }{{"user", user}, {"secret", secret}, {"project id", projectID}} {
			if strings.TrimSpace(f.v) == "" {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return configErr("WithServiceAccount needs a user, a secret and a project id; missing %s", strings.Join(missing, ", "))
		}
		c.saUser, c.saSecret, c.projectID = user, secret, projectID
		return nil
	}
}

// WithRegion selects the API host of the project's data residency region:
// [US] (the default), [EU] or [IN], case-insensitively. [WithEndpoint]
// overrides it.
func WithRegion(r Region) Option {
	return func(c *config) error {
		base, ok := regionBase[Region(strings.ToUpper(strings.TrimSpace(string(r))))]
		if !ok {
			return configErr("WithRegion(%q): the region is not one of US, EU, IN", r)
		}
		c.base = base
		return nil
	}
}

// WithEndpoint sends to a base URL other than the region's, such as a
// proxy or a mixpaneltest server: "https://proxy.internal/mixpanel". The
// sink appends /import or /track to its path. It overrides [WithRegion].
// The URL must be http or https and carry neither credentials, nor a query,
// nor a fragment.
func WithEndpoint(endpoint string) Option {
	return func(c *config) error {
		u, err := url.Parse(endpoint)
		switch {
		case err != nil:
			return configErr("WithEndpoint: not a valid URL")
		case u.User != nil:
			return configErr("WithEndpoint: the URL must not carry credentials (use the token or WithServiceAccount)")
		case u.Scheme != "http" && u.Scheme != "https":
			return configErr("WithEndpoint: the URL must be http or https, such as https://api-eu.mixpanel.com, got scheme %q", u.Scheme)
		case u.Host == "":
			return configErr("WithEndpoint(%q): the URL has no host", endpoint)
		case u.RawQuery != "" || u.Fragment != "":
			return configErr("WithEndpoint(%q): the URL must not have a query or fragment", u.Scheme+"://"+u.Host+u.Path)
		}
		c.endpoint = u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/")
		return nil
	}
}

// WithTrack sends to /track instead of /import. /track authenticates only
// with the token in each event, does not report failures per event and
// keeps only events of the last 5 days: prefer /import, the default.
func WithTrack() Option {
	return func(c *config) error {
		c.track = true
		return nil
	}
}

// WithHTTPClient sends the requests with client. Default: a client of the
// sink's own, with keep-alive connections ([Sink.CloseIdleConnections]
// closes them).
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) error {
		if client == nil {
			return configErr("WithHTTPClient given a nil client")
		}
		c.client = client
		return nil
	}
}

// WithRequestTimeout bounds one request, from sending it to reading the
// answer. Default 30s.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return configErr("WithRequestTimeout(%v): the timeout must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithMaxRequestBytes caps the uncompressed body of one request, from 1 to
// (and by default) [MaxRequestBytes]. The sink splits batches to stay under
// it; an event larger on its own fails with [ErrEventTooLarge].
func WithMaxRequestBytes(n int) Option {
	return func(c *config) error {
		if n < 1 || n > MaxRequestBytes {
			return configErr("WithMaxRequestBytes(%d): the cap must be between 1 and %d", n, MaxRequestBytes)
		}
		c.maxBytes = n
		return nil
	}
}

// WithoutCompression sends plain JSON instead of gzip-compressed JSON.
func WithoutCompression() Option {
	return func(c *config) error {
		c.noGzip = true
		return nil
	}
}

// WithProperties adds properties to every event: strings, bools, numbers
// or nil. They may not override the sink's own properties (see
// [PropExperiment] and the others), and an event carries at most
// [MaxProperties] in all. A name is 1 to 255 bytes of valid UTF-8. It is
// repeatable; a later value of a name replaces an earlier one.
func WithProperties(props map[string]any) Option {
	return func(c *config) error {
		merged := make(map[string]any, len(c.properties)+len(props))
		for k, v := range c.properties {
			merged[k] = v
		}
		for k, v := range props {
			merged[k] = v
		}
		if _, err := newEncoder("", "", merged); err != nil {
			return configErr("%s", err.Error())
		}
		c.properties = merged
		return nil
	}
}

// WithLogger sets where the sink reports rejected credentials (at most once
// a minute) and the events Mixpanel refused. Default: [slog.Default] at the
// time NewSink is called.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return configErr("WithLogger given a nil logger")
		}
		c.logger = l
		return nil
	}
}
