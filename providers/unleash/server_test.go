package unleash_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// toggleCount is one toggle of a metrics post, as the SDK sends it.
type toggleCount struct {
	Yes      int32            `json:"yes"`
	No       int32            `json:"no"`
	Variants map[string]int32 `json:"variants"`
}

type metricsPost struct {
	AppName    string `json:"appName"`
	InstanceID string `json:"instanceId"`
	Bucket     struct {
		Toggles map[string]toggleCount `json:"toggles"`
	} `json:"bucket"`
}

// server is a local Unleash: it serves the client features API from
// testdata and records every registration and metrics post.
type server struct {
	*httptest.Server
	features []byte

	mu        sync.Mutex
	metrics   []metricsPost
	registers []string // instance ids
	posted    chan struct{}
}

func newServer(t testing.TB) *server {
	t.Helper()
	features, err := os.ReadFile("testdata/features.json")
	require.NoError(t, err)
	s := &server{features: features, posted: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/client/features":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.features)
	case r.Method == http.MethodPost && r.URL.Path == "/client/register":
		s.mu.Lock()
		s.registers = append(s.registers, r.Header.Get("UNLEASH-INSTANCEID"))
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && r.URL.Path == "/client/metrics":
		var m metricsPost
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.metrics = append(s.metrics, m)
		s.mu.Unlock()
		s.posted <- struct{}{}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// counts sums the toggle counts of every metrics post from instance.
func (s *server) counts(instance string) map[string]toggleCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]toggleCount{}
	for _, m := range s.metrics {
		if m.InstanceID != instance {
			continue
		}
		for name, c := range m.Bucket.Toggles {
			sum := out[name]
			sum.Yes += c.Yes
			sum.No += c.No
			for v, n := range c.Variants {
				if sum.Variants == nil {
					sum.Variants = map[string]int32{}
				}
				sum.Variants[v] += n
			}
			out[name] = sum
		}
	}
	return out
}

// postsFrom counts the registrations and metrics posts of instance.
func (s *server) postsFrom(instance string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range s.registers {
		if id == instance {
			n++
		}
	}
	for _, m := range s.metrics {
		if m.InstanceID == instance {
			n++
		}
	}
	return n
}

// waitMetrics waits for the next metrics post.
func (s *server) waitMetrics(t testing.TB) {
	t.Helper()
	select {
	case <-s.posted:
	case <-time.After(5 * time.Second):
		t.Fatal("no metrics post within 5s")
	}
}

// impressions is a listener for a regular Unleash client that records its
// impression events.
type impressions struct {
	unleashsdk.NoopListener
	mu     sync.Mutex
	events []unleashsdk.ImpressionEvent
	ready  chan struct{}
	once   sync.Once
}

func newImpressions() *impressions { return &impressions{ready: make(chan struct{})} }

func (l *impressions) OnImpression(e unleashsdk.ImpressionEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *impressions) OnReady() { l.once.Do(func() { close(l.ready) }) }

func (l *impressions) all() []unleashsdk.ImpressionEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]unleashsdk.ImpressionEvent(nil), l.events...)
}

const exposureInstance = "exposure-client"

// newExposureClient is a regular Unleash client with metrics posted every
// 20ms, for the Sink.
func newExposureClient(t testing.TB, s *server, l *impressions) *unleashsdk.Client {
	t.Helper()
	c, err := unleashsdk.NewClient(
		unleashsdk.WithUrl(s.URL),
		unleashsdk.WithAppName("shop"),
		unleashsdk.WithInstanceId(exposureInstance),
		unleashsdk.WithBackupPath(t.TempDir()),
		unleashsdk.WithMetricsInterval(20*time.Millisecond),
		unleashsdk.WithRefreshInterval(time.Hour),
		unleashsdk.WithListener(l),
	)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	select {
	case <-l.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("exposure client not ready")
	}
	return c
}
