// Command unleash runs an Unleash experiment (a toggle with variants)
// behind OpenFeature and counts a user as exposed only when the variant is
// rendered, offline: a stand-in Unleash server runs in-process on the
// loopback interface, requests are served in-process, and exposures are
// printed on stdout.
//
//	go run .
//
// It walks one user through the shop: the home page evaluates the toggle
// (an assignment: nothing is sent anywhere), the checkout page renders the
// variant (one exposure to Mixpanel, printed as a JSON line; in Unleash one
// impression event and one count of the variant in the usage metrics the
// SDK posts), and a refresh of the checkout page sends nothing new.
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
	"sort"
	"strings"
	"sync"
	"time"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/unleash"
)

// features is what the Unleash client API serves: a toggle with two
// variants, with impression data on.
const features = `{
  "version": 2,
  "features": [{
    "name": "checkout-redesign",
    "type": "experiment",
    "enabled": true,
    "impressionData": true,
    "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "default", "groupId": "checkout-redesign"}}],
    "variants": [
      {"name": "control", "weight": 500, "weightType": "variable", "stickiness": "default", "payload": {"type": "string", "value": "classic"}},
      {"name": "redesign", "weight": 500, "weightType": "variable", "stickiness": "default", "payload": {"type": "string", "value": "modern"}}
    ]
  }]
}`

// metricsInterval is how often the exposure client posts usage metrics
// (Unleash's default is a minute).
const metricsInterval = 100 * time.Millisecond

var checkout = template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
	`{{ exposed .Ctx "checkout-redesign" }}<button class="pay {{ .Variant }}">Pay</button>`))

// lockedWriter serializes writes: the sinks and the SDK's listener write
// from goroutines of their own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fakeUnleash is a stand-in Unleash server: it serves the toggles and
// prints the usage metrics SDKs post.
func fakeUnleash(out io.Writer) (*httptest.Server, <-chan struct{}) {
	posted := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/client/features":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, features)
		case "/client/register":
			w.WriteHeader(http.StatusAccepted)
		case "/client/metrics":
			var m struct {
				Bucket struct {
					Toggles map[string]struct {
						Yes      int            `json:"yes"`
						Variants map[string]int `json:"variants"`
					} `json:"toggles"`
				} `json:"bucket"`
			}
			if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for name, c := range m.Bucket.Toggles {
				var vs []string
				for v, n := range c.Variants {
					vs = append(vs, fmt.Sprintf("%s=%d", v, n))
				}
				sort.Strings(vs)
				fmt.Fprintf(out, "unleash server: metrics received: %s yes=%d variants[%s]\n", name, c.Yes, strings.Join(vs, " "))
			}
			w.WriteHeader(http.StatusAccepted)
			posted <- struct{}{}
		default:
			http.NotFound(w, r)
		}
	}))
	return srv, posted
}

// impressions prints the exposure client's impression events; it is the
// kind of listener that forwards them to an analytics tool.
type impressions struct {
	unleashsdk.NoopListener
	out   io.Writer
	ready chan struct{}
	once  sync.Once
}

func (l *impressions) OnReady() { l.once.Do(func() { close(l.ready) }) }

func (l *impressions) OnImpression(e unleashsdk.ImpressionEvent) {
	fmt.Fprintf(l.out, "unleash: impression event %s %s variant=%s user=%s\n", e.EventType, e.FeatureName, e.Variant, e.Context.UserId)
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer) error {
	out := &lockedWriter{w: w}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, metricsPosted := fakeUnleash(out)
	defer srv.Close()
	// Each client keeps its own backup of the toggles.
	var backups [2]string
	for i := range backups {
		dir, err := os.MkdirTemp("", "unleash-example-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		backups[i] = dir
	}

	common := []unleashsdk.ConfigOption{
		unleashsdk.WithUrl(srv.URL),
		unleashsdk.WithAppName("shop"),
	}

	// The provider's client: metrics off, no impression listener.
	provider, err := unleash.NewProvider(unleash.WithClientOptions(append(common, unleashsdk.WithBackupPath(backups[0]))...))
	if err != nil {
		return err
	}

	// A regular client, for the Sink: it counts the rendered variant in its
	// usage metrics and emits impression events.
	imps := &impressions{out: out, ready: make(chan struct{})}
	exposureClient, err := unleashsdk.NewClient(append(common,
		unleashsdk.WithBackupPath(backups[1]),
		unleashsdk.WithMetricsInterval(metricsInterval),
		unleashsdk.WithListener(imps),
	)...)
	if err != nil {
		return err
	}
	defer exposureClient.Close()
	select {
	case <-imps.ready:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("the exposure client did not fetch its toggles")
	}
	unleashSink, err := unleash.NewSink(provider, exposureClient, unleash.WithLogger(logger))
	if err != nil {
		return err
	}

	lines, err := exposure.NewWriterSink(out) // Mixpanel-shaped JSON lines
	if err != nil {
		return err
	}
	tracker, err := exposure.NewTracker(
		exposure.WithSink(lines),
		exposure.WithSink(unleashSink),
		exposure.WithLogger(logger),
	)
	if err != nil {
		return err
	}

	api := isolated.NewAPI()
	initCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := api.SetProviderAndWait(initCtx, provider); err != nil {
		return err
	}
	defer func() { _ = api.Shutdown(ctx) }()
	api.AddHooks(tracker.Hook())
	flags := api.NewClient()

	mux := http.NewServeMux()
	variant := func(r *http.Request) string {
		v, _ := flags.StringValue(r.Context(), "checkout-redesign", "classic",
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

	for _, step := range []struct {
		title, path string
		counted     bool // Unleash counts this step in its usage metrics
	}{
		{"home page: the toggle is evaluated, nothing is sent", "/?user=alice", false},
		{"checkout page: the variant is rendered, one exposure", "/checkout?user=alice", true},
		{"checkout page again: a refresh, nothing new", "/checkout?user=alice", false},
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
		// Give the SDK time for its next metrics posts, where Unleash would
		// see any count: only the render is counted.
		select {
		case <-metricsPosted:
			if !step.counted {
				return fmt.Errorf("unleash counted %s", step.path)
			}
		case <-time.After(3 * metricsInterval):
			if step.counted {
				return fmt.Errorf("no metrics post from the exposure client")
			}
		}
	}

	// The Tracker closes before the Unleash client it delivers through.
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := tracker.Close(closeCtx); err != nil {
		return err
	}
	s, u := tracker.Stats(), unleashSink.Stats()
	fmt.Fprintf(out, "\nassignments=%d committed=%d duplicates=%d; unleash sink: sent=%d mismatched=%d skipped=%d\n",
		s.Counts[exposure.StageAssigned], s.Counts[exposure.StageCommitted], s.Counts[exposure.StageDuplicate],
		u.Sent, u.Mismatched, u.Skipped)
	return nil
}
