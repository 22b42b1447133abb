// Package flagstest is a fake of Mixpanel's feature-flags API for tests and
// offline demos, built on net/http/httptest: it serves flag definitions to
// the SDK's local evaluation (GET /flags/definitions) and evaluates flags
// for its remote evaluation (GET /flags, one request per evaluation), with
// the request shapes of github.com/mixpanel/mixpanel-go/v2/flags: the
// project token in the query and as the basic-auth user, mp_lib and
// $lib_version in the query, and for /flags the flag context as JSON in
// "context" and the flag in "flag_key".
//
// The SDK always speaks HTTPS to a host name (flags.FlagsConfig.APIHost),
// so the fake serves TLS; [Server.LocalConfig] and [Server.RemoteConfig]
// hand the SDK the fake's host and an *http.Client that trusts it.
//
//	srv := flagstest.Start(t, definitionsJSON) // closed when the test ends
//	cfg := srv.LocalConfig()                   // or srv.RemoteConfig()
//	... // evaluate through the code under test
//	srv.Requests()["definitions"], srv.Ingested()
//
// Remote evaluation answers as Mixpanel's server does, by evaluating the
// same definitions with the SDK's own local evaluator (rollouts, variant
// splits, runtime rules, QA testers), and lists only the flags the context
// is enrolled in.
//
// The fake is not an ingestion API: a request to /track, /import,
// /engage or /groups (what the SDK's exposure tracking would send) is
// answered 403 and recorded ([Server.Ingested]); with [Start], it also
// fails the test at once.
package flagstest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mixpanel/mixpanel-go/v2/flags"

	"github.com/exposurekit/exposure"
)

// DefaultToken is the project token the fake accepts unless told another.
const DefaultToken = "flagstest-token"

// Request endpoint names, the keys of [Server.Requests].
const (
	EndpointDefinitions = "definitions" // GET /flags/definitions (local evaluation)
	EndpointFlags       = "flags"       // GET /flags (remote evaluation)
	EndpointIngest      = "ingest"      // /track, /import, /engage, /groups: refused
	EndpointOther       = "other"       // anything else: 404
)

// Evaluation is one remote evaluation request as the SDK sent it.
type Evaluation struct {
	// FlagKey is the "flag_key" query parameter ("" for all flags).
	FlagKey string
	// Context is the decoded "context" query parameter: distinct_id,
	// device_id, custom_properties, ...
	Context map[string]any
}

