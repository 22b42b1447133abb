// Command spa is a single-page app whose variant is drawn by the client:
// a Go JSON API and a page of plain ES modules (no build step) that runs
// the "Pricing Page Test" experiment and counts a visitor as exposed only
// when the pricing panel, drawn in the browser after a client-side route
// change, was seen.
//
//	go run ./examples/spa                       # http://localhost:8081
//	go run ./examples/spa -addr localhost:9001
//
// The page asks GET /api/pricing for its variant. The API evaluates the
// flag (an assignment, nothing is sent) and returns the variant with a
// confirmation token from beacon.Confirmer.Token, which leaves the exposure
// to the client. The page draws the panel and calls observe() from the
// browser module the Confirmer serves at /exposure/js/index.js; once half
// of the panel was on screen for a second, the module posts the token to
// /exposure/beacon and the exposure is printed as a JSON line on stdout.
// See README.md for what to click.
//
// It listens on loopback only, by default and as the examples show: the
// visitor id is a random cookie the server mints, and the demo has no
// authentication. Tokens are signed with a random key per run.
package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/open-feature/go-sdk/openfeature"
)

//go:embed static
var staticFS embed.FS

func main() {
	addr := flag.String("addr", "localhost:8081", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

func run(addr string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	handler, tracker, err := newApp(logger, os.Stdout)
	if err != nil {
		return err
	}
	defer openfeature.Shutdown()
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("spa demo listening", "url", "http://"+addr)

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

// providerDomain is the OpenFeature domain of the demo's flags.
const providerDomain = "spa-demo"

// newApp wires the demo: the Tracker printing exposures to out as JSON
// lines, the Confirmer (its module and its endpoint), the flags, the API
// behind the Tracker's middleware, and the page.
func newApp(logger *slog.Logger, out io.Writer) (http.Handler, *exposure.Tracker, error) {
	lines, err := exposure.NewWriterSink(out)
	if err != nil {
		return nil, nil, err
	}
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(pricingExperiment),
		exposure.WithSink(lines, exposure.WithFlushInterval(200*time.Millisecond)),
		exposure.WithLogger(logger),
	)
	if err != nil {
		return nil, nil, err
	}
	// A random key per run: tokens handed out before a restart are then
	// refused, which a demo can live with. In production, share one secret
	// key (32 random bytes) between instances.
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key), beacon.WithLogger(logger))
	if err != nil {
		return nil, nil, err
	}
	if err := openfeature.SetNamedProviderAndWait(providerDomain, newFlagProvider()); err != nil {
		return nil, nil, err
	}
	flags := openfeature.NewClient(providerDomain)
	flags.AddHooks(tracker.Hook())

	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, nil, err
	}
	api := http.NewServeMux()
	api.Handle("GET /api/pricing", pricingAPI(flags, confirmer, logger))

	mux := http.NewServeMux()
	// The API evaluates flags inside the Tracker's middleware: its Scope
	// holds the assignment that Confirmer.Token hands to the client.
	mux.Handle("/api/", withVisitor(tracker.Middleware(api)))
	// The browser module, and the endpoint it posts tokens to.
	mux.Handle("/exposure/js/", http.StripPrefix("/exposure/js/", confirmer.Module()))
	mux.Handle("/exposure/beacon", confirmer)
	// The page's own modules and style.
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	// Every route of the app is the same page; the client draws it.
	page, err := fs.ReadFile(static, "index.html")
	if err != nil {
		return nil, nil, err
	}
	for _, route := range []string{"GET /{$}", "GET /pricing", "GET /about"} {
		mux.Handle(route, withVisitor(servePage(page)))
	}
	return mux, tracker, nil
}

// pageCSP allows the page nothing but its own origin: the module needs no
// more. frame-ancestors 'none' keeps other sites from framing the page (the
// module refuses to confirm in their frames anyway).
const pageCSP = "default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self'; " +
	"img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func servePage(page []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
}

// pricingAnswer is what GET /api/pricing returns.
type pricingAnswer struct {
	// Variant is the flag's value: "monthly-first" or "annual-first".
	Variant string `json:"variant"`
	// Token confirms the exposure once the client shows the variant; empty
	// when none could be issued (the client then observes nothing).
	Token string `json:"token,omitempty"`
}

// pricingAPI evaluates the pricing flag for the visitor and hands its
// assignment to the client. A token that cannot be issued is logged, never
// a failed request: the visitor still gets the page.
func pricingAPI(flags *openfeature.Client, confirmer *beacon.Confirmer, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ec := openfeature.NewEvaluationContext(visitorOf(ctx), nil)
		variant, err := flags.StringValue(ctx, pricingFlag, "monthly-first", ec)
		if err != nil {
			logger.Warn("evaluating the pricing flag", "err", err)
		}
		answer := pricingAnswer{Variant: variant}
		if answer.Token, err = confirmer.Token(ctx, pricingFlag); err != nil {
			logger.Warn("no confirmation token for the pricing flag", "err", err)
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(answer)
	})
}

type visitorKey struct{}

// visitorOf is the visitor id withVisitor put in ctx.
func visitorOf(ctx context.Context) string {
	v, _ := ctx.Value(visitorKey{}).(string)
	return v
}

// withVisitor gives every browser an anonymous visitor id: a random
// cookie the server mints. A cookie that is not one it could have minted
// (32 hex digits) is replaced, so a client cannot bring ids of any length.
func withVisitor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if c, err := r.Cookie("visitor"); err == nil && validVisitor(c.Value) {
			id = c.Value
		} else {
			b := make([]byte, 16)
			_, _ = rand.Read(b) // never fails (crypto/rand)
			id = hex.EncodeToString(b)
			http.SetCookie(w, &http.Cookie{Name: "visitor", Value: id, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteLaxMode, MaxAge: 30 * 24 * 3600})
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), visitorKey{}, id)))
	})
}

func validVisitor(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
