// Package mixpaneltest is a fake of Mixpanel's ingestion API (/import and
// /track) for tests, built on net/http/httptest.
//
// It enforces the rules Mixpanel documents for /import: authentication
// (the project token as the basic-auth user, or a service account with
// project_id), gzip or plain bodies, JSON arrays or NDJSON, at most 2000
// events and a byte cap on the uncompressed body (413), and per-event
// validation answered with 400 and failed_records while the valid events
// are kept. It deduplicates on (event, distinct_id, time, $insert_id) as
// Mixpanel does, injects faults (status sequences, a failure probability,
// delays, dropped connections) and records what it stored and saw.
//
//	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok")) // closed when the test ends
//	sink, err := mixpanel.NewSink(srv.Token(), mixpanel.WithEndpoint(srv.URL))
//	... // run the code under test
//	events := srv.Events()
//
// Where Mixpanel's documentation is silent or inconsistent the fake picks
// the stricter reading: a request over 2000 events is answered 413 like one
// over the byte cap; the byte cap defaults to 2 MiB (older pages say 2MB,
// newer ones 10MB: raise it with [WithMaxBytes] to model the latter); an event
// needs fewer than 255 properties, and a property name over 255 bytes is
// refused; distinct_id is required but may be "";
// the placeholder list (see [Blocked]) is matched case-insensitively and
// also applies to $insert_id; /track answers 401 for a wrong token and 400
// for an invalid event, refusing the whole request.
package mixpaneltest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exposurekit/exposure/internal/options"
)

// Mixpanel's documented limits, the fake's defaults.
const (
	DefaultMaxEvents = 2000
	DefaultMaxBytes  = 2 << 20
	// MaxEventBytes is the largest event Mixpanel accepts (1 MB of JSON).
	MaxEventBytes = 1 << 20
	// MaxProperties: an event must have fewer than 255 properties.
	MaxProperties = 254
	// MaxStringBytes: longer string values are truncated, not refused.
	MaxStringBytes = 255
	// MaxPropertyNameBytes is the longest property name Mixpanel
	// documents; the fake refuses an event with a longer one (Mixpanel
	// documents no behaviour for it: the stricter reading).
	MaxPropertyNameBytes = 255
	// MaxIDBytes is the longest distinct_id Mixpanel accepts.
	MaxIDBytes = 255
)

// Fault is a misbehaviour injected into one request.
type Fault struct {
	// Status, when non-zero, is answered instead of processing the request
	// (nothing is stored), with Mixpanel's error body for that status.
	Status int
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter time.Duration
	// Delay holds the answer back. With Status 0 the request is processed
	// normally after the delay, whether or not the client still waits: a
	// client that timed out resends events that were stored.
	Delay time.Duration
	// Drop closes the connection without an answer, before processing.
	Drop bool
	// DropAfterStore stores the events, then closes the connection without
	// an answer.
	DropAfterStore bool
}

func (f Fault) String() string {
	var parts []string
	if f.Status != 0 {
		parts = append(parts, strconv.Itoa(f.Status))
	}
	if f.RetryAfter > 0 {
		parts = append(parts, "retry-after="+f.RetryAfter.String())
	}
	if f.Delay > 0 {
		parts = append(parts, "delay="+f.Delay.String())
	}
	if f.Drop {
		parts = append(parts, "drop")
	}
	if f.DropAfterStore {
		parts = append(parts, "drop-after-store")
	}
	return strings.Join(parts, ",")
}

// Event is one stored event.
type Event struct {
	Name       string
	DistinctID string
	InsertID   string
	// Time is the event's time property (seconds or milliseconds).
	Time time.Time
	// Properties, decoded with json.Number for numbers; strings over 255
	// bytes are truncated as Mixpanel does.
	Properties map[string]any
	// Raw is the event's JSON as received.
	Raw json.RawMessage
}

