package redisdedupe_test

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/redisdedupe"
	"github.com/redis/go-redis/v9"
)

// Every instance of the app creates its Tracker with a Deduper on the same
// Redis, so that a user is exposed once per window, whichever instance
// serves them.
func ExampleNewDeduper() {
	opt, err := redis.ParseURL(os.Getenv("REDIS_URL")) // redis://host:6379/0
	if err != nil {
		log.Fatal(err)
	}
	// Let the client end a call at the Deduper's timeout too.
	opt.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	dedupe, err := redisdedupe.NewDeduper(rdb,
		redisdedupe.WithKeyPrefix("shop:exposure:"),
		// Per round trip; a round trip that times out is retried once. No
		// request waits for it: the Tracker claims off the request path.
		redisdedupe.WithTimeout(2*time.Second),
		redisdedupe.WithLogger(slog.Default()),
	)
	if err != nil {
		log.Fatal(err)
	}
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithSink(exposuretest.NewRecorder()), // mixpanel.NewSink(...) in production
		exposure.WithDeduper(dedupe),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = tracker // openfeature.AddHooks(tracker.Hook()); http.ListenAndServe(addr, tracker.Middleware(mux))

	// Watch the fallback in your metrics:
	st := dedupe.Stats()
	_ = st.Fallbacks // claims answered in memory because Redis was unavailable
}

// Configuration errors are reported all at once, each naming the option,
// and wrap exposure.ErrInvalidConfig.
func ExampleNewDeduper_configurationErrors() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	_, err := redisdedupe.NewDeduper(rdb,
		redisdedupe.WithTimeout(0),
		redisdedupe.WithCooldown(-time.Second),
	)
	fmt.Println(errors.Is(err, exposure.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// true
	// exposure: invalid configuration: redisdedupe: WithTimeout(0s): the timeout must be positive
	// exposure: invalid configuration: redisdedupe: WithCooldown(-1s): the cool-down must not be negative
}
