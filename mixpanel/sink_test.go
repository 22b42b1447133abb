package mixpanel_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

// commitTime is a fixed exposure time Mixpanel accepts (in the past).
var commitTime = time.Now().Add(-time.Minute).Truncate(time.Millisecond)

func exp(i int) exposure.Exposure {
	return exposure.Exposure{
		Assignment: exposure.Assignment{
			FlagKey:    "checkout-redesign",
			Experiment: "Checkout Redesign",
			Variant:    []string{"control", "treatment"}[i%2],
			Identity:   exposure.Identity{DistinctID: fmt.Sprintf("user-%d", i), UserID: fmt.Sprintf("user-%d", i)},
		},
		Time:     commitTime,
		InsertID: fmt.Sprintf("%032x", i+1),
	}
}

func exps(n int) []exposure.Exposure {
	b := make([]exposure.Exposure, n)
	for i := range b {
		b[i] = exp(i)
	}
	return b
}

// newSink is NewSink with a quiet logger (a later WithLogger replaces it).
func newSink(t *testing.T, token string, opts ...mixpanel.Option) *mixpanel.Sink {
	t.Helper()
	quiet := mixpanel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := mixpanel.NewSink(token, append([]mixpanel.Option{quiet}, opts...)...)
	require.NoError(t, err)
	return s
}

// fakeSink is a sink for the fake srv.
func fakeSink(t *testing.T, srv *mixpaneltest.Server, opts ...mixpanel.Option) *mixpanel.Sink {
	t.Helper()
	return newSink(t, srv.Token(), append([]mixpanel.Option{mixpanel.WithEndpoint(srv.URL)}, opts...)...)
}