// Request is one request the server saw.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	// Body is the uncompressed body (empty with [WithoutBodies]).
	Body []byte
	// Events is how many events the body held (0 when not parsed).
	Events int
	// Status is the status answered; 0 when the connection was dropped.
	Status int
	// Fault is the injected fault, if any.
	Fault string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, for mixpanel.WithEndpoint.
	URL string

	srv       *httptest.Server
	cfg       config
	closeOnce sync.Once

	mu         sync.Mutex
	events     storage
	seen       map[dedupeKey]struct{}
	duplicates int
	requests   []Request
	faults     []Fault
	rate       float64
	rateFaults []Fault
	rng        *rand.Rand
	delay      time.Duration
}

type stored struct {
	name, distinctID, insertID string
	timeMS                     int64
	raw                        []byte
}

// storage holds stored events in fixed-size chunks, so that a fake holding
// millions of events never copies them to grow.
type storage struct {
	chunks [][]stored
	n      int
}

const chunkLen = 8192

func (st *storage) add(ev stored) {
	if len(st.chunks) == 0 || len(st.chunks[len(st.chunks)-1]) == chunkLen {
		st.chunks = append(st.chunks, make([]stored, 0, chunkLen))
	}
	last := &st.chunks[len(st.chunks)-1]
	*last = append(*last, ev)
	st.n++
}

func (st *storage) all() []stored {
	out := make([]stored, 0, st.n)
	for _, c := range st.chunks {
		out = append(out, c...)
	}
	return out
}

type dedupeKey struct {
	name, distinctID, insertID string
	timeMS                     int64
}

// NewServer starts a fake. Close it when done. Without options it
// accepts the token "test-token" (see [Server.Token]) and enforces
// Mixpanel's limits. An option given a bad value returns an error wrapping
// exposure.ErrInvalidConfig; NewServer reports all of them, joined, and a
// nil option is an error.
func NewServer(opts ...Option) (*Server, error) {
	cfg := config{token: "test-token", maxEvents: DefaultMaxEvents, maxBytes: DefaultMaxBytes, now: time.Now, seed: 1}
	errs := options.Apply(&cfg, "mixpaneltest.NewServer", opts)
	if len(errs) == 1 {
		return nil, errs[0]
	}
	if len(errs) > 1 {
		return nil, errors.Join(errs...)
	}
	s := &Server{cfg: cfg, seen: make(map[dedupeKey]struct{}, 1024), rng: rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s, nil
}

// Start is NewServer for a test: it fails tb at once when an option is
// invalid, and closes the server when the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		tb.Fatalf("mixpaneltest.Start: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the server down, closing open connections. It may be called
// more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// Token is the project token the server accepts: "test-token" unless
// [WithToken] set another. A sink for this server is
//
//	mixpanel.NewSink(srv.Token(), mixpanel.WithEndpoint(srv.URL))
func (s *Server) Token() string { return s.cfg.token }

// Client is an HTTP client for this server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// InjectFaults queues faults applied to the next requests, one each, in
// order; a Fault{} lets a request through. They take precedence over the
// fault rate.
func (s *Server) InjectFaults(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// FailNext answers the next requests with these statuses, one each.
func (s *Server) FailNext(statuses ...int) {
	f := make([]Fault, len(statuses))
	for i, st := range statuses {
		f[i] = Fault{Status: st}
	}
	s.InjectFaults(f...)
}

// SetFaultRate makes each request, with probability p, suffer one of
// faults chosen at random (seeded by [WithSeed]). p = 1 with one fault is
// an outage; p = 0 ends it.
func (s *Server) SetFaultRate(p float64, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(faults) == 0 {
		p = 0
	}
	s.rate, s.rateFaults = p, append([]Fault(nil), faults...)
}

// SetDelay delays every answer by d (0 to stop).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Events returns the stored events, in the order they were stored, after
// deduplication.
func (s *Server) Events() []Event {
	s.mu.Lock()
	evs := s.events.all()
	s.mu.Unlock()
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{Name: e.name, DistinctID: e.distinctID, InsertID: e.insertID, Time: time.UnixMilli(e.timeMS), Raw: e.raw}
		var wire struct {
			Properties map[string]any `json:"properties"`
		}
		dec := json.NewDecoder(bytes.NewReader(e.raw))
		dec.UseNumber()
		if dec.Decode(&wire) == nil {
			for k, v := range wire.Properties {
				if str, ok := v.(string); ok && len(str) > MaxStringBytes {
					wire.Properties[k] = truncate(str)
				}
			}
			out[i].Properties = wire.Properties
		}
	}
	return out
}

// Len is the number of events stored (after deduplication).
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events.n
}

