// Command statsig runs a Statsig experiment behind OpenFeature and counts a
// user as exposed only when the variant is rendered, offline: the Statsig
// API is an in-process fake (statsigtest) serving the rules below, requests
// are served in-process, and what would be sent is printed on stdout.
//
//	go run .
//
// It walks one user through the shop: the home page reads the experiment's
// parameter (an assignment: nothing is logged anywhere), the checkout page
// renders it (one exposure to Mixpanel, printed as a JSON line, and one
// Statsig manual exposure), and a refresh of the checkout page sends
// nothing new.
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

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/statsig"
	"github.com/exposurekit/exposure/providers/statsig/statsigtest"
)

// rules is what the Statsig API would serve: the experiment
// checkout_redesign, half of the users in Control, half in Test.
const rules = `{
  "dynamic_configs": [{
    "name": "checkout_redesign", "type": "dynamic_config", "entity": "experiment", "isActive": true,
    "salt": "7c1f3d0e", "enabled": true, "idType": "userID",
    "defaultValue": {"button_color": "grey"},
    "rules": [
      {"name": "control", "id": "5Yy1mVhHd3W7Lr2KcXa9Qe", "groupName": "Control", "isExperimentGroup": true,
       "salt": "5Yy1mVhHd3W7Lr2KcXa9Qe", "passPercentage": 100, "idType": "userID", "returnValue": {"button_color": "grey"},
       "conditions": [{"type": "user_bucket", "operator": "lt", "targetValue": 500, "idType": "userID", "additionalValues": {"salt": "7c1f3d0e"}}]},
      {"name": "test", "id": "5Yy1mXq4Zb8Nf6PdTg3Hs1", "groupName": "Test", "isExperimentGroup": true,
       "salt": "5Yy1mXq4Zb8Nf6PdTg3Hs1", "passPercentage": 100, "idType": "userID", "returnValue": {"button_color": "green"},
       "conditions": [{"type": "user_bucket", "operator": "lt", "targetValue": 1000, "idType": "userID", "additionalValues": {"salt": "7c1f3d0e"}}]}
    ]
  }]
}`

// The flag key names the experiment and the parameter read.
const flag = "checkout_redesign.button_color"

var checkout = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout_redesign.button_color" }}<button class="pay {{ .Color }}">Pay</button>`))

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// lockedWriter serializes writes: the sinks write from goroutines of their
// own.
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

	api, err := statsigtest.NewServer([]byte(rules)) // the Statsig API, in-process
	if err != nil {
		return err
	}
	defer api.Close()

	// In production: statsig.NewProvider(os.Getenv("STATSIG_SERVER_SECRET"), &sdk.Options{...}).
	provider, err := statsig.NewProvider("secret-demo", api.Options())
	if err != nil {
		return err
	}
	sSink, err := statsig.NewSink(provider, statsig.WithLogger(logger))
	if err != nil {
		return err
	}

	lines, err := exposure.NewWriterSink(out) // Mixpanel-shaped JSON lines
	if err != nil {
		return err
	}
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: flag, Name: "Checkout Redesign"}),
		exposure.WithSink(lines),
		exposure.WithSink(sSink),
		exposure.WithLogger(logger),
	)
	if err != nil {
		return err
	}

	of := isolated.NewAPI()
	if err := of.SetProviderAndWait(ctx, provider); err != nil {
		return err
	}
	of.AddHooks(tracker.Hook())
	flags := of.NewClient()

	mux := http.NewServeMux()
	color := func(r *http.Request) string {
		v, _ := flags.StringValue(r.Context(), flag, "grey",
			openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil))
		return v
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		color(r) // read to prefetch; not drawn on this page
		fmt.Fprint(w, "<h1>Shop</h1>")
	})
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		if err := checkout.Execute(w, map[string]any{"Ctx": r.Context(), "Color": color(r)}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	app := tracker.Middleware(mux)

	for _, step := range []struct{ title, path string }{
		{"home page: the experiment is read, nothing is sent", "/?user=alice"},
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

	// Close the tracker, then the provider: the Statsig SDK posts what it
	// logged when it shuts down (and every Options.LoggingInterval before).
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := tracker.Close(closeCtx); err != nil {
		return err
	}
	if err := of.Shutdown(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out)
	for _, e := range api.Exposures() {
		fmt.Fprintf(out, "statsig: %s config=%s rule=%s user=%s manual=%s\n",
			e.Name, e.Metadata["config"], e.Metadata["ruleID"], e.UserID, e.Metadata["isManualExposure"])
	}
	s, ss := tracker.Stats(), sSink.Stats()
	fmt.Fprintf(out, "assignments=%d committed=%d duplicates=%d; statsig sink: logged=%d mismatched=%d skipped=%d\n",
		s.Counts[exposure.StageAssigned], s.Counts[exposure.StageCommitted], s.Counts[exposure.StageDuplicate],
		ss.Logged, ss.Mismatched, ss.Skipped)
	return nil
}
