// Command checkout is a small shop that runs the "Checkout Redesign"
// experiment and counts a user as exposed only when the checkout page, where
// the variant is drawn, is rendered.
//
//	go run ./examples/checkout            # http://localhost:8080
//	go run ./examples/checkout -addr :9000
//
// Pick a user, visit the home page (the flag is evaluated there: an
// assignment, nothing is sent), then the checkout page (the variant is
// rendered and marked: one exposure, printed as a JSON line on stdout).
// Refresh the checkout page: nothing new, the exposure is deduplicated.
// http://localhost:8080/debug/exposures shows it all as it happens.
//
// Far below the fold, the checkout page also draws the "Recommended
// Accessories" experiment. That render site uses exposureBeacon: the server
// sends nothing for it, and your browser confirms the exposure once you
// scroll the panel into view (half of it on screen for a second).
//
// Environment:
//
//	MIXPANEL_TOKEN     send exposures to Mixpanel too (MIXPANEL_REGION: US, EU or IN;
//	                   MIXPANEL_API_HOST: a base URL overriding the region)
//	REDIS_URL          share the dedupe window through Redis (redis://host:port)
//	EXPOSURE_BEACON_KEY  the key signing browser confirmations, at least 32 bytes, the same
//	                   on every instance; without it a random key is made per run
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

func run(addr string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts, closeExtras, err := destinations(logger)
	if err != nil {
		return err
	}
	defer closeExtras()

	tracker, err := exposure.New(append(opts,
		exposure.WithExperiments(checkoutExperiment, accessoriesExperiment),
		exposure.WithBeaconKeys(beaconKey(logger)),
		exposure.WithSink(exposure.NewWriterSink(os.Stdout), exposure.WithFlushInterval(200*time.Millisecond)),
		exposure.WithLogger(logger),
	)...)
	if err != nil {
		return err
	}
	if err := openfeature.SetProviderAndWait(newFlagProvider()); err != nil {
		return err
	}
	openfeature.AddHooks(tracker.Hook())
	defer openfeature.Shutdown()

	shop, err := newShop(openfeature.NewDefaultClient())
	if err != nil {
		return err
	}
	// The beacon's script and confirmations, and the audit view (live
	// exposures, subject counts, the sample-ratio check; behind your own
	// authentication in a real app, ids masked unless
	// exposure.WithDebugShowIDs(true)) sit outside the middleware.
	mux := http.NewServeMux()
	mux.Handle("/exposure/beacon", tracker.BeaconHandler())
	mux.Handle("/debug/exposures", tracker.DebugHandler())
	mux.Handle("/", tracker.Middleware(shop.routes()))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("checkout demo listening", "url", "http://"+addr)

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	// Deliver every queued exposure before exiting.
	return tracker.Close(shutdownCtx)
}

// beaconKey is EXPOSURE_BEACON_KEY, or a random key for this run: tokens
// in pages rendered before a restart are then refused, which a demo can
// live with. In production, share one secret key between instances.
func beaconKey(logger *slog.Logger) []byte {
	if k := os.Getenv("EXPOSURE_BEACON_KEY"); k != "" {
		return []byte(k) // New refuses it if shorter than 32 bytes
	}
	logger.Info("EXPOSURE_BEACON_KEY not set: signing browser confirmations with a random key for this run")
	return []byte(rand.Text() + rand.Text()) // 2 x 26 base32 characters: 260 random bits
}