// InsertIDs returns the $insert_id of every stored event, in order.
func (s *Server) InsertIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, s.events.n)
	for _, e := range s.events.all() {
		ids = append(ids, e.insertID)
	}
	return ids
}

// Duplicates is how many valid events were received again and dropped by
// deduplication.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reset forgets stored events, requests and pending faults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events, s.requests, s.faults, s.duplicates = storage{}, nil, nil, 0
	s.seen = make(map[dedupeKey]struct{})
	s.rate, s.rateFaults = 0, nil
}

func (s *Server) nextFault() (Fault, bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		return f, f != Fault{}, s.delay
	}
	if s.rate > 0 && s.rng.Float64() < s.rate {
		return s.rateFaults[s.rng.IntN(len(s.rateFaults))], true, s.delay
	}
	return Fault{}, false, s.delay
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
	fault, faulty, delay := s.nextFault()
	if faulty {
		rec.Fault = fault.String()
	}
	// Read the whole body first, as a real server behind a proxy does.
	body, status, msg, release := s.readBody(r)
	defer release()
	if !s.cfg.discardBodies && status == 0 {
		rec.Body = body
	}
	if d := delay + fault.Delay; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			if fault.Status != 0 || fault.Drop { // nothing would be stored
				s.record(rec)
				return
			}
		}
	}
	if fault.Drop {
		s.record(rec)
		hijackClose(w)
		return
	}
	if fault.Status != 0 {
		if fault.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((fault.RetryAfter+time.Second-1)/time.Second)))
		}
		rec.Status = fault.Status
		s.record(rec)
		writeError(w, fault.Status, faultMessage(fault.Status))
		return
	}
	var resp response
	switch {
	case r.Method != http.MethodPost:
		resp = errorResponse(http.StatusMethodNotAllowed, "method not allowed, use POST")
	case r.URL.Path == "/import":
		resp = s.importEvents(r, body, status, msg, &rec)
	case r.URL.Path == "/track":
		resp = s.trackEvents(r, body, status, msg, &rec)
	default:
		resp = errorResponse(http.StatusNotFound, "not found")
	}
	if fault.DropAfterStore {
		s.record(rec)
		hijackClose(w)
		return
	}
	rec.Status = resp.status
	s.record(rec)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

type response struct {
	status int
	body   []byte
}

func errorResponse(status int, msg string) response {
	b, _ := json.Marshal(map[string]any{"code": status, "error": msg, "status": statusWord(status)})
	return response{status, b}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	resp := errorResponse(status, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(resp.body)
}

// statusWord is the "status" of Mixpanel's error bodies.
func statusWord(status int) string {
	switch status {
	case http.StatusOK:
		return "OK"
	case http.StatusRequestEntityTooLarge:
		return "Request Entity Too Large"
	default:
		return http.StatusText(status)
	}
}

func faultMessage(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Project exceeded rate limits. Please retry the request with exponential backoff."
	case http.StatusUnauthorized:
		return "Invalid credentials"
	case http.StatusForbidden:
		return "Forbidden"
	default:
		if status >= 500 {
			return "internal server error"
		}
		return http.StatusText(status)
	}
}

