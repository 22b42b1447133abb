package mixpanelflags

import (
	"errors"
	"fmt"
	"time"

	"github.com/mixpanel/mixpanel-go/v2/flags"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/options"
)

// An Option configures a [Provider]; see [NewProvider]. An option given a
// bad value returns an error, and NewProvider reports every such error at
// once.
type Option func(*config) error

type config struct {
	mode      string // ModeLocal or ModeRemote
	local     flags.LocalFlagsConfig
	remote    flags.RemoteFlagsConfig
	modes     int
	groupKeys []string
}

// WithLocalEvaluation evaluates flags in process from definitions the
// provider downloads at Init and then polls (cfg.EnablePolling,
// cfg.PollingInterval; the SDK's default is every 60 s). This is the
// default, with flags.DefaultLocalFlagsConfig(). An evaluation never
// touches the network. cfg.ExposureExecutor is ignored: the provider
// reports no exposure.
func WithLocalEvaluation(cfg flags.LocalFlagsConfig) Option {
	return func(c *config) error {
		c.modes++
		c.mode, c.local = ModeLocal, cfg
		var errs []error
		if cfg.PollingInterval < 0 {
			errs = append(errs, fmt.Errorf("%w: mixpanelflags.WithLocalEvaluation: negative PollingInterval %v", exposure.ErrInvalidConfig, cfg.PollingInterval))
		}
		errs = append(errs, checkFlagsConfig("WithLocalEvaluation", cfg.FlagsConfig))
		return errors.Join(errs...)
	}
}

// WithRemoteEvaluation evaluates each flag with one request to Mixpanel's
// flags API, made by the evaluation itself: the request waits for it, up
// to cfg.RequestTimeout (the SDK's default is 10 s) or the evaluation's
// context. Prefer local evaluation on a request path. cfg.ExposureExecutor
// is ignored.
func WithRemoteEvaluation(cfg flags.RemoteFlagsConfig) Option {
	return func(c *config) error {
		c.modes++
		c.mode, c.remote = ModeRemote, cfg
		return checkFlagsConfig("WithRemoteEvaluation", cfg.FlagsConfig)
	}
}

func checkFlagsConfig(who string, cfg flags.FlagsConfig) error {
	if cfg.RequestTimeout < 0 {
		return fmt.Errorf("%w: mixpanelflags.%s: negative RequestTimeout %v", exposure.ErrInvalidConfig, who, cfg.RequestTimeout)
	}
	return nil
}

// WithGroupKeys copies the evaluation-context attributes named by keys to
// the top level of Mixpanel's flag context, next to distinct_id and
// device_id, for flags whose variant is assigned by a group key (a flag
// whose "context" is "company_id" is assigned by the company_id
// attribute). Every attribute is a custom property too.
func WithGroupKeys(keys ...string) Option {
	return func(c *config) error {
		for _, k := range keys {
			switch k {
			case "":
				return fmt.Errorf("%w: mixpanelflags.WithGroupKeys given an empty key", exposure.ErrInvalidConfig)
			case keyDistinctID, keyDeviceID, keyCustomProperties:
				return fmt.Errorf("%w: mixpanelflags.WithGroupKeys: %q is set by the provider", exposure.ErrInvalidConfig, k)
			}
		}
		c.groupKeys = append(c.groupKeys, keys...)
		return nil
	}
}

func applyOptions(cfg *config, opts []Option) error {
	errs := options.Apply(cfg, "mixpanelflags.NewProvider", opts)
	if cfg.modes > 1 {
		errs = append(errs, fmt.Errorf("%w: mixpanelflags.NewProvider: give WithLocalEvaluation or WithRemoteEvaluation, not both nor twice", exposure.ErrInvalidConfig))
	}
	return errors.Join(errs...)
}

// requestTimeout is the SDK's default when cfg leaves it unset.
func requestTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return 10 * time.Second
	}
	return d
}