func TestNewSinkRefusesBadConfig(t *testing.T) {
	const secret = "sa-SECRET-5f2c"
	cases := map[string]struct {
		token string
		opts  []mixpanel.Option
		want  []string // every one must be in the error
	}{
		"no token":            {"", nil, []string{"token"}},
		"blank token":         {"  ", nil, []string{"token"}},
		"sa user only":        {"t", []mixpanel.Option{mixpanel.WithServiceAccount("u", "", "")}, []string{"WithServiceAccount", "secret", "project id"}},
		"sa without project":  {"t", []mixpanel.Option{mixpanel.WithServiceAccount("u", secret, "")}, []string{"WithServiceAccount", "missing project id"}},
		"sa without user":     {"t", []mixpanel.Option{mixpanel.WithServiceAccount("", secret, "1")}, []string{"WithServiceAccount", "missing user"}},
		"bad region":          {"t", []mixpanel.Option{mixpanel.WithRegion("APAC")}, []string{"WithRegion", "APAC"}},
		"empty region":        {"t", []mixpanel.Option{mixpanel.WithRegion("")}, []string{"WithRegion"}},
		"endpoint scheme":     {"t", []mixpanel.Option{mixpanel.WithEndpoint("ftp://example.com")}, []string{"WithEndpoint", "ftp"}},
		"endpoint no host":    {"t", []mixpanel.Option{mixpanel.WithEndpoint("https://")}, []string{"WithEndpoint", "no host"}},
		"endpoint unparsable": {"t", []mixpanel.Option{mixpanel.WithEndpoint("http://a b\x7f")}, []string{"WithEndpoint"}},
		"endpoint creds":      {"t", []mixpanel.Option{mixpanel.WithEndpoint("https://u:" + secret + "@example.com")}, []string{"WithEndpoint", "credentials"}},
		"endpoint query":      {"t", []mixpanel.Option{mixpanel.WithEndpoint("https://example.com/?x=1")}, []string{"WithEndpoint", "query"}},
		"nil client":          {"t", []mixpanel.Option{mixpanel.WithHTTPClient(nil)}, []string{"WithHTTPClient"}},
		"zero timeout":        {"t", []mixpanel.Option{mixpanel.WithRequestTimeout(0)}, []string{"WithRequestTimeout(0s)"}},
		"negative timeout":    {"t", []mixpanel.Option{mixpanel.WithRequestTimeout(-time.Second)}, []string{"WithRequestTimeout(-1s)"}},
		"huge requests":       {"t", []mixpanel.Option{mixpanel.WithMaxRequestBytes(3 << 20)}, []string{"WithMaxRequestBytes(3145728)"}},
		"zero request bytes":  {"t", []mixpanel.Option{mixpanel.WithMaxRequestBytes(0)}, []string{"WithMaxRequestBytes(0)"}},
		"reserved property":   {"t", []mixpanel.Option{mixpanel.WithProperties(map[string]any{"distinct_id": "x"})}, []string{"WithProperties", "distinct_id"}},
		"property type":       {"t", []mixpanel.Option{mixpanel.WithProperties(map[string]any{"tags": []string{"a"}})}, []string{"WithProperties", "tags"}},
		"property NaN":        {"t", []mixpanel.Option{mixpanel.WithProperties(map[string]any{"x": func() float64 { z := 0.0; return z / z }()})}, []string{"WithProperties"}},
		"empty property name": {"t", []mixpanel.Option{mixpanel.WithProperties(map[string]any{"": 1})}, []string{"WithProperties", "empty name"}},
		"name not UTF-8":      {"t", []mixpanel.Option{mixpanel.WithProperties(map[string]any{strings.Repeat("\xff", 100): 1})}, []string{"WithProperties", "not valid UTF-8"}},
		"name partly UTF-8":   {"t", []mixpanel.Option{mixpanel.WithProperties(map[string]any{"caf\xe9": 1})}, []string{"WithProperties", "not valid UTF-8"}},
		"too many properties": {"t", []mixpanel.Option{mixpanel.WithProperties(manyProps(245))}, []string{"WithProperties", "245"}},
		"too many in all":     {"t", []mixpanel.Option{mixpanel.WithProperties(manyProps(200)), mixpanel.WithProperties(map[string]any{"p999": 1, "q": 2}), mixpanel.WithProperties(manyPropsFrom(300, 43))}, []string{"WithProperties", "245"}},
		"nil logger":          {"t", []mixpanel.Option{mixpanel.WithLogger(nil)}, []string{"WithLogger"}},
		"nil option":          {"t", []mixpanel.Option{mixpanel.WithTrack(), nil}, []string{"option 1 is nil"}},
		"track with sa": {"t", []mixpanel.Option{mixpanel.WithTrack(), mixpanel.WithServiceAccount("u", secret, "1")},
			[]string{"WithTrack", "WithServiceAccount"}},
		"every error reported": {"", []mixpanel.Option{mixpanel.WithRegion("mars"), nil, mixpanel.WithRequestTimeout(-1), mixpanel.WithServiceAccount("u", secret, "")},
			[]string{"token", "WithRegion", "option 1 is nil", "WithRequestTimeout", "WithServiceAccount"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := mixpanel.NewSink(tc.token, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), secret)
		})
	}
	// The largest accepted configuration.
	_, err := mixpanel.NewSink("t", mixpanel.WithProperties(manyProps(244)), mixpanel.WithRegion("eu"), mixpanel.WithMaxRequestBytes(mixpanel.MaxRequestBytes))
	assert.NoError(t, err)
}

func manyProps(n int) map[string]any { return manyPropsFrom(0, n) }

func manyPropsFrom(from, n int) map[string]any {
	m := make(map[string]any, n)
	for i := from; i < from+n; i++ {
		m[fmt.Sprintf("p%03d", i)] = i
	}
	return m
}

// TestPropertiesMerge: WithProperties is repeatable, a later value of a
// name replacing an earlier one.
func TestPropertiesMerge(t *testing.T) {
	srv := mixpaneltest.Start(t)
	s := fakeSink(t, srv, mixpanel.WithProperties(map[string]any{"app": "shop", "build": 1}), mixpanel.WithProperties(map[string]any{"build": 2}))
	require.NoError(t, s.Send(context.Background(), exps(1)))
	evs := srv.Events()
	require.Len(t, evs, 1)
	assert.Equal(t, "shop", evs[0].Properties["app"])
	assert.Equal(t, json.Number("2"), evs[0].Properties["build"])
}

// TestRequestTimeout: WithRequestTimeout bounds one request, which is then
// retryable.
func TestRequestTimeout(t *testing.T) {
	srv := mixpaneltest.Start(t)
	s := fakeSink(t, srv, mixpanel.WithRequestTimeout(50*time.Millisecond))
	srv.SetDelay(2 * time.Second)
	defer srv.SetDelay(0)
	start := time.Now()
	err := s.Send(context.Background(), exps(1))
	assert.Less(t, time.Since(start), time.Second)
	retry, _ := exposure.IsRetryable(err)
	assert.True(t, retry, "%v", err)
	assert.Contains(t, fmt.Sprint(err), "timed out")
}