// Ingest is a refused request to an ingestion endpoint.
type Ingest struct {
	Method, Path string
	Body         string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL (https://127.0.0.1:port).
	URL string
	// Host is the host and port, for flags.FlagsConfig.APIHost.
	Host string

	srv   *httptest.Server
	token string
	tb    testing.TB

	mu          sync.Mutex
	definitions []byte
	eval        *flags.LocalFeatureFlagsProvider
	down        bool
	requests    map[string]int
	evaluations []Evaluation
	ingested    []Ingest
}

// NewServer starts a fake with the project token [DefaultToken] serving
// definitions, a /flags/definitions response: a JSON object with a
// "flags" list of flag definitions (flags.ExperimentationFlag). Definitions
// the SDK cannot decode are an error wrapping exposure.ErrInvalidConfig,
// and no server is started. Close the server when done.
func NewServer(definitions []byte) (*Server, error) {
	s := &Server{token: DefaultToken, requests: make(map[string]int)}
	if err := s.SetDefinitions(definitions); err != nil {
		return nil, fmt.Errorf("%w: flagstest.NewServer: %w", exposure.ErrInvalidConfig, err)
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	s.Host = strings.TrimPrefix(s.srv.URL, "https://")
	return s, nil
}

// Start is NewServer for a test: it fails tb at once when the definitions
// are invalid or when anything posts to an ingestion endpoint, and closes
// the server when the test ends.
func Start(tb testing.TB, definitions []byte) *Server {
	tb.Helper()
	s, err := NewServer(definitions)
	if err != nil {
		tb.Fatalf("flagstest.Start: %v", err)
	}
	s.tb = tb
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Token returns the project token the fake accepts.
func (s *Server) Token() string { return s.token }

// Client returns an *http.Client that trusts the fake's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// FlagsConfig returns the SDK settings that reach this fake only.
func (s *Server) FlagsConfig() flags.FlagsConfig {
	return flags.FlagsConfig{APIHost: s.Host, HTTPClient: s.Client()}
}

// LocalConfig returns a local-evaluation config for this fake, polling
// enabled at the SDK's default interval; adjust the copy as needed.
func (s *Server) LocalConfig() flags.LocalFlagsConfig {
	c := flags.DefaultLocalFlagsConfig()
	c.FlagsConfig = s.FlagsConfig()
	return c
}

// RemoteConfig returns a remote-evaluation config for this fake.
func (s *Server) RemoteConfig() flags.RemoteFlagsConfig {
	return flags.RemoteFlagsConfig{FlagsConfig: s.FlagsConfig()}
}

// SetDefinitions replaces the flag definitions: local evaluation picks
// them up at its next poll, remote evaluation at once.
func (s *Server) SetDefinitions(definitions []byte) error {
	var probe struct {
		Flags []flags.ExperimentationFlag `json:"flags"`
	}
	if err := json.Unmarshal(definitions, &probe); err != nil {
		return fmt.Errorf("flagstest: definitions are not a {\"flags\": [...]} object: %w", err)
	}
	if probe.Flags == nil {
		return fmt.Errorf(`flagstest: definitions have no "flags" list`)
	}
	// The remote answers come from the SDK's own evaluator, fed in process.
	body := bytes.Clone(definitions)
	cfg := flags.DefaultLocalFlagsConfig()
	cfg.EnablePolling = false
	cfg.HTTPClient = &http.Client{Transport: staticDefinitions(body)}
	eval := flags.NewLocalFeatureFlagsProvider(DefaultToken, "flagstest", cfg, nil)
	if err := eval.StartPollingForDefinitions(context.Background()); err != nil {
		return fmt.Errorf("flagstest: the SDK cannot load the definitions: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.definitions, s.eval = body, eval
	return nil
}

// SetDown makes every flags API request fail with 503 (the backend is
// down) until SetDown(false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Requests returns how many requests each endpoint got, by the Endpoint*
// names; failed and refused requests count too.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// Evaluations returns the remote evaluation requests answered so far.
func (s *Server) Evaluations() []Evaluation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Evaluation(nil), s.evaluations...)
}

// Ingested returns the refused ingestion requests: an exposure or any
// other event the code under test tried to send through this API.
func (s *Server) Ingested() []Ingest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ingest(nil), s.ingested...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/flags/definitions":
		s.count(EndpointDefinitions)
		if s.refuse(w, r) {
			return
		}
		s.mu.Lock()
		body := s.definitions
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	case "/flags":
		s.count(EndpointFlags)
		if s.refuse(w, r) {
			return
		}
		s.evaluate(w, r)
	case "/track", "/import", "/engage", "/groups":
		s.count(EndpointIngest)
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		s.ingested = append(s.ingested, Ingest{Method: r.Method, Path: r.URL.Path, Body: string(body)})
		s.mu.Unlock()
		msg := fmt.Sprintf("flagstest: %s %s refused: this is the flags API, and flag evaluation must send no event (body %.200s)", r.Method, r.URL.Path, body)
		if s.tb != nil {
			s.tb.Errorf("%s", msg)
		}
		http.Error(w, msg, http.StatusForbidden)
	default:
		s.count(EndpointOther)
		http.NotFound(w, r)
	}
}

func (s *Server) count(endpoint string) {
	s.mu.Lock()
	s.requests[endpoint]++
	s.mu.Unlock()
}

// refuse answers a request the real API would refuse: the backend is
// down, the method is not GET, the token is missing or wrong (it must be
// both the "token" query parameter and the basic-auth user, as the SDK
// sends it), or mp_lib is missing.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	q := r.URL.Query()
	user, _, hasAuth := basicAuth(r)
	switch {
	case down:
		http.Error(w, `{"error":"flagstest: backend down"}`, http.StatusServiceUnavailable)
	case r.Method != http.MethodGet:
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
	case !hasAuth || !equal(user, s.token) || !equal(q.Get("token"), s.token):
		http.Error(w, `{"error":"invalid project token"}`, http.StatusUnauthorized)
	case q.Get("mp_lib") == "":
		http.Error(w, `{"error":"mp_lib is required"}`, http.StatusBadRequest)
	default:
		return false
	}
	return true
}

func basicAuth(r *http.Request) (user, pass string, ok bool) {
	h := r.Header.Get("Authorization")
	enc, found := strings.CutPrefix(h, "Basic ")
	if !found {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// evaluate answers GET /flags: {"code": 200, "flags": {key: variant}} with
// the flags the context is enrolled in.
func (s *Server) evaluate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var fc map[string]any
	if err := json.Unmarshal([]byte(q.Get("context")), &fc); err != nil || fc == nil {
		http.Error(w, `{"error":"context must be a JSON object"}`, http.StatusBadRequest)
		return
	}
	key := q.Get("flag_key")
	s.mu.Lock()
	s.evaluations = append(s.evaluations, Evaluation{FlagKey: key, Context: fc})
	eval := s.eval
	s.mu.Unlock()

	out := map[string]*flags.SelectedVariant{}
	if key != "" {
		if v, ok := enrolled(eval, key, fc); ok {
			out[key] = v
		}
	} else {
		all, _ := eval.GetAllVariants(r.Context(), fc)
		for k, v := range all {
			v.VariantSource, v.FallbackReason = "", ""
			out[k] = &v
		}
	}
	b, err := json.Marshal(map[string]any{"code": http.StatusOK, "flags": out})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func enrolled(eval *flags.LocalFeatureFlagsProvider, key string, fc map[string]any) (*flags.SelectedVariant, bool) {
	v, err := eval.GetVariant(context.Background(), key, flags.SelectedVariant{}, fc, false)
	if err != nil || v.VariantSource == flags.VariantSourceFallback || v.VariantKey == nil {
		return nil, false
	}
	// The server does not say where a variant came from: the SDK sets it.
	v.VariantSource, v.FallbackReason = "", ""
	return &v, true
}

// staticDefinitions serves the definitions to the fake's own evaluator
// without a network.
type staticDefinitions []byte

func (d staticDefinitions) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	if r.URL.Path != "/flags/definitions" {
		return nil, fmt.Errorf("flagstest: unexpected in-process request %s", (&url.URL{Path: r.URL.Path}).String())
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(d)),
		Request:    r,
	}, nil
}
