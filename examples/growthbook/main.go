// Command growthbook runs a GrowthBook experiment behind OpenFeature and
// counts a user as exposed only when the variant is rendered, offline:
// features come from JSON in the program, requests are served in-process,
// and exposures are printed on stdout.
//
//	go run .
//
// It walks one user through the shop: the home page evaluates the
// experiment flag (an assignment: nothing is sent anywhere), the checkout
// page renders the variant (one exposure to Mixpanel, printed as a JSON
// line, and one GrowthBook "Experiment Viewed" callback), and a refresh of
// the checkout page sends nothing new.
package main

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/growthbook"
)

// features is what the GrowthBook API (or a features file) would serve.
const features = `{
  "checkout-redesign": {
    "defaultValue": "control",
    "rules": [{
      "key": "checkout-exp",
      "name": "Checkout Redesign",
      "variations": ["control", "redesign"],
      "weights": [0.5, 0.5],
      "hashAttribute": "id",
      "hashVersion": 2,
      "meta": [{"key": "ctl", "name": "Control"}, {"key": "red", "name": "Redesign"}]
    }]
  }
}`

var checkout = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout-redesign" }}<button class="pay {{ .Variant }}">Pay</button>`))

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// lockedWriter serializes writes: the two sinks deliver from goroutines
// of their own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func run(w io.Writer) error {
	out := &lockedWriter{w: w}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// The app's GrowthBook client. Its tracking callback would fire at every
	// evaluation; the provider evaluates without it.
	client, err := gb.NewClient(ctx, gb.WithJsonFeatures(features), gb.WithLogger(logger),
		gb.WithExperimentCallback(func(context.Context, *gb.Experiment, *gb.ExperimentResult, *gb.TrackingUserContext, any) {
			fmt.Fprintln(out, "!! GrowthBook tracked at evaluation (this never prints)")
		}))
	if err != nil {
		return err
	}
	defer client.Close()
	provider, err := growthbook.NewProvider(client)
	if err != nil {
		return err
	}

	// GrowthBook's experiment-viewed tracking, called at render time. In
	// production: your analytics call, or growthbook.LogExperimentViewed
	// with a client carrying GrowthBook's tracking plugin.
	viewed := func(_ context.Context, e *gb.Experiment, r *gb.ExperimentResult, u *gb.TrackingUserContext, _ any) {
		fmt.Fprintf(out, "growthbook: Experiment Viewed experiment=%s variation=%s user=%v\n", e.Key, r.Key, u.Attributes["id"])
	}
	gbSink, err := growthbook.NewSink(provider, viewed, growthbook.WithLogger(logger))
	if err != nil {
		return err
	}

	lines, err := exposure.NewWriterSink(out) // Mixpanel-shaped JSON lines
	if err != nil {
		return err
	}
	tracker, err := exposure.NewTracker(
		exposure.WithSink(lines),
		exposure.WithSink(gbSink),
		exposure.WithLogger(logger),
	)
	if err != nil {
		return err
	}

	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		return err
	}
	defer func() { _ = api.Shutdown(ctx) }()
	api.AddHooks(tracker.Hook())
	flags := api.NewClient()

	mux := http.NewServeMux()
	variant := func(r *http.Request) string {
		v, _ := flags.StringValue(r.Context(), "checkout-redesign", "control",
			openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil))
		return v
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		variant(r) // evaluated to prefetch; not drawn on this page
		fmt.Fprint(w, "<h1>Shop</h1>")
	})
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		if err := checkout.Execute(w, map[string]any{"Ctx": r.Context(), "Variant": variant(r)}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	app := tracker.Middleware(mux)

	for _, step := range []struct{ title, path string }{
		{"home page: the flag is evaluated, nothing is sent", "/?user=alice"},
		{"checkout page: the variant is rendered, one exposure", "/checkout?user=alice"},
		{"checkout page again: a refresh, nothing new", "/checkout?user=alice"},
	} {
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, step.path, nil))
		fmt.Fprintf(out, "\n== GET %s (%s)\n   page: %s\n", step.path, step.title, strings.TrimSpace(rec.Body.String()))
		flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := tracker.Flush(flushCtx)
		cancel()
		if err != nil {
			return err
		}
	}

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := tracker.Close(closeCtx); err != nil {
		return err
	}
	s, gs := tracker.Stats(), gbSink.Stats()
	fmt.Fprintf(out, "\nassignments=%d committed=%d duplicates=%d; growthbook sink: sent=%d mismatched=%d skipped=%d\n",
		s.Counts[exposure.StageAssigned], s.Counts[exposure.StageCommitted], s.Counts[exposure.StageDuplicate],
		gs.Sent, gs.Mismatched, gs.Skipped)
	return nil
}