func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("mixpaneltest: connection cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// readBody returns the uncompressed body, or a status and message when it
// cannot be read or exceeds the byte cap.
func (s *Server) readBody(r *http.Request) (body []byte, status int, msg string, release func()) {
	release = func() {}
	var rd io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, http.StatusBadRequest, "unable to decompress gzip body", release
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Encoding %q", enc), release
	}
	// Read into a pooled scratch buffer. Stored events point into the body,
	// so it is copied unless the server keeps no JSON (WithoutBodies), in
	// which case the buffer goes back to the pool after the answer.
	buf := scratch.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(rd, int64(s.cfg.maxBytes)+1)); err != nil {
		scratch.Put(buf)
		return nil, http.StatusBadRequest, "unable to read body: " + err.Error(), release
	}
	if buf.Len() > s.cfg.maxBytes {
		scratch.Put(buf)
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request exceeds max limit of %d bytes", s.cfg.maxBytes), release
	}
	if s.cfg.discardBodies {
		return buf.Bytes(), 0, "", func() { scratch.Put(buf) }
	}
	body = bytes.Clone(buf.Bytes())
	scratch.Put(buf)
	return body, 0, "", release
}

var scratch = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// authorized checks /import's basic auth: the token with an empty
// password and no project_id, or a service account with its project_id.
func (s *Server) authorized(r *http.Request) (int, string) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return http.StatusUnauthorized, "Invalid credentials: use the project token or a service account as basic auth"
	}
	projectID := r.URL.Query().Get("project_id")
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	if s.cfg.saUser != "" && eq(user, s.cfg.saUser) && eq(pass, s.cfg.saSecret) {
		switch projectID {
		case "":
			return http.StatusUnauthorized, "project_id is required with service account auth"
		case s.cfg.projectID:
			return 0, ""
		default:
			return http.StatusForbidden, "service account has no access to project " + projectID
		}
	}
	if projectID == "" && pass == "" && eq(user, s.cfg.token) {
		return 0, ""
	}
	return http.StatusUnauthorized, "Invalid credentials"
}

func (s *Server) importEvents(r *http.Request, body []byte, status int, msg string, rec *Request) response {
	if st, m := s.authorized(r); st != 0 {
		return errorResponse(st, m)
	}
	if status != 0 {
		return errorResponse(status, msg)
	}
	raws, st, m := s.split(r, body)
	rec.Events = len(raws)
	if st != 0 {
		return errorResponse(st, m)
	}
	strict := r.URL.Query().Get("strict") == "1"
	var failed []map[string]any
	imported := 0
	now := s.cfg.now()
	for i, raw := range raws {
		ev, field, problem := validate(raw, now, "")
		if problem != "" {
			if strict {
				rec := map[string]any{"index": i, "field": field, "message": problem}
				key := "insert_id"
				if s.cfg.dollarInsertIDKey {
					key = "$insert_id"
				}
				rec[key] = ev.insertID
				failed = append(failed, rec)
			}
			continue
		}
		s.store(ev)
		imported++
	}
	if len(failed) > 0 {
		b, _ := json.Marshal(map[string]any{
			"code": 400, "error": "some data points in the request failed validation", "status": "Bad Request",
			"num_records_imported": imported, "failed_records": failed,
		})
		return response{http.StatusBadRequest, b}
	}
	b, _ := json.Marshal(map[string]any{"code": 200, "num_records_imported": imported, "status": "OK"})
	return response{http.StatusOK, b}
}

