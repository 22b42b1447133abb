// Command mixpanel runs a Mixpanel feature-flag experiment behind
// OpenFeature and counts a user as exposed only when the variant is
// rendered, offline: the flags come from an in-process fake of Mixpanel's
// flags API (flagstest), requests are served in-process, and the exposures
// Mixpanel would receive are printed on stdout as JSON lines.
//
//	go run .
//
// It walks one user through the shop: the home page evaluates the
// experiment flag (an assignment: nothing is sent anywhere, and Mixpanel's
// flags API receives no event), the checkout page renders the variant (one
// $experiment_started, with the $experiment_id and the other properties
// Mixpanel's own exposure carries), and a refresh sends nothing new.
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
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/exposurekit/exposure"
	mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

// definitions is what Mixpanel's flags API serves: one flag linked to an
// experiment, split 50/50.
const definitions = `{"flags": [{
  "id": "f-1", "key": "checkout-redesign", "name": "Checkout Redesign", "status": "active", "project_id": 1,
  "context": "distinct_id", "experiment_id": "exp-checkout-1", "is_experiment_active": true, "hash_salt": "c0ffee",
  "ruleset": {
    "variants": [{"key": "control", "value": "grey", "is_control": true, "split": 0.5},
                 {"key": "redesign", "value": "green", "split": 0.5}],
    "rollout": [{"rollout_percentage": 1}]}}]}`

var checkout = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout-redesign" }}<button class="pay {{ .Color }}">Pay</button>`))

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(out io.Writer) error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Mixpanel's flags API, faked. In production: no WithLocalEvaluation
	// (the SDK's defaults reach Mixpanel), and your project token.
	api, err := flagstest.NewServer([]byte(definitions))
	if err != nil {
		return err
	}
	defer api.Close()
	provider, err := mixpanelflags.NewProvider(api.Token(), mixpanelflags.WithLocalEvaluation(api.LocalConfig()))
	if err != nil {
		return err
	}

	// Exposures as JSON lines shaped like Mixpanel's events; in production,
	// mixpanel.NewSink(token).
	lines, err := exposure.NewWriterSink(out)
	if err != nil {
		return err
	}
	tracker, err := exposure.NewTracker(exposure.WithSink(lines), exposure.WithLogger(logger))
	if err != nil {
		return err
	}

	of := isolated.NewAPI() // or the global openfeature API
	if err := of.SetProviderAndWait(ctx, provider); err != nil {
		return err
	}
	defer func() { _ = of.Shutdown(ctx) }()
	of.AddHooks(tracker.Hook())
	flags := of.NewClient()

	mux := http.NewServeMux()
	color := func(r *http.Request) string {
		v, _ := flags.StringValue(r.Context(), "checkout-redesign", "grey",
			openfeature.NewEvaluationContext(r.URL.Query().Get("user"), map[string]any{"plan": "pro"}))
		return v
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		color(r) // evaluated to prefetch; not drawn on this page
		fmt.Fprint(w, "<h1>Shop</h1>")
	})
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		if err := checkout.Execute(w, map[string]any{"Ctx": r.Context(), "Color": color(r)}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	app := tracker.Middleware(mux)

	for _, step := range []struct{ title, path string }{
		{"home page: the flag is evaluated, nothing is sent", "/?user=u-2"},
		{"checkout page: the variant is rendered, one exposure", "/checkout?user=u-2"},
		{"checkout page again: a refresh, nothing new", "/checkout?user=u-2"},
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
	s := tracker.Stats()
	fmt.Fprintf(out, "\nassignments=%d committed=%d duplicates=%d; Mixpanel flags API: %d definitions download(s), %d event(s) received\n",
		s.Counts[exposure.StageAssigned], s.Counts[exposure.StageCommitted], s.Counts[exposure.StageDuplicate],
		api.Requests()[flagstest.EndpointDefinitions], len(api.Ingested()))
	return nil
}