// capture is a raw HTTP server recording the bytes of each request.
type capture struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
	srv  *httptest.Server
}

func newCapture(t *testing.T, status int, respBody string, hdr http.Header) *capture {
	c := &capture{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.reqs = append(c.reqs, r)
		c.body = append(c.body, b)
		c.mu.Unlock()
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, respBody)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	require.GreaterOrEqual(t, len(b), 2)
	require.Equal(t, []byte{0x1f, 0x8b}, b[:2], "body is not gzip")
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}

func TestEventShapeAndHeadersByteForByte(t *testing.T) {
	c := newCapture(t, 200, `{"code":200,"num_records_imported":2,"status":"OK"}`, nil)
	s := newSink(t, "tok123", mixpanel.WithEndpoint(c.srv.URL+"/proxy/"), mixpanel.WithProperties(map[string]any{"app": "checkout", "build": 7, "canary": false}))
	at := time.UnixMilli(1732480000123)
	batch := []exposure.Exposure{
		{Assignment: exposure.Assignment{Experiment: "Checkout Redesign", Variant: "treatment",
			Identity: exposure.Identity{DistinctID: "user-42", DeviceID: "dev-1", UserID: "user-42"}}, Time: at, InsertID: "0123456789abcdef0123456789abcdef"},
		{Assignment: exposure.Assignment{Experiment: "Checkout Redesign", Variant: "control",
			Identity: exposure.Identity{DistinctID: "$device:dev-2", DeviceID: "dev-2"}}, Time: at, InsertID: "fedcba9876543210fedcba9876543210"},
	}
	require.NoError(t, s.Send(context.Background(), batch))
	require.Len(t, c.reqs, 1)
	r := c.reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/proxy/import", r.URL.Path)
	assert.Equal(t, "strict=1", r.URL.RawQuery)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "gzip", r.Header.Get("Content-Encoding"))
	assert.Equal(t, "Basic dG9rMTIzOg==", r.Header.Get("Authorization")) // base64("tok123:")
	assert.Equal(t, mixpaneltest.Authorization("tok123", ""), r.Header.Get("Authorization"))
	assert.True(t, strings.HasPrefix(r.Header.Get("User-Agent"), "exposure-go/"), r.Header.Get("User-Agent"))

	body := gunzip(t, c.body[0])
	ver := strings.TrimPrefix(r.Header.Get("User-Agent"), "exposure-go/")
	tail := `,"token":"tok123","mp_lib":"exposure-go","$lib_version":"` + ver + `","app":"checkout","build":7,"canary":false}}`
	want := `[` +
		`{"event":"$experiment_started","properties":{"time":1732480000123,"distinct_id":"user-42","$insert_id":"0123456789abcdef0123456789abcdef",` +
		`"Experiment name":"Checkout Redesign","Variant name":"treatment","$device_id":"dev-1","$user_id":"user-42"` + tail + `,` +
		`{"event":"$experiment_started","properties":{"time":1732480000123,"distinct_id":"$device:dev-2","$insert_id":"fedcba9876543210fedcba9876543210",` +
		`"Experiment name":"Checkout Redesign","Variant name":"control","$device_id":"dev-2"` + tail +
		`]`
	assert.Equal(t, want, string(body))
	var decoded []map[string]any
	require.NoError(t, json.Unmarshal(body, &decoded), "body must be valid JSON")
	assert.NotContains(t, decoded[1]["properties"], "$user_id", "unknown ids are left out")
}

func TestServiceAccountAuth(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"), mixpaneltest.WithServiceAccount("sa.user", "s3cret", "12345"))
	s := fakeSink(t, srv, mixpanel.WithServiceAccount("sa.user", "s3cret", "12345"))
	require.NoError(t, s.Send(context.Background(), exps(3)))
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "strict=1&project_id=12345", reqs[0].Query)
	assert.Equal(t, mixpaneltest.Authorization("sa.user", "s3cret"), reqs[0].Header.Get("Authorization"))
	assert.Equal(t, 3, srv.Len())

	// The wrong project is refused as a configuration error.
	s = fakeSink(t, srv, mixpanel.WithServiceAccount("sa.user", "s3cret", "999"))
	err := s.Send(context.Background(), exps(1))
	assert.ErrorIs(t, err, mixpanel.ErrUnauthorized)
	assert.NotContains(t, err.Error(), "s3cret")
}

