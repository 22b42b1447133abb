// Package statsigtest is a fake of the Statsig API for tests and offline
// demos, built on net/http/httptest: it serves the config specs (rules) it
// is given to the Statsig server SDK and records what the SDK logs.
//
//	srv := statsigtest.Start(t, specsJSON) // closed when the test ends
//	provider, _ := statsig.NewProvider("secret-test", srv.Options())
//	... // run the code under test, shut the provider down to flush
//	exposures := srv.Exposures()
package statsigtest

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	sdk "github.com/statsig-io/go-sdk"

	"github.com/exposurekit/exposure"
)

// Event is one event the SDK logged.
type Event struct {
	// Name is the event name, such as "statsig::config_exposure".
	Name string
	// UserID is the logged user's id.
	UserID string
	// Metadata is the event's metadata: for exposures, "config" or "gate",
	// "ruleID", and "isManualExposure" when logged manually.
	Metadata map[string]string
	// Raw is the event's JSON as received.
	Raw json.RawMessage
}

// IsExposure reports whether the event is a gate, config or layer exposure.
func (e Event) IsExposure() bool {
	return strings.HasPrefix(e.Name, "statsig::") && strings.HasSuffix(e.Name, "_exposure")
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API base URL, for sdk.Options.API.
	URL string

	srv        *httptest.Server
	mu         sync.Mutex
	specs      map[string]any
	time       int64
	events     []Event
	exceptions int
	requests   map[string]int
}

// NewServer starts a fake serving specs, a download_config_specs
// response: a JSON object with "feature_gates", "dynamic_configs" and
// "layer_configs" (missing lists are served empty). Specs that are not a
// JSON object are an error wrapping exposure.ErrInvalidConfig, and no
// server is started. Close the server when done.
func NewServer(specs []byte) (*Server, error) {
	s := &Server{requests: make(map[string]int)}
	if err := s.SetSpecs(specs); err != nil {
		return nil, fmt.Errorf("%w: statsigtest.NewServer: %w", exposure.ErrInvalidConfig, err)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s, nil
}

// Start is NewServer for a test: it fails tb at once when specs are
// invalid, and closes the server when the test ends.
func Start(tb testing.TB, specs []byte) *Server {
	tb.Helper()
	s, err := NewServer(specs)
	if err != nil {
		tb.Fatalf("statsigtest.Start: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// SetSpecs replaces the rules served; the SDK picks them up at its next
// sync (sdk.Options.ConfigSyncInterval).
func (s *Server) SetSpecs(specs []byte) error {
	var m map[string]any
	if err := json.Unmarshal(specs, &m); err != nil {
		return fmt.Errorf("statsigtest: specs are not a JSON object: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.time++
	m["has_updates"] = true
	m["time"] = s.time
	for _, k := range []string{"feature_gates", "dynamic_configs", "layer_configs"} {
		if _, ok := m[k]; !ok {
			m[k] = []any{}
		}
	}
	s.specs = m
	return nil
}

// Options returns SDK options that talk to this server only, without the
// SDK's diagnostics, IP and user-agent lookups and console output. Adjust
// the copy as needed (ConfigSyncInterval, LoggingInterval, ...).
func (s *Server) Options() *sdk.Options {
	return &sdk.Options{
		API:                  s.URL,
		IPCountryOptions:     sdk.IPCountryOptions{Disabled: true},
		UAParserOptions:      sdk.UAParserOptions{Disabled: true},
		StatsigLoggerOptions: sdk.StatsigLoggerOptions{DisableInitDiagnostics: true, DisableSyncDiagnostics: true, DisableApiDiagnostics: true},
		OutputLoggerOptions:  sdk.OutputLoggerOptions{LogCallback: func(string, error) {}},
	}
}

// Events returns every event logged so far, in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Exposures returns the exposure events logged so far, in order.
func (s *Server) Exposures() []Event {
	var out []Event
	for _, e := range s.Events() {
		if e.IsExposure() {
			out = append(out, e)
		}
	}
	return out
}

// Exceptions returns how many exceptions the SDK reported (sdk_exception).
func (s *Server) Exceptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exceptions
}

// Requests returns how many requests each endpoint got, by last path
// element ("log_event", "download_config_specs", ...).
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	endpoint := r.URL.Path
	switch {
	case strings.Contains(endpoint, "download_config_specs"):
		endpoint = "download_config_specs"
	default:
		endpoint = endpoint[strings.LastIndex(endpoint, "/")+1:]
	}
	s.mu.Lock()
	s.requests[endpoint]++
	s.mu.Unlock()

	switch endpoint {
	case "download_config_specs":
		since, _ := strconv.ParseInt(r.URL.Query().Get("sinceTime"), 10, 64)
		s.mu.Lock()
		body := any(s.specs)
		if since >= s.time {
			body = map[string]any{"has_updates": false, "time": s.time}
		}
		b, _ := json.Marshal(body)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	case "get_id_lists":
		_, _ = w.Write([]byte("{}"))
	case "log_event":
		s.logEvent(w, r)
	case "sdk_exception":
		s.mu.Lock()
		s.exceptions++
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) logEvent(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	var in struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.NewDecoder(body).Decode(&in); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	evs := make([]Event, 0, len(in.Events))
	for _, raw := range in.Events {
		var e struct {
			EventName string `json:"eventName"`
			User      struct {
				UserID string `json:"userID"`
			} `json:"user"`
			Metadata map[string]string `json:"metadata"`
		}
		_ = json.Unmarshal(raw, &e)
		evs = append(evs, Event{Name: e.EventName, UserID: e.User.UserID, Metadata: e.Metadata, Raw: raw})
	}
	s.mu.Lock()
	s.events = append(s.events, evs...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"success":true}`))
}
