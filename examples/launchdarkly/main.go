// Command launchdarkly runs a LaunchDarkly experiment behind OpenFeature and
// counts a user as exposed only when the variant is rendered, offline: flag
// data comes from the SDK's test data source, LaunchDarkly's event intake is
// an in-process server, requests are served in-process, and what would be
// sent is printed on stdout.
//
//	go run .
//
// It walks one user through the shop: the home page evaluates the
// experiment flag (an assignment: nothing is sent anywhere), the checkout
// page renders the variant (one exposure to Mixpanel, printed as a JSON
// line, and one LaunchDarkly evaluation event), and a refresh of the
// checkout page sends nothing new.
package main

import (
	"context"
	"encoding/json"
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

	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldbuilders"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/launchdarkly/go-server-sdk/v7/testhelpers/ldtestdata"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/launchdarkly"
)

// checkoutFlag is the flag as LaunchDarkly would serve it: an experiment on
// the fallthrough, half "control" (variation 0), half "redesign" (1).
func checkoutFlag() ldbuilders.FlagBuilder {
	return *ldbuilders.NewFlagBuilder("checkout-redesign").Version(1).On(true).
		Variations(ldvalue.String("control"), ldvalue.String("redesign")).
		OffVariation(0).
		Fallthrough(ldbuilders.Experiment(ldvalue.NewOptionalInt(61),
			ldbuilders.Bucket(0, 50000), ldbuilders.Bucket(1, 50000)))
}

// LaunchDarkly's server-side flag data has no variation names: give them.
var names = []launchdarkly.Option{
	launchdarkly.WithExperimentNames(map[string]string{"checkout-redesign": "Checkout Redesign"}),
	launchdarkly.WithVariationNames(map[string]map[int]string{"checkout-redesign": {0: "Control", 1: "Redesign"}}),
}

var checkout = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout-redesign" }}<button class="pay {{ .Variant }}">Pay</button>`))

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// lockedWriter serializes writes: the sinks and the event intake write from
// goroutines of their own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// eventIntake stands in for LaunchDarkly's event service: it prints the
// evaluation events it receives.
func eventIntake(out io.Writer) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var events []map[string]any
		_ = json.NewDecoder(r.Body).Decode(&events)
		for _, e := range events {
			if e["kind"] != "feature" {
				continue // summary and index events
			}
			c, _ := e["context"].(map[string]any)
			reason, _ := e["reason"].(map[string]any)
			fmt.Fprintf(out, "launchdarkly: evaluation event flag=%v variation=%v value=%v context=%v inExperiment=%v\n",
				e["key"], e["variation"], e["value"], c["key"], reason["inExperiment"])
		}
		w.WriteHeader(http.StatusAccepted)
	}))
}

func newClient(td *ldtestdata.TestDataSource, eventsURL string, events bool) (*ldclient.LDClient, error) {
	cfg := ldclient.Config{
		DataSource:       td,
		Events:           ldcomponents.NoEvents(),
		Logging:          ldcomponents.NoLogging(),
		DiagnosticOptOut: true,
		ServiceEndpoints: ldcomponents.RelayProxyEndpoints(eventsURL),
	}
	if events {
		cfg.Events = ldcomponents.SendEvents()
	}
	return ldclient.MakeCustomClient("sdk-demo-key", cfg, 5*time.Second)
}

func run(w io.Writer) error {
	out := &lockedWriter{w: w}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	intake := eventIntake(out)
	defer intake.Close()
	td := ldtestdata.DataSource()
	flag := checkoutFlag()
	td.UsePreconfiguredFlag(flag.Build())

	// Two clients over the same flag data: one with events off for
	// evaluations, one with events on for the render-time exposure.
	evalClient, err := newClient(td, intake.URL, false)
	if err != nil {
		return err
	}
	provider, err := launchdarkly.NewProvider(evalClient, names...) // closes evalClient at shutdown
	if err != nil {
		return err
	}
	sinkClient, err := newClient(td, intake.URL, true)
	if err != nil {
		return err
	}
	defer sinkClient.Close()
	ldSink, err := launchdarkly.NewSink(provider, sinkClient, launchdarkly.WithLogger(logger)) // names variations as provider does
	if err != nil {
		return err
	}

	lines, err := exposure.NewWriterSink(out) // Mixpanel-shaped JSON lines
	if err != nil {
		return err
	}
	tracker, err := exposure.NewTracker(
		exposure.WithSink(lines),
		exposure.WithSink(ldSink),
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
		// Deliver now, for the demo; the LaunchDarkly sink waits until its
		// event is posted.
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
	s, ls := tracker.Stats(), ldSink.Stats()
	fmt.Fprintf(out, "\nassignments=%d committed=%d duplicates=%d; launchdarkly sink: sent=%d mismatched=%d skipped=%d\n",
		s.Counts[exposure.StageAssigned], s.Counts[exposure.StageCommitted], s.Counts[exposure.StageDuplicate],
		ls.Sent, ls.Mismatched, ls.Skipped)
	return nil
}
