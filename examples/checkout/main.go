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
// Environment:
//
//	MIXPANEL_TOKEN     send exposures to Mixpanel too (MIXPANEL_REGION: US, EU or IN;
//	                   MIXPANEL_API_HOST: a base URL overriding the region)
//	REDIS_URL          share the dedupe window through Redis (redis://host:port)
package main

import (
	"context"
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
		exposure.WithExperiments(checkoutExperiment),
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
	// The audit view: live exposures, subject counts and the sample-ratio
	// check. Behind your own authentication in a real app; ids are masked
	// unless exposure.WithDebugShowIDs(true).
	mux := http.NewServeMux()
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
