package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/redisdedupe"
	"github.com/redis/go-redis/v9"
)

// destinations returns the options for the real destinations the
// environment asks for, and a function that releases them:
//
//   - MIXPANEL_TOKEN: exposures go to Mixpanel too (MIXPANEL_REGION US, EU
//     or IN; MIXPANEL_API_HOST a base URL overriding the region, for a proxy);
//   - REDIS_URL: several instances of the shop share one dedupe window, so a
//     user is exposed once whichever instance serves the checkout page.
func destinations(logger *slog.Logger) ([]exposure.Option, func(), error) {
	var opts []exposure.Option
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}

	if token := os.Getenv("MIXPANEL_TOKEN"); token != "" {
		endpoint := strings.TrimSpace(os.Getenv("MIXPANEL_API_HOST"))
		if endpoint != "" && !strings.Contains(endpoint, "://") {
			endpoint = "https://" + endpoint // a bare host, such as api-eu.mixpanel.com
		}
		mopts := []mixpanel.Option{mixpanel.WithLogger(logger)}
		if r := os.Getenv("MIXPANEL_REGION"); r != "" {
			mopts = append(mopts, mixpanel.WithRegion(mixpanel.Region(r)))
		}
		if endpoint != "" {
			mopts = append(mopts, mixpanel.WithEndpoint(endpoint))
		}
		sink, err := mixpanel.NewSink(token, mopts...)
		if err != nil {
			return nil, nil, fmt.Errorf("MIXPANEL_TOKEN is set, but: %w", err)
		}
		opts = append(opts, exposure.WithSink(sink))
		logger.Info("sending exposures to Mixpanel")
	}

	if url := os.Getenv("REDIS_URL"); url != "" {
		ropt, err := redis.ParseURL(url)
		if err != nil {
			// Not err itself: it can quote the URL, password included.
			return nil, nil, errors.New("REDIS_URL is not a valid redis:// or rediss:// URL")
		}
		ropt.ContextTimeoutEnabled = true // calls end at the Deduper's timeout
		rdb := redis.NewClient(ropt)
		closers = append(closers, func() { _ = rdb.Close() })
		d, err := redisdedupe.NewDeduper(rdb,
			redisdedupe.WithKeyPrefix("checkout-demo:exposure:"),
			redisdedupe.WithLogger(logger),
		)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		opts = append(opts, exposure.WithDeduper(d))
		logger.Info("sharing the dedupe window through Redis", "addr", ropt.Addr)
	}
	return opts, closeAll, nil
}