// hostRecorder answers every request with 200 and remembers its URL: the
// regions' real hosts are not reachable from tests.
type hostRecorder struct {
	mu   sync.Mutex
	urls []string
}

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.urls = append(h.urls, r.URL.String())
	h.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"status":1,"error":null}`)), Header: http.Header{}, Request: r}, nil
}

func TestRegionsAndEndpoints(t *testing.T) {
	cases := []struct {
		opts []mixpanel.Option
		want string
	}{
		{nil, "https://api.mixpanel.com/import?strict=1"},
		{[]mixpanel.Option{mixpanel.WithRegion(mixpanel.US)}, "https://api.mixpanel.com/import?strict=1"},
		{[]mixpanel.Option{mixpanel.WithRegion(mixpanel.EU)}, "https://api-eu.mixpanel.com/import?strict=1"},
		{[]mixpanel.Option{mixpanel.WithRegion(" in ")}, "https://api-in.mixpanel.com/import?strict=1"},
		{[]mixpanel.Option{mixpanel.WithRegion(mixpanel.EU), mixpanel.WithEndpoint("http://localhost:8080")}, "http://localhost:8080/import?strict=1"},
		{[]mixpanel.Option{mixpanel.WithEndpoint("http://localhost:8080"), mixpanel.WithRegion(mixpanel.EU)}, "http://localhost:8080/import?strict=1"},
		{[]mixpanel.Option{mixpanel.WithEndpoint("https://proxy.internal/mixpanel/")}, "https://proxy.internal/mixpanel/import?strict=1"},
		{[]mixpanel.Option{mixpanel.WithRegion(mixpanel.EU), mixpanel.WithTrack()}, "https://api-eu.mixpanel.com/track?ip=0&verbose=1"},
	}
	for _, tc := range cases {
		rec := &hostRecorder{}
		s := newSink(t, "tok", append(tc.opts, mixpanel.WithHTTPClient(&http.Client{Transport: rec}))...)
		require.NoError(t, s.Send(context.Background(), exps(1)))
		assert.Equal(t, []string{tc.want}, rec.urls)
	}
}

func TestFailureClassification(t *testing.T) {
	cases := map[string]struct {
		fault      mixpaneltest.Fault
		retryable  bool
		retryAfter time.Duration
		auth       bool
		contains   string
	}{
		"429 with Retry-After": {fault: mixpaneltest.Fault{Status: 429, RetryAfter: 7 * time.Second}, retryable: true, retryAfter: 7 * time.Second, contains: "429"},
		"500":                  {fault: mixpaneltest.Fault{Status: 500}, retryable: true, contains: "500"},
		"502":                  {fault: mixpaneltest.Fault{Status: 502}, retryable: true, contains: "502"},
		"503 with Retry-After": {fault: mixpaneltest.Fault{Status: 503, RetryAfter: 2 * time.Second}, retryable: true, retryAfter: 2 * time.Second},
		"504":                  {fault: mixpaneltest.Fault{Status: 504}, retryable: true},
		"dropped connection":   {fault: mixpaneltest.Fault{Drop: true}, retryable: true, contains: "/import"},
		"dropped after store":  {fault: mixpaneltest.Fault{DropAfterStore: true}, retryable: true},
		"slow answer":          {fault: mixpaneltest.Fault{Delay: 4 * time.Second}, retryable: true, contains: "timed out"},
		"401":                  {fault: mixpaneltest.Fault{Status: 401}, auth: true, contains: "configuration error"},
		"403":                  {fault: mixpaneltest.Fault{Status: 403}, auth: true, contains: "configuration error"},
		"404":                  {fault: mixpaneltest.Fault{Status: 404}, contains: "404"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"))
			s := fakeSink(t, srv, mixpanel.WithRequestTimeout(time.Second))
			srv.InjectFaults(tc.fault)
			err := s.Send(context.Background(), exps(5))
			require.Error(t, err)
			retry, after := exposure.IsRetryable(err)
			assert.Equal(t, tc.retryable, retry, "retryable: %v", err)
			assert.Equal(t, tc.retryAfter, after)
			assert.Equal(t, tc.auth, errors.Is(err, mixpanel.ErrUnauthorized), "%v", err)
			assert.Equal(t, tc.auth, errors.Is(err, exposure.ErrInvalidConfig), "%v", err)
			var be *exposure.BatchError
			assert.False(t, errors.As(err, &be), "a whole-batch failure is not a BatchError")
			assert.Contains(t, err.Error(), tc.contains)
			assert.Eventually(t, func() bool { return len(srv.Requests()) == 1 }, 3*time.Second, 10*time.Millisecond, "one attempt per Send")
			// A retry of the same batch delivers it, once.
			require.NoError(t, s.Send(context.Background(), exps(5)))
			assert.Eventually(t, func() bool { return srv.Len() == 5 }, 3*time.Second, 10*time.Millisecond)
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	c := newCapture(t, 503, "down", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}})
	s := newSink(t, "t", mixpanel.WithEndpoint(c.srv.URL))
	mixpanel.SetClock(s, func() time.Time { return now })
	retry, after := exposure.IsRetryable(s.Send(context.Background(), exps(1)))
	assert.True(t, retry)
	assert.Equal(t, 90*time.Second, after)
}

func TestPartialFailureReportsOnlyRefusedRecords(t *testing.T) {
	for _, dollar := range []bool{false, true} {
		t.Run(fmt.Sprintf("$insert_id key %v", dollar), func(t *testing.T) {
			logs := &lockedbuf.Buffer{}
			opts := []mixpaneltest.Option{mixpaneltest.WithToken("tok")}
			if dollar {
				opts = append(opts, mixpaneltest.WithDollarInsertIDKey())
			}
			srv := mixpaneltest.Start(t, opts...)
			s := fakeSink(t, srv, mixpanel.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
			batch := exps(10)
			batch[2].Identity.DistinctID = "anon"             // a placeholder Mixpanel refuses
			batch[7].Time = time.Now().Add(3 * time.Hour)     // too far in the future
			batch[8].InsertID = "not/a valid insert id!!!!!!" // bad characters
			err := s.Send(context.Background(), batch)
			var be *exposure.BatchError
			require.ErrorAs(t, err, &be)
			retry, _ := exposure.IsRetryable(err)
			assert.False(t, retry, "a 400 is never retried")
			require.Len(t, be.Failed, 3)
			fields := map[int]string{2: "properties.distinct_id", 7: "properties.time", 8: "properties.$insert_id"}
			for i, field := range fields {
				require.Contains(t, be.Failed, i)
				var re *mixpanel.RecordError
				require.ErrorAs(t, be.Failed[i], &re)
				assert.Equal(t, field, re.Field, "index %d", i)
				assert.Equal(t, batch[i].InsertID, re.InsertID)
				r, _ := exposure.IsRetryable(be.Failed[i])
				assert.False(t, r)
			}
			assert.Equal(t, 7, srv.Len(), "the valid events are stored")
			assert.Len(t, srv.Requests(), 1)
			assert.Contains(t, logs.String(), "refused=3")
		})
	}
}

func TestSplitsOn413AndMergesIndexes(t *testing.T) {
	// The fake takes at most 3000 bytes, the sink sends up to 2 MiB: every
	// 413 halves the request until the halves fit.
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"), mixpaneltest.WithMaxBytes(3000))
	s := fakeSink(t, srv)
	batch := exps(40)
	batch[29].Identity.DistinctID = "undefined"
	err := s.Send(context.Background(), batch)
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	assert.Contains(t, be.Failed, 29, "index in the batch, not in the half")
	assert.Equal(t, 39, srv.Len())
	statuses := map[int]int{}
	for _, r := range srv.Requests() {
		statuses[r.Status]++
		if r.Status != 413 {
			assert.LessOrEqual(t, len(r.Body), 3000)
		}
	}
	assert.Positive(t, statuses[413])
	assert.Positive(t, statuses[200])
	assert.Equal(t, 0, srv.Duplicates(), "no event is sent twice")
}

func TestSingleEventOver413IsPermanent(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"), mixpaneltest.WithMaxBytes(100))
	s := fakeSink(t, srv)
	err := s.Send(context.Background(), exps(2))
	require.Error(t, err)
	retry, _ := exposure.IsRetryable(err)
	assert.False(t, retry)
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	assert.Len(t, be.Failed, 2)
	assert.Contains(t, be.Failed, 0)
	assert.Contains(t, be.Failed, 1)
	assert.Len(t, srv.Requests(), 3) // the pair, then each alone
}

func TestByteCapAndCountCapSplitRequests(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"))
	s := fakeSink(t, srv, mixpanel.WithMaxRequestBytes(4096))
	require.NoError(t, s.Send(context.Background(), exps(100)))
	assert.Equal(t, 100, srv.Len())
	reqs := srv.Requests()
	assert.Greater(t, len(reqs), 5)
	for i, r := range reqs {
		assert.Equal(t, 200, r.Status)
		assert.LessOrEqual(t, len(r.Body), 4096)
		if i < len(reqs)-1 {
			assert.Greater(t, len(r.Body), 4096-400, "requests are filled greedily")
		}
	}

	srv.Reset()
	s = fakeSink(t, srv)
	require.NoError(t, s.Send(context.Background(), exps(4500)))
	reqs = srv.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, []int{2000, 2000, 500}, []int{reqs[0].Events, reqs[1].Events, reqs[2].Events})
	assert.Equal(t, 4500, srv.Len())
}

func TestEventLargerThanCapFailsAlone(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"))
	s := fakeSink(t, srv, mixpanel.WithMaxRequestBytes(600))
	batch := exps(3)
	batch[1].Experiment = strings.Repeat("E", 250)
	batch[1].Variant = strings.Repeat("V", 250)
	err := s.Send(context.Background(), batch)
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	assert.ErrorIs(t, be.Failed[1], mixpanel.ErrEventTooLarge)
	assert.Equal(t, 2, srv.Len())
}

func TestPartlyRetryableWhenALaterRequestFails(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"))
	s := fakeSink(t, srv, mixpanel.WithMaxRequestBytes(4096))
	srv.InjectFaults(mixpaneltest.Fault{}, mixpaneltest.Fault{Status: 503, RetryAfter: 3 * time.Second})
	batch := exps(40)
	err := s.Send(context.Background(), batch)
	var be *exposure.BatchError
	require.ErrorAs(t, err, &be)
	first := srv.Len()
	require.Positive(t, first)
	assert.Len(t, be.Failed, 40-first)
	assert.Len(t, srv.Requests(), 2, "after a retryable failure the rest is not attempted")
	// Delivery resends only the failed ones; identical events.
	var again []exposure.Exposure
	for i := first; i < 40; i++ {
		require.Contains(t, be.Failed, i)
		retry, after := exposure.IsRetryable(be.Failed[i])
		assert.True(t, retry)
		assert.Equal(t, 3*time.Second, after)
		again = append(again, batch[i])
	}
	require.NoError(t, s.Send(context.Background(), again))
	assert.Equal(t, 40, srv.Len())
	assert.Equal(t, 0, srv.Duplicates())
}

func TestRetriesResendIdenticalBytes(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"))
	s := fakeSink(t, srv, mixpanel.WithoutCompression())
	srv.FailNext(500)
	batch := exps(20)
	require.Error(t, s.Send(context.Background(), batch))
	require.NoError(t, s.Send(context.Background(), batch))
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, reqs[0].Body, reqs[1].Body)
	assert.Empty(t, reqs[0].Header.Get("Content-Encoding"))
}

func TestCredentialErrorsAreLoggedOncePerInterval(t *testing.T) {
	logs := &lockedbuf.Buffer{}
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("right"))
	s := newSink(t, "wrong-token-123", mixpanel.WithEndpoint(srv.URL), mixpanel.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	now := time.Now()
	mixpanel.SetClock(s, func() time.Time { return now })
	for range 5 {
		err := s.Send(context.Background(), exps(2))
		require.ErrorIs(t, err, mixpanel.ErrUnauthorized)
		retry, _ := exposure.IsRetryable(err)
		assert.False(t, retry)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"))
	now = now.Add(mixpanel.AuthLogInterval)
	require.Error(t, s.Send(context.Background(), exps(2)))
	assert.Equal(t, 2, strings.Count(logs.String(), "level=ERROR"))
	assert.Contains(t, logs.String(), "suppressed_since_last_log=4")
	assert.NotContains(t, logs.String(), "wrong-token-123")
}

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	const token, secret = "tok-SECRET-8d1e", "sa-SECRET-77aa"
	// A hostile proxy echoes the Authorization header and the token back.
	echo := func(status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"error":"bad auth %s token=%s secret=%s","failed_records":[{"index":0,"insert_id":"x","field":"f","message":"token %s"}]}`,
				r.Header.Get("Authorization"), token, secret, token)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	for _, status := range []int{400, 401, 403, 404, 413, 429, 500} {
		srv := echo(status)
		for _, serviceAccount := range []bool{false, true} {
			logs := &lockedbuf.Buffer{}
			opts := []mixpanel.Option{mixpanel.WithEndpoint(srv.URL), mixpanel.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}
			if serviceAccount {
				opts = append(opts, mixpanel.WithServiceAccount("u", secret, "1"))
			}
			s := newSink(t, token, opts...)
			err := s.Send(context.Background(), exps(1))
			require.Error(t, err, "status %d", status)
			var be *exposure.BatchError
			if errors.As(err, &be) {
				for _, ferr := range be.Failed {
					assert.NotContains(t, ferr.Error(), token)
				}
			}
			secrets := []string{token, mixpaneltest.Authorization(token, "")[len("Basic "):]}
			if serviceAccount {
				secrets = []string{secret, mixpaneltest.Authorization("u", secret)[len("Basic "):]}
			}
			for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), logs.String()} {
				for _, v := range secrets {
					assert.NotContains(t, out, v, "status %d", status)
				}
			}
		}
	}
	// Connection errors name the path, not the credentials.
	s := newSink(t, token, mixpanel.WithEndpoint("http://127.0.0.1:1"))
	err := s.Send(context.Background(), exps(1))
	retry, _ := exposure.IsRetryable(err)
	assert.True(t, retry)
	assert.NotContains(t, err.Error(), token)
}

