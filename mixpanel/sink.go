package mixpanel

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/options"
)

// Region is the Mixpanel data residency region of a project.
type Region string

// The regions Mixpanel hosts projects in.
const (
	US Region = "US" // api.mixpanel.com (the default)
	EU Region = "EU" // api-eu.mixpanel.com
	IN Region = "IN" // api-in.mixpanel.com
)

var regionBase = map[Region]string{
	US: "https://api.mixpanel.com",
	EU: "https://api-eu.mixpanel.com",
	IN: "https://api-in.mixpanel.com",
}

const (
	// authLogInterval is how often a rejected credential is logged.
	authLogInterval = time.Minute
	// maxResponseBytes bounds how much of a response the sink reads.
	maxResponseBytes = 4 << 20
)

// ErrUnauthorized is wrapped by the error of a send that Mixpanel refused
// with 401 or 403: a configuration error (token, service account, project
// id or region), never retried. It also wraps exposure.ErrInvalidConfig.
var ErrUnauthorized = errors.New("mixpanel: credentials rejected")

// HTTPError is an answer of Mixpanel other than success. Message is the
// error Mixpanel gave, if any, without the sink's secrets and cut to 200
// bytes (in that order, so that no part of a secret is left).
type HTTPError struct {
	Path       string // "/import" or "/track"
	StatusCode int
	Message    string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("mixpanel: %s answered %d %s", e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// RecordError is Mixpanel's reason for refusing one event of a request
// (an entry of the failed_records of a 400). It is permanent. InsertID is
// the event's $insert_id; Field and Message are Mixpanel's, without the
// sink's secrets and cut to 200 bytes. InsertID is an unkeyed hash of the
// event's distinct id and its other properties: treat it as you treat the
// distinct id (package audit masks it with the ids).
type RecordError struct {
	InsertID string
	Field    string
	Message  string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("mixpanel: event $insert_id=%q refused: %s: %s", e.InsertID, e.Field, e.Message)
}

// ErrEventTooLarge is the failure of an exposure whose event alone exceeds
// the cap of [WithMaxRequestBytes].
var ErrEventTooLarge = errors.New("mixpanel: event larger than the request size limit")

// Sink sends exposures to Mixpanel's ingestion API as $experiment_started
// events. One Send is one attempt (split into several requests when the
// batch exceeds Mixpanel's limits); the Tracker's delivery retries what it
// reports as retryable, on the schedule given to exposure.WithSink with
// exposure.WithBackoff and exposure.WithMaxRetryAge. A Sink is safe for concurrent use.
type Sink struct {
	url        string
	path       string
	auth       string // Authorization header value, "" for /track
	client     *http.Client
	timeout    time.Duration
	maxBytes   int
	gzip       bool
	enc        *encoder
	log        *slog.Logger
	secrets    redactor
	userAgent  string
	now        func() time.Time
	authMu     sync.Mutex
	authLogged time.Time
	authQuiet  int // auth failures not logged since authLogged

	propsDropped atomic.Uint64 // see PropertiesDropped
	propsLogged  atomic.Bool
}

// PropertiesDropped counts the provider's properties of exposures
// (exposure.Assignment.Properties) the Sink left out of events: those
// past Mixpanel's limit of fewer than 255 properties per event once the
// library's are in (the sink's own, the identity's and WithProperties',
// which are never left out), and those named "", over 255 bytes or by
// bytes that are not valid UTF-8 (once each were replaced by U+FFFD, the
// name could exceed Mixpanel's limit or equal another), or whose value
// JSON cannot carry (NaN, a type that is not a string, bool or
// number). Each send attempt counts them: an exposure retried counts
// again. The first time is logged, once.
func (s *Sink) PropertiesDropped() uint64 { return s.propsDropped.Load() }

// droppedProperties counts n properties of x left out, and logs the first
// time.
func (s *Sink) droppedProperties(n int, x *exposure.Exposure) {
	s.propsDropped.Add(uint64(n))
	if s.propsLogged.CompareAndSwap(false, true) {
		s.log.Warn("mixpanel: provider properties left out of an event: over Mixpanel's limit of fewer than 255 properties per event, or not a valid name or value (logged once; counted in Sink.PropertiesDropped)",
			"experiment", x.Experiment, "dropped", n, "properties", len(x.Properties))
	}
}

var (
	_ exposure.NamedSink = (*Sink)(nil)
	// The Tracker's Close calls CloseIdleConnections (see exposure.Sink).
	_ interface{ CloseIdleConnections() } = (*Sink)(nil)
)

// NewSink returns a Sink sending to the Mixpanel project of token, the
// project token (Project Settings > Access Keys). The token is sent in
// every event and, without [WithServiceAccount], authenticates /import as
// its basic-auth user.
//
// Configuration errors wrap exposure.ErrInvalidConfig and name the
// offending option; they never contain a secret. NewSink reports all of
// them at once, joined; a nil option is an error.
func NewSink(token string, opts ...Option) (*Sink, error) {
	var c config
	var errs []error
	if strings.TrimSpace(token) == "" {
		errs = append(errs, configErr("NewSink: the project token is required (Project Settings > Access Keys)"))
	}
	errs = append(errs, options.Apply(&c, "mixpanel.NewSink", opts)...)
	serviceAccount := c.saUser != ""
	if serviceAccount && c.track {
		errs = append(errs, configErr("WithTrack cannot be combined with WithServiceAccount: /track authenticates with the token only"))
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	if len(errs) > 1 {
		return nil, errors.Join(errs...)
	}
	version := moduleVersion()
	enc, err := newEncoder(token, version, c.properties)
	if err != nil {
		return nil, configErr("%s", err.Error()) // unreachable: WithProperties checked them
	}
	s := &Sink{
		client:    c.client,
		timeout:   c.timeout,
		maxBytes:  c.maxBytes,
		gzip:      !c.noGzip,
		enc:       enc,
		log:       c.logger,
		userAgent: libName + "/" + version,
		now:       time.Now,
	}
	if s.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4
		s.client = &http.Client{Transport: t}
	}
	if s.timeout == 0 {
		s.timeout = defaultRequestTimeout
	}
	if s.maxBytes == 0 {
		s.maxBytes = MaxRequestBytes
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("sink", "mixpanel")
	base := regionBase[US]
	switch {
	case c.endpoint != "":
		base = c.endpoint
	case c.base != "":
		base = c.base
	}
	if c.track {
		s.path = "/track"
		s.url = base + "/track?ip=0&verbose=1"
	} else {
		s.path = "/import"
		s.url = base + "/import?strict=1"
		if serviceAccount {
			s.url += "&project_id=" + url.QueryEscape(c.projectID)
			s.auth = basicAuth(c.saUser, c.saSecret)
		} else {
			s.auth = basicAuth(token, "")
		}
	}
	s.secrets = newRedactor(token, c.saUser, c.saSecret, strings.TrimPrefix(s.auth, "Basic "))
	return s, nil
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// moduleVersion is the version of the exposure module in this binary, as
// recorded by the Go toolchain ("devel" in its own tests).
func moduleVersion() string {
	const mod = "github.com/exposurekit/exposure"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if bi.Main.Path == mod && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == mod {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			if d.Version != "" && d.Version != "(devel)" {
				return d.Version
			}
		}
	}
	return "devel"
}

// Name is how the Tracker's stats and logs call this sink: "mixpanel".
func (s *Sink) Name() string { return "mixpanel" }

// CloseIdleConnections closes the sink's idle keep-alive connections (they
// otherwise close on their own after 90 seconds). Call it after
// Tracker.Close when the process goes on, such as in tests checking for
// leaked goroutines. The sink stays usable.
func (s *Sink) CloseIdleConnections() { s.client.CloseIdleConnections() }

// outcome collects the per-index results of a Send.
type outcome struct {
	n      int
	failed map[int]error // by index in the batch
	stop   error         // a retryable or credential error: send no more chunks
}

func (o *outcome) fail(lo, hi int, err error) {
	for i := lo; i < hi; i++ {
		o.failOne(i, err)
	}
}

func (o *outcome) failOne(i int, err error) {
	if o.failed == nil {
		o.failed = make(map[int]error)
	}
	o.failed[i] = err
}

// Send delivers batch to Mixpanel, in as few requests as its limits allow
// (2000 events and the cap of [WithMaxRequestBytes] of JSON per request). It returns
// nil when every exposure was accepted; an error wrapped by
// exposure.Retryable (with Mixpanel's Retry-After) for 429, 5xx, timeouts
// and connection errors; a *exposure.BatchError listing the exposures
// Mixpanel refused (400 with failed_records: permanent, each a
// *RecordError) or could not be sent while the others were; and an error
// wrapping ErrUnauthorized for 401 and 403. A 413 splits the request in
// halves, sent in the same call.
func (s *Sink) Send(ctx context.Context, batch []exposure.Exposure) error {
	if len(batch) == 0 {
		return nil
	}
	rawp := rawPool.Get().(*[]byte)
	raw := (*rawp)[:0]
	// offs[i] is where event i starts; offs[len] is the end (plus a comma).
	offs := make([]int, len(batch)+1)
	for i := range batch {
		offs[i] = len(raw)
		var dropped int
		raw, dropped = s.enc.appendEvent(raw, &batch[i])
		raw = append(raw, ',')
		if dropped > 0 {
			s.droppedProperties(dropped, &batch[i])
		}
	}
	offs[len(batch)] = len(raw)
	defer func() {
		if cap(raw) <= 4*MaxRequestBytes {
			*rawp = raw[:0]
			rawPool.Put(rawp)
		}
	}()

	o := &outcome{n: len(batch)}
	// Greedy chunks under both caps; "[" and "]" take the place of the
	// trailing comma, so a chunk's body is 1+len(raw[start:end]) bytes.
	lo := 0
	for lo < len(batch) {
		hi := lo
		for hi < len(batch) && hi-lo < MaxEventsPerRequest && offs[hi+1]-offs[lo]+1 <= s.maxBytes {
			hi++
		}
		if hi == lo { // one event alone is over the cap
			o.fail(lo, lo+1, fmt.Errorf("%w (%d bytes, limit %d)", ErrEventTooLarge, offs[lo+1]-offs[lo]-1, s.maxBytes))
			lo++
			continue
		}
		if o.stop != nil {
			o.fail(lo, hi, o.stop)
		} else {
			s.sendChunk(ctx, batch, raw, offs, lo, hi, o)
		}
		lo = hi
	}
	return o.result()
}

// result turns the per-index outcome into Send's error.
func (o *outcome) result() error {
	if len(o.failed) == 0 {
		return nil
	}
	if len(o.failed) == o.n {
		// Every exposure failed: when for one reason, report it as such
		// (a whole-batch retryable or permanent error).
		first := o.failed[0]
		same := true
		for _, err := range o.failed {
			if err != first {
				same = false
				break
			}
		}
		if same {
			return first
		}
	}
	return &exposure.BatchError{Failed: o.failed}
}

// sendChunk sends batch[lo:hi] in one request, halving it on 413.
func (s *Sink) sendChunk(ctx context.Context, batch []exposure.Exposure, raw []byte, offs []int, lo, hi int, o *outcome) {
	body := raw[offs[lo] : offs[hi]-1]
	status, hdr, resp, err := s.post(ctx, body)
	if err != nil {
		o.stop = exposure.Retryable(err, 0)
		o.fail(lo, hi, o.stop)
		return
	}
	switch {
	case status >= 200 && status < 300:
		if s.path == "/track" {
			var tr struct {
				Status json.RawMessage `json:"status"`
				Error  string          `json:"error"`
			}
			trimmed := bytes.TrimSpace(resp)
			ok := string(trimmed) == "1"
			if !ok && json.Unmarshal(trimmed, &tr) == nil {
				ok = string(tr.Status) == "1"
			}
			if !ok {
				o.fail(lo, hi, &HTTPError{Path: s.path, StatusCode: status, Message: s.secrets.clean("not accepted: " + orDefault(tr.Error, string(trimmed)))})
				return
			}
		}
	case status == http.StatusRequestEntityTooLarge:
		if hi-lo == 1 {
			o.fail(lo, hi, &HTTPError{Path: s.path, StatusCode: status, Message: s.message(resp)})
			return
		}
		mid := lo + (hi-lo)/2
		s.sendChunk(ctx, batch, raw, offs, lo, mid, o)
		if o.stop != nil {
			o.fail(mid, hi, o.stop)
			return
		}
		s.sendChunk(ctx, batch, raw, offs, mid, hi, o)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		herr := &HTTPError{Path: s.path, StatusCode: status, Message: s.message(resp)}
		err := fmt.Errorf("%w: %w (a configuration error: check the token, the service account, its project id and the region): %w", exposure.ErrInvalidConfig, ErrUnauthorized, herr)
		s.logAuth(herr)
		o.stop = err
		o.fail(lo, hi, err)
	case status == http.StatusBadRequest:
		s.partial(batch, lo, hi, resp, o)
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		o.stop = exposure.Retryable(&HTTPError{Path: s.path, StatusCode: status, Message: s.message(resp)}, retryAfter(hdr, s.now()))
		o.fail(lo, hi, o.stop)
	default:
		o.fail(lo, hi, &HTTPError{Path: s.path, StatusCode: status, Message: s.message(resp)})
	}
}

type failedRecord struct {
	Index     *int   `json:"index"`
	InsertID  string `json:"insert_id"`
	DInsertID string `json:"$insert_id"`
	Field     string `json:"field"`
	Message   string `json:"message"`
}

// partial handles a 400: the records in failed_records failed for good,
// the others were ingested. A 400 without failed_records fails the chunk.
func (s *Sink) partial(batch []exposure.Exposure, lo, hi int, resp []byte, o *outcome) {
	var body struct {
		Error         string         `json:"error"`
		FailedRecords []failedRecord `json:"failed_records"`
	}
	if json.Unmarshal(resp, &body) != nil || len(body.FailedRecords) == 0 {
		o.fail(lo, hi, &HTTPError{Path: s.path, StatusCode: http.StatusBadRequest, Message: s.message(resp)})
		return
	}
	failed := make(map[int]bool, len(body.FailedRecords))
	unmatched := 0
	var first *RecordError
	for _, r := range body.FailedRecords {
		id := r.InsertID
		if id == "" {
			id = r.DInsertID
		}
		// The insert id names the event surely; index (relative to the
		// request) when there is no insert id or it matches nothing.
		idx := -1
		if id != "" {
			if r.Index != nil && *r.Index >= 0 && lo+*r.Index < hi && cut(batch[lo+*r.Index].InsertID) == id {
				idx = lo + *r.Index
			} else {
				for i := lo; i < hi; i++ {
					if !failed[i] && cut(batch[i].InsertID) == id {
						idx = i
						break
					}
				}
			}
		}
		if idx < 0 && r.Index != nil && *r.Index >= 0 && lo+*r.Index < hi {
			idx = lo + *r.Index
		}
		if idx < 0 || failed[idx] {
			unmatched++
			continue
		}
		failed[idx] = true
		if id != cut(batch[idx].InsertID) {
			id = s.secrets.clean(id) // not ours: text from the network
		}
		rerr := &RecordError{InsertID: id, Field: s.secrets.clean(r.Field), Message: s.secrets.clean(r.Message)}
		if first == nil {
			first = rerr
		}
		o.failOne(idx, rerr)
	}
	if len(failed) == 0 {
		// Refusals we cannot attribute: do not claim the chunk delivered.
		o.fail(lo, hi, &HTTPError{Path: s.path, StatusCode: http.StatusBadRequest, Message: s.message(resp)})
		return
	}
	attrs := []any{"refused", len(failed), "sent", hi - lo}
	if first != nil {
		attrs = append(attrs, "first_insert_id", first.InsertID, "first_field", first.Field, "first_message", first.Message)
	}
	if unmatched > 0 {
		attrs = append(attrs, "unmatched_records", unmatched)
	}
	s.log.Warn("mixpanel: Mixpanel refused some events (400, not retried)", attrs...)
}

// post sends one JSON array holding the events in body and returns the
// answer. err is a network error or timeout, never a secret-bearing URL.
func (s *Sink) post(ctx context.Context, events []byte) (status int, hdr http.Header, resp []byte, err error) {
	var payload []byte
	if s.gzip {
		payload = compress(events)
	} else {
		payload = make([]byte, 0, len(events)+2)
		payload = append(append(append(payload, '['), events...), ']')
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("mixpanel: building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, s.secrets.wrap(s.netErr(err))
	}
	defer res.Body.Close()
	resp, err = io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, nil, s.secrets.wrap(s.netErr(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxResponseBytes))
	return res.StatusCode, res.Header, resp, nil
}

// netErr strips the URL from a client error (it is not secret, but keeps
// messages short) and says what happened.
func (s *Sink) netErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("mixpanel: POST %s timed out: %w", s.path, err)
	}
	return fmt.Errorf("mixpanel: POST %s: %w", s.path, err)
}

func compress(events []byte) []byte {
	out := bytes.NewBuffer(make([]byte, 0, len(events)/5+256))
	zw := gzipPool.Get().(*gzip.Writer)
	zw.Reset(out)
	_, _ = zw.Write([]byte{'['})
	_, _ = zw.Write(events)
	_, _ = zw.Write([]byte{']'})
	_ = zw.Close() // writes to a bytes.Buffer cannot fail
	zw.Reset(io.Discard)
	gzipPool.Put(zw)
	return out.Bytes()
}

// message is the error Mixpanel gave in resp, redacted and kept short.
func (s *Sink) message(resp []byte) string {
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(resp, &body) == nil && body.Error != "" {
		return s.secrets.clean(body.Error)
	}
	return s.secrets.clean(string(bytes.TrimSpace(resp)))
}

// logAuth logs a rejected credential loudly, at most once per interval.
func (s *Sink) logAuth(herr *HTTPError) {
	s.authMu.Lock()
	now := s.now()
	if !s.authLogged.IsZero() && now.Sub(s.authLogged) < authLogInterval {
		s.authQuiet++
		s.authMu.Unlock()
		return
	}
	quiet := s.authQuiet
	s.authLogged, s.authQuiet = now, 0
	s.authMu.Unlock()
	s.log.Error("mixpanel: Mixpanel rejected the credentials; exposures are dropped until the configuration is fixed (check the token, service account, project id and region)",
		"status", herr.StatusCode, "path", herr.Path, "message", herr.Message, "suppressed_since_last_log", quiet)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
