// Command checkout is a small shop that runs the "Checkout Redesign"
// experiment and counts a user as exposed only when the checkout page, where
// the variant is drawn, is rendered.
//
//	go run ./examples/checkout                       # http://localhost:8080
//	go run ./examples/checkout -addr localhost:9000
//
// It listens on loopback only, by default and as the examples show: the
// audit view at /debug/exposures has no authentication here (a real app
// puts it behind its own), and the shop trusts the user named in its
// cookie. Listening on every interface (":9000") would show both to the
// network.
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
//	EXPOSURE_BEACON_KEY  the key signing browser confirmations: 32 random bytes, base64 or hex
//	                   encoded (openssl rand -base64 32), the same on every instance; without
//	                   it a random key is made per run
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
	"github.com/exposurekit/exposure/beacon"
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
	mux, tracker, err := newDemo(logger, os.Stdout, opts...)
	if err != nil {
		return err
	}
	defer openfeature.Shutdown()
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}

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

// newDemo wires the shop: the Tracker printing exposures to out as JSON
// lines (plus the destinations in opts), the audit view, the browser
// confirmation, the flags, and the pages behind the Tracker's middleware.
func newDemo(logger *slog.Logger, out io.Writer, opts ...exposure.Option) (http.Handler, *exposure.Tracker, error) {
	lines, err := exposure.NewWriterSink(out)
	if err != nil {
		return nil, nil, err
	}
	// The audit view (live exposures, subject counts, the sample-ratio
	// check) observes the pipeline; ids are masked unless
	// audit.WithShowIDs(true).
	auditor, err := audit.NewAuditor()
	if err != nil {
		return nil, nil, err
	}
	tracker, err := exposure.NewTracker(append(opts,
		exposure.WithExperiments(checkoutExperiment, accessoriesExperiment),
		exposure.WithSink(lines, exposure.WithFlushInterval(200*time.Millisecond)),
		exposure.WithObserver(auditor),
		exposure.WithLogger(logger),
	)...)
	if err != nil {
		return nil, nil, err
	}
	// Browser confirmation of the accessories panel, drawn far below the
	// fold: the Confirmer serves its script and receives confirmations.
	key, err := beaconKey(logger)
	if err != nil {
		return nil, nil, err
	}
	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key), beacon.WithLogger(logger))
	if err != nil {
		return nil, nil, err
	}
	if err := openfeature.SetProviderAndWait(newFlagProvider()); err != nil {
		return nil, nil, err
	}
	openfeature.AddHooks(tracker.Hook())
	shop, err := newShop(openfeature.NewDefaultClient(), confirmer.TemplateFuncs())
	if err != nil {
		return nil, nil, err
	}
	// The beacon's script and confirmations, and the audit view (behind
	// your own authentication in a real app) sit outside the middleware.
	mux := http.NewServeMux()
	mux.Handle("/exposure/beacon", confirmer)
	mux.Handle("/debug/exposures", auditor.Handler(tracker))
	mux.Handle("/", tracker.Middleware(shop.routes()))
	return mux, tracker, nil
}

// beaconKey is EXPOSURE_BEACON_KEY, decoded, or a random key for this run:
// tokens in pages rendered before a restart are then refused, which a demo
// can live with. In production, share one secret key between instances.
func beaconKey(logger *slog.Logger) ([]byte, error) {
	if k := os.Getenv("EXPOSURE_BEACON_KEY"); k != "" {
		return decodeKey(k)
	}
	logger.Info("EXPOSURE_BEACON_KEY not set: signing browser confirmations with a random key for this run")
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return key, nil
}

// decodeKey reads a key of 32 random bytes written as hex (64 characters)
// or base64 (standard or URL alphabet, padded or not). A passphrase is not
// a key: 32 typed characters carry far fewer than 256 bits, so raw text is
// refused rather than taken as bytes.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	// Never the value itself: it is a secret.
	return nil, errors.New("EXPOSURE_BEACON_KEY must be 32 random bytes in hex (64 characters) or base64 " +
		"(for example: openssl rand -base64 32)")
}