func TestTrackMode(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"))
	s := fakeSink(t, srv, mixpanel.WithTrack())
	require.NoError(t, s.Send(context.Background(), exps(4)))
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/track", reqs[0].Path)
	assert.Equal(t, "ip=0&verbose=1", reqs[0].Query)
	assert.Empty(t, reqs[0].Header.Get("Authorization"), "/track authenticates with the token in each event")
	assert.Equal(t, 4, srv.Len())

	s = newSink(t, "wrong", mixpanel.WithEndpoint(srv.URL), mixpanel.WithTrack())
	err := s.Send(context.Background(), exps(1))
	assert.ErrorIs(t, err, mixpanel.ErrUnauthorized)

	s = fakeSink(t, srv, mixpanel.WithTrack())
	bad := exps(2)
	bad[1].Identity.DistinctID = "null"
	err = s.Send(context.Background(), bad)
	require.Error(t, err)
	retry, _ := exposure.IsRetryable(err)
	assert.False(t, retry)
	assert.Contains(t, err.Error(), "distinct_id")
}

func TestLongAndOddStrings(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"))
	s := fakeSink(t, srv, mixpanel.WithProperties(map[string]any{"note": "tab\there \"quoted\" \u2028 \xff", "long": strings.Repeat("é", 200)}))
	e := exp(0)
	e.Experiment = strings.Repeat("a", 254) + "日本"
	e.Variant = "line\nbreak <b>&</b>"
	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{e}))
	evs := srv.Events()
	require.Len(t, evs, 1)
	p := evs[0].Properties
	assert.Equal(t, strings.Repeat("a", 254), p["Experiment name"], "cut before the rune straddling 255 bytes")
	assert.Equal(t, "line\nbreak <b>&</b>", p["Variant name"])
	assert.Equal(t, "tab\there \"quoted\" \u2028 \ufffd", p["note"])
	long := p["long"].(string)
	assert.True(t, utf8.ValidString(long))
	assert.Len(t, long, 254)
	assert.Equal(t, "exposure-go", p["mp_lib"])
	assert.Equal(t, json.Number(fmt.Sprint(commitTime.UnixMilli())), p["time"])
	assert.Equal(t, commitTime, evs[0].Time)
}

func TestSendHonoursContext(t *testing.T) {
	srv := mixpaneltest.Start(t, mixpaneltest.WithToken("tok"))
	s := fakeSink(t, srv)
	srv.SetDelay(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, exps(3))
	assert.Less(t, time.Since(start), 2*time.Second)
	retry, _ := exposure.IsRetryable(err)
	assert.True(t, retry, "%v", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	srv.SetDelay(0)
}

func TestEmptyBatch(t *testing.T) {
	srv := mixpaneltest.Start(t)
	s := fakeSink(t, srv)
	assert.NoError(t, s.Send(context.Background(), nil))
	assert.Empty(t, srv.Requests())
}