// trackEvents serves /track: token in each event, all or nothing, and
// ?verbose=1 answers {"status":1,"error":null}; otherwise 1 or 0.
func (s *Server) trackEvents(r *http.Request, body []byte, status int, msg string, rec *Request) response {
	verbose := r.URL.Query().Get("verbose") == "1"
	answer := func(st int, ok bool, msg string) response {
		if !verbose {
			if ok {
				return response{st, []byte("1")}
			}
			return response{st, []byte("0")}
		}
		b, _ := json.Marshal(map[string]any{"status": map[bool]int{true: 1, false: 0}[ok], "error": map[bool]any{true: nil, false: msg}[ok]})
		return response{st, b}
	}
	if status != 0 {
		if status == http.StatusRequestEntityTooLarge {
			return errorResponse(status, msg)
		}
		return answer(status, false, msg)
	}
	raws, st, m := s.split(r, body)
	rec.Events = len(raws)
	if st == http.StatusRequestEntityTooLarge {
		return errorResponse(st, m)
	}
	if st != 0 {
		return answer(st, false, m)
	}
	now := s.cfg.now()
	evs := make([]stored, 0, len(raws))
	for i, raw := range raws {
		ev, field, problem := validate(raw, now, s.cfg.token)
		if problem != "" {
			if field == "properties.token" {
				return answer(http.StatusUnauthorized, false, problem)
			}
			return answer(http.StatusBadRequest, false, fmt.Sprintf("event %d: %s", i, problem))
		}
		evs = append(evs, ev)
	}
	for _, ev := range evs {
		s.store(ev)
	}
	return answer(http.StatusOK, true, "")
}

func (s *Server) store(ev stored) {
	if s.cfg.discardBodies {
		ev.raw = nil // points into a pooled buffer
	}
	k := dedupeKey{ev.name, ev.distinctID, ev.insertID, ev.timeMS}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.seen[k]; dup {
		s.duplicates++
		return
	}
	s.seen[k] = struct{}{}
	s.events.add(ev)
}

// split cuts a body into events: a JSON array (or a single object) for
// application/json, one object per line for application/x-ndjson.
func (s *Server) split(r *http.Request, body []byte) ([]json.RawMessage, int, string) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	var raws []json.RawMessage
	switch ct {
	case "application/json", "":
		trimmed := bytes.TrimSpace(body)
		switch {
		case !json.Valid(trimmed):
			return nil, http.StatusBadRequest, "unable to parse the body as JSON"
		case trimmed[0] == '{':
			raws = []json.RawMessage{trimmed}
		case trimmed[0] == '[':
			raws = splitArray(trimmed)
		default:
			return nil, http.StatusBadRequest, "the body must be a JSON array of events"
		}
	case "application/x-ndjson":
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 0, 64<<10), s.cfg.maxBytes+1)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			if !json.Valid(line) {
				return nil, http.StatusBadRequest, fmt.Sprintf("line %d is not valid JSON", len(raws)+1)
			}
			raws = append(raws, json.RawMessage(line))
		}
		if err := sc.Err(); err != nil {
			return nil, http.StatusBadRequest, "unable to read NDJSON: " + err.Error()
		}
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: use application/json or application/x-ndjson", ct)
	}
	if len(raws) == 0 {
		return nil, http.StatusBadRequest, "no events in the request"
	}
	if len(raws) > s.cfg.maxEvents {
		return raws, http.StatusRequestEntityTooLarge, fmt.Sprintf("request exceeds max limit of %d events", s.cfg.maxEvents)
	}
	return raws, 0, ""
}

// blocked are the distinct_id (and $insert_id) values Mixpanel refuses as
// placeholders that betray an implementation mistake (case-insensitive).
var blocked = func() map[string]bool {
	m := make(map[string]bool)
	for _, v := range []string{
		"00000000-0000-0000-0000-000000000000",
		"anon", "anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", "<nil>",
		"0", "-1", "true", "false", "[]", "{}",
	} {
		m[v] = true
	}
	return m
}()

// Blocked reports whether Mixpanel refuses id as a distinct_id or
// $insert_id placeholder.
func Blocked(id string) bool { return blocked[strings.ToLower(strings.TrimSpace(id))] }

var minTime = time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)

// validate checks one event against Mixpanel's per-event rules. token,
// when set, must be the event's token property (/track).
func validate(raw json.RawMessage, now time.Time, token string) (ev stored, field, problem string) {
	ev.raw = raw
	if len(raw) >= MaxEventBytes {
		return ev, "event", fmt.Sprintf("event is %d bytes, must be smaller than 1MB", len(raw))
	}
	w, object := scanEvent(raw)
	insertIDString := false
	if w.insertID != nil {
		ev.insertID, insertIDString = str(w.insertID)
	}
	name, nameOK := str(w.event)
	switch {
	case !object:
		return ev, "event", "each event must be a JSON object"
	case !nameOK || strings.TrimSpace(name) == "":
		return ev, "event", "'event' must be a non-empty string"
	case len(w.properties) == 0 || w.properties[0] != '{':
		return ev, "properties", "'properties' must be an object"
	case w.nprops > MaxProperties:
		return ev, "properties", fmt.Sprintf("event has %d properties, must have fewer than 255", w.nprops)
	case w.longName != nil:
		return ev, "properties", fmt.Sprintf("property name %.40s... is longer than %d characters", w.longName, MaxPropertyNameBytes)
	}
	ev.name = name
	if token != "" {
		t, ok := str(w.tokn)
		if !ok || subtle.ConstantTimeCompare([]byte(t), []byte(token)) != 1 {
			return ev, "properties.token", "'properties.token' is missing or not this project's token"
		}
	}
	// time: seconds or milliseconds since the epoch.
	if w.time == nil {
		return ev, "properties.time", "'properties.time' is required"
	}
	t, err := strconv.ParseFloat(string(w.time), 64)
	if err != nil {
		return ev, "properties.time", "'properties.time' is invalid: must be specified as seconds or milliseconds since epoch"
	}
	ms := int64(t * 1000)
	if t >= 1e11 { // already milliseconds (1e11 seconds is year 5138)
		ms = int64(t)
	}
	ev.timeMS = ms
	switch tm := time.UnixMilli(ms); {
	case tm.Before(minTime):
		return ev, "properties.time", "'properties.time' is invalid: must be after 1971-01-01"
	case tm.After(now.Add(time.Hour)):
		return ev, "properties.time", "'properties.time' is invalid: must not be more than 1 hour in the future"
	}
	// distinct_id: a string, may be empty, not a placeholder.
	if w.distinctID == nil {
		return ev, "properties.distinct_id", "'properties.distinct_id' is required (use \"\" for events without a user)"
	}
	var ok bool
	if ev.distinctID, ok = str(w.distinctID); !ok {
		return ev, "properties.distinct_id", "'properties.distinct_id' must be a string"
	}
	switch {
	case len(ev.distinctID) > MaxIDBytes:
		return ev, "properties.distinct_id", "'properties.distinct_id' is longer than 255 characters"
	case Blocked(ev.distinctID):
		return ev, "properties.distinct_id", fmt.Sprintf("'properties.distinct_id' is invalid: %q is not allowed", ev.distinctID)
	}
	// $insert_id: required, at most 36 characters of [a-zA-Z0-9-].
	if w.insertID == nil {
		return ev, "properties.$insert_id", "'properties.$insert_id' is required"
	}
	if !insertIDString {
		return ev, "properties.$insert_id", "'properties.$insert_id' must be a string"
	}
	if !validInsertID(ev.insertID) || Blocked(ev.insertID) {
		return ev, "properties.$insert_id", "'properties.$insert_id' is invalid: must be 1 to 36 characters of [a-zA-Z0-9-]"
	}
	return ev, "", ""
}

func validInsertID(id string) bool {
	if len(id) == 0 || len(id) > 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// truncate cuts s to MaxStringBytes on a UTF-8 boundary.
func truncate(s string) string {
	n := MaxStringBytes
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Authorization is the basic-auth header value for user and password, for
// tests that check headers byte for byte.
func Authorization(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}
