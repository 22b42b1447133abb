package mixpaneltest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// newServer starts a fake whose clock stands at now.
func newServer(t *testing.T, opts ...mixpaneltest.Option) *mixpaneltest.Server {
	t.Helper()
	return mixpaneltest.Start(t, append([]mixpaneltest.Option{mixpaneltest.WithClock(func() time.Time { return now })}, opts...)...)
}

// event is a valid /import event with overrides (nil deletes a property).
func event(i int, over map[string]any) map[string]any {
	props := map[string]any{
		"time":        now.Add(-time.Minute).UnixMilli(),
		"distinct_id": fmt.Sprintf("user-%d", i),
		"$insert_id":  fmt.Sprintf("id-%d", i),
		"token":       "test-token",
	}
	for k, v := range over {
		if v == nil {
			delete(props, k)
		} else {
			props[k] = v
		}
	}
	return map[string]any{"event": "$experiment_started", "properties": props}
}

type post struct {
	path, query, contentType, encoding string
	user, pass                         string
	noAuth                             bool
	body                               []byte
}

func (p post) do(t *testing.T, srv *mixpaneltest.Server) (int, map[string]any, http.Header) {
	t.Helper()
	if p.path == "" {
		p.path = "/import"
	}
	if p.query == "" && p.path == "/import" {
		p.query = "strict=1"
	}
	if p.contentType == "" {
		p.contentType = "application/json"
	}
	body := p.body
	if p.encoding == "gzip" {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = b.Bytes()
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+p.path+"?"+p.query, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", p.contentType)
	if p.encoding != "" {
		req.Header.Set("Content-Encoding", p.encoding)
	}
	if !p.noAuth {
		if p.user == "" {
			p.user = "test-token"
		}
		req.SetBasicAuth(p.user, p.pass)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return resp.StatusCode, out, resp.Header
}

func jsonBody(t *testing.T, events ...map[string]any) []byte {
	b, err := json.Marshal(events)
	require.NoError(t, err)
	return b
}

func TestAuth(t *testing.T) {
	srv := newServer(t, mixpaneltest.WithServiceAccount("sa", "pw", "42"))
	body := jsonBody(t, event(1, nil))
	cases := map[string]struct {
		p    post
		want int
	}{
		"token":                     {post{}, 200},
		"no auth":                   {post{noAuth: true}, 401},
		"wrong token":               {post{user: "nope"}, 401},
		"token with password":       {post{pass: "x"}, 401},
		"token with project_id":     {post{query: "strict=1&project_id=42"}, 401},
		"service account":           {post{user: "sa", pass: "pw", query: "strict=1&project_id=42"}, 200},
		"service account no proj":   {post{user: "sa", pass: "pw"}, 401},
		"service account wrong pw":  {post{user: "sa", pass: "no", query: "strict=1&project_id=42"}, 401},
		"service account elsewhere": {post{user: "sa", pass: "pw", query: "strict=1&project_id=7"}, 403},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.p.body = body
			status, out, _ := tc.p.do(t, srv)
			assert.Equal(t, tc.want, status)
			if status != 200 {
				assert.Equal(t, float64(status), out["code"])
				assert.NotEmpty(t, out["error"])
			}
		})
	}
	assert.Equal(t, 1, srv.Len(), "events of the same identity are deduplicated")
}

func TestBodyFormats(t *testing.T) {
	srv := newServer(t)
	two := jsonBody(t, event(1, nil), event(2, nil))
	var nd bytes.Buffer
	for i := 3; i <= 5; i++ {
		b, _ := json.Marshal(event(i, nil))
		nd.Write(b)
		nd.WriteByte('\n')
	}
	single, _ := json.Marshal(event(6, nil))
	cases := map[string]struct {
		p        post
		status   int
		imported float64
	}{
		"json array plain": {post{body: two}, 200, 2},
		"json array gzip":  {post{body: two, encoding: "gzip"}, 200, 2},
		"ndjson gzip":      {post{body: nd.Bytes(), encoding: "gzip", contentType: "application/x-ndjson"}, 200, 3},
		"single object":    {post{body: single, contentType: "application/json; charset=utf-8"}, 200, 1},
		"not gzip":         {post{body: two, encoding: "gzip-but-not"}, 415, 0},
		"bad gzip":         {post{body: two}, 0, 0}, // replaced below
		"bad content type": {post{body: two, contentType: "text/plain"}, 415, 0},
		"not json":         {post{body: []byte("[{")}, 400, 0},
		"empty array":      {post{body: []byte("[]")}, 400, 0},
	}
	bad := cases["bad gzip"]
	bad.status = 400
	cases["bad gzip"] = bad
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := tc.p
			if name == "bad gzip" {
				// Claim gzip, send plain bytes.
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/import?strict=1", bytes.NewReader(two))
				req.Header.Set("Content-Encoding", "gzip")
				req.SetBasicAuth("test-token", "")
				resp, err := srv.Client().Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, 400, resp.StatusCode)
				return
			}
			status, out, _ := p.do(t, srv)
			assert.Equal(t, tc.status, status, "%v", out)
			if status == 200 {
				assert.Equal(t, tc.imported, out["num_records_imported"])
				assert.Equal(t, "OK", out["status"])
			}
		})
	}
	assert.Equal(t, 6, srv.Len())
	reqs := srv.Requests()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		if r.Status == 200 && r.Header.Get("Content-Encoding") == "gzip" {
			assert.True(t, bytes.HasPrefix(r.Body, []byte("[")) || bytes.HasPrefix(r.Body, []byte("{")), "bodies are recorded uncompressed")
		}
	}
}

func TestCapsAnswer413(t *testing.T) {
	srv := newServer(t)
	many := make([]map[string]any, 2001)
	for i := range many {
		many[i] = event(i, nil)
	}
	status, out, _ := post{body: jsonBody(t, many...), encoding: "gzip"}.do(t, srv)
	assert.Equal(t, 413, status)
	assert.Equal(t, "request exceeds max limit of 2000 events", out["error"])
	assert.Equal(t, 0, srv.Len())

	// 2 MiB of uncompressed JSON, however well it compresses.
	big := event(1, map[string]any{"pad": strings.Repeat("x", 2<<20)})
	status, out, _ = post{body: jsonBody(t, big), encoding: "gzip"}.do(t, srv)
	assert.Equal(t, 413, status)
	assert.Equal(t, map[string]any{"code": float64(413), "error": "request exceeds max limit of 2097152 bytes", "status": "Request Entity Too Large"}, out)

	small := newServer(t, mixpaneltest.WithMaxBytes(500), mixpaneltest.WithMaxEvents(2))
	status, _, _ = post{body: jsonBody(t, event(1, nil), event(2, nil), event(3, nil))}.do(t, small)
	assert.Equal(t, 413, status)
	status, _, _ = post{body: jsonBody(t, event(1, map[string]any{"pad": strings.Repeat("x", 500)}))}.do(t, small)
	assert.Equal(t, 413, status)
	status, _, _ = post{body: jsonBody(t, event(1, nil), event(2, nil))}.do(t, small)
	assert.Equal(t, 200, status)
}

func TestPerEventValidation(t *testing.T) {
	manyProps := map[string]any{}
	for i := range 251 { // + time, distinct_id, $insert_id, token = 255
		manyProps[fmt.Sprintf("p%d", i)] = i
	}
	cases := map[string]struct {
		ev    map[string]any
		field string // "" = valid
	}{
		"valid ms":                 {event(0, nil), ""},
		"valid seconds":            {event(0, map[string]any{"time": now.Add(-time.Hour).Unix()}), ""},
		"valid empty distinct_id":  {event(0, map[string]any{"distinct_id": ""}), ""},
		"valid 36 char insert id":  {event(0, map[string]any{"$insert_id": strings.Repeat("a-Z9", 9)}), ""},
		"30 min ahead ok":          {event(0, map[string]any{"time": now.Add(30 * time.Minute).UnixMilli()}), ""},
		"missing time":             {event(0, map[string]any{"time": nil}), "properties.time"},
		"string time":              {event(0, map[string]any{"time": "yesterday"}), "properties.time"},
		"2 hours ahead":            {event(0, map[string]any{"time": now.Add(2 * time.Hour).UnixMilli()}), "properties.time"},
		"before 1971":              {event(0, map[string]any{"time": 1000}), "properties.time"},
		"missing distinct_id":      {event(0, map[string]any{"distinct_id": nil}), "properties.distinct_id"},
		"numeric distinct_id":      {event(0, map[string]any{"distinct_id": 7}), "properties.distinct_id"},
		"anon":                     {event(0, map[string]any{"distinct_id": "anon"}), "properties.distinct_id"},
		"NULL any case":            {event(0, map[string]any{"distinct_id": "NULL"}), "properties.distinct_id"},
		"undefined":                {event(0, map[string]any{"distinct_id": "undefined"}), "properties.distinct_id"},
		"zero":                     {event(0, map[string]any{"distinct_id": "0"}), "properties.distinct_id"},
		"minus one":                {event(0, map[string]any{"distinct_id": "-1"}), "properties.distinct_id"},
		"nil uuid":                 {event(0, map[string]any{"distinct_id": "00000000-0000-0000-0000-000000000000"}), "properties.distinct_id"},
		"long distinct_id":         {event(0, map[string]any{"distinct_id": strings.Repeat("d", 256)}), "properties.distinct_id"},
		"missing insert id":        {event(0, map[string]any{"$insert_id": nil}), "properties.$insert_id"},
		"37 char insert id":        {event(0, map[string]any{"$insert_id": strings.Repeat("a", 37)}), "properties.$insert_id"},
		"insert id with _":         {event(0, map[string]any{"$insert_id": "a_b"}), "properties.$insert_id"},
		"numeric insert id":        {event(0, map[string]any{"$insert_id": 12345}), "properties.$insert_id"},
		"placeholder insert id":    {event(0, map[string]any{"$insert_id": "undefined"}), "properties.$insert_id"},
		"empty event name":         {map[string]any{"event": "", "properties": event(0, nil)["properties"]}, "event"},
		"no properties":            {map[string]any{"event": "x"}, "properties"},
		"255 properties":           {event(0, manyProps), "properties"},
		"254 properties fine":      {event(0, func() map[string]any { delete(manyProps, "p0"); return manyProps }()), ""},
		"long string is truncated": {event(0, map[string]any{"note": strings.Repeat("n", 300)}), ""},
		"255-byte property name":   {event(0, map[string]any{strings.Repeat("k", 255): 1}), ""},
		"256-byte property name":   {event(0, map[string]any{strings.Repeat("k", 256): 1}), "properties"},
		"long multi-byte name":     {event(0, map[string]any{strings.Repeat("é", 128): 1}), "properties"},
		"short name, escaped":      {event(0, map[string]any{strings.Repeat("\n", 255): 1}), ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t)
			// The event under test between two valid ones.
			status, out, _ := post{body: jsonBody(t, event(100, nil), tc.ev, event(101, nil))}.do(t, srv)
			if tc.field == "" {
				assert.Equal(t, 200, status, "%v", out)
				assert.Equal(t, 3, srv.Len())
				return
			}
			assert.Equal(t, 400, status)
			assert.Equal(t, float64(2), out["num_records_imported"])
			assert.Equal(t, "some data points in the request failed validation", out["error"])
			recs, _ := out["failed_records"].([]any)
			require.Len(t, recs, 1)
			rec := recs[0].(map[string]any)
			assert.Equal(t, float64(1), rec["index"])
			assert.Equal(t, tc.field, rec["field"])
			assert.NotEmpty(t, rec["message"])
			assert.Contains(t, rec, "insert_id")
			assert.Equal(t, 2, srv.Len(), "the valid events are kept")
		})
	}
	t.Run("strings over 255 bytes are truncated", func(t *testing.T) {
		srv := newServer(t)
		status, _, _ := post{body: jsonBody(t, event(0, map[string]any{"note": strings.Repeat("é", 200)}))}.do(t, srv)
		require.Equal(t, 200, status)
		note := srv.Events()[0].Properties["note"].(string)
		assert.Len(t, note, 254)
	})
	t.Run("strict=0 drops invalid events silently", func(t *testing.T) {
		srv := newServer(t)
		status, out, _ := post{query: "strict=0", body: jsonBody(t, event(1, nil), event(2, map[string]any{"distinct_id": "anon"}))}.do(t, srv)
		assert.Equal(t, 200, status)
		assert.Equal(t, float64(1), out["num_records_imported"])
	})
	t.Run("$insert_id key", func(t *testing.T) {
		srv := newServer(t, mixpaneltest.WithDollarInsertIDKey())
		_, out, _ := post{body: jsonBody(t, event(1, map[string]any{"distinct_id": "anon"}))}.do(t, srv)
		rec := out["failed_records"].([]any)[0].(map[string]any)
		assert.Equal(t, "id-1", rec["$insert_id"])
		assert.NotContains(t, rec, "insert_id")
	})
}

func TestDedupe(t *testing.T) {
	srv := newServer(t)
	body := jsonBody(t, event(1, nil), event(1, nil))
	status, out, _ := post{body: body}.do(t, srv)
	require.Equal(t, 200, status)
	assert.Equal(t, float64(2), out["num_records_imported"], "duplicates are accepted")
	status, _, _ = post{body: body, encoding: "gzip"}.do(t, srv)
	require.Equal(t, 200, status)
	assert.Equal(t, 1, srv.Len())
	assert.Equal(t, 3, srv.Duplicates())
	// Any difference in event, distinct_id, time or $insert_id is another event.
	for _, over := range []map[string]any{
		{"distinct_id": "other"}, {"$insert_id": "other"}, {"time": now.Add(-2 * time.Minute).UnixMilli()},
	} {
		post{body: jsonBody(t, event(1, over))}.do(t, srv)
	}
	renamed := event(1, nil)
	renamed["event"] = "other"
	post{body: jsonBody(t, renamed)}.do(t, srv)
	assert.Equal(t, 5, srv.Len())
	// Seconds and milliseconds of the same instant are the same time.
	sec := now.Add(-10 * time.Minute).Truncate(time.Second)
	post{body: jsonBody(t, event(9, map[string]any{"time": sec.Unix()}), event(9, map[string]any{"time": sec.UnixMilli()}))}.do(t, srv)
	assert.Equal(t, 6, srv.Len())

	evs := srv.Events()
	assert.Equal(t, "$experiment_started", evs[0].Name)
	assert.Equal(t, "user-1", evs[0].DistinctID)
	assert.Equal(t, "id-1", evs[0].InsertID)
	assert.Equal(t, now.Add(-time.Minute), evs[0].Time.UTC())
	assert.True(t, json.Valid(evs[0].Raw), "raw JSON kept")
	assert.Equal(t, "test-token", evs[0].Properties["token"])
	assert.Equal(t, []string{"id-1", "id-1", "other", "id-1", "id-1", "id-9"}, srv.InsertIDs())
}

func TestFaults(t *testing.T) {
	srv := newServer(t)
	body := jsonBody(t, event(1, nil))
	srv.FailNext(503, 500)
	srv.InjectFaults(mixpaneltest.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}, mixpaneltest.Fault{})
	want := []int{503, 500, 429, 200}
	for i, w := range want {
		status, out, hdr := post{body: body}.do(t, srv)
		assert.Equal(t, w, status, "request %d", i)
		if w == 429 {
			assert.Equal(t, "2", hdr.Get("Retry-After"), "rounded up to whole seconds")
			assert.Equal(t, "Project exceeded rate limits. Please retry the request with exponential backoff.", out["error"])
		}
	}
	assert.Equal(t, 1, srv.Len(), "a failed request stores nothing")
	reqs := srv.Requests()
	require.Len(t, reqs, 4)
	assert.Equal(t, "503", reqs[0].Fault)
	assert.Equal(t, "429,retry-after=1.5s", reqs[2].Fault)
	assert.Empty(t, reqs[3].Fault)
	assert.Equal(t, 1, reqs[3].Events)

	t.Run("dropped connection", func(t *testing.T) {
		srv.InjectFaults(mixpaneltest.Fault{Drop: true})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/import?strict=1", bytes.NewReader(jsonBody(t, event(2, nil))))
		req.SetBasicAuth("test-token", "")
		_, err := srv.Client().Do(req)
		require.Error(t, err)
		assert.Equal(t, 1, srv.Len())
		srv.InjectFaults(mixpaneltest.Fault{DropAfterStore: true})
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/import?strict=1", bytes.NewReader(jsonBody(t, event(3, nil))))
		req.SetBasicAuth("test-token", "")
		_, err = srv.Client().Do(req)
		require.Error(t, err)
		assert.Equal(t, 2, srv.Len(), "stored, though the client never heard")
	})
	t.Run("delay", func(t *testing.T) {
		srv.InjectFaults(mixpaneltest.Fault{Delay: 150 * time.Millisecond})
		start := time.Now()
		status, _, _ := post{body: jsonBody(t, event(4, nil))}.do(t, srv)
		assert.Equal(t, 200, status)
		assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
		srv.SetDelay(100 * time.Millisecond)
		start = time.Now()
		post{body: body}.do(t, srv)
		assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
		srv.SetDelay(0)
	})
	t.Run("rate", func(t *testing.T) {
		srv.SetFaultRate(0.5, mixpaneltest.Fault{Status: 502}, mixpaneltest.Fault{Status: 503})
		counts := map[int]int{}
		for range 200 {
			status, _, _ := post{body: body}.do(t, srv)
			counts[status]++
		}
		assert.InDelta(t, 100, counts[200], 30)
		assert.Positive(t, counts[502])
		assert.Positive(t, counts[503])
		assert.Equal(t, 200, counts[200]+counts[502]+counts[503])
		srv.SetFaultRate(1, mixpaneltest.Fault{Status: 500}) // an outage
		status, _, _ := post{body: body}.do(t, srv)
		assert.Equal(t, 500, status)
		srv.SetFaultRate(0)
		status, _, _ = post{body: body}.do(t, srv)
		assert.Equal(t, 200, status)
	})
}

func TestMethodsAndPaths(t *testing.T) {
	srv := newServer(t)
	resp, err := srv.Client().Get(srv.URL + "/import")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 405, resp.StatusCode)
	status, _, _ := post{path: "/engage", body: jsonBody(t, event(1, nil))}.do(t, srv)
	assert.Equal(t, 404, status)
}

func TestTrack(t *testing.T) {
	srv := newServer(t, mixpaneltest.WithToken("tok"))
	ev := func(i int, token string) map[string]any { return event(i, map[string]any{"token": token}) }
	status, out, _ := post{path: "/track", query: "ip=0&verbose=1", noAuth: true, body: jsonBody(t, ev(1, "tok"), ev(2, "tok"))}.do(t, srv)
	assert.Equal(t, 200, status)
	assert.Equal(t, map[string]any{"status": float64(1), "error": nil}, out)
	assert.Equal(t, 2, srv.Len())

	status, out, _ = post{path: "/track", query: "verbose=1", noAuth: true, body: jsonBody(t, ev(3, "tok"), ev(4, "nope"))}.do(t, srv)
	assert.Equal(t, 401, status)
	assert.Equal(t, float64(0), out["status"])
	assert.Equal(t, 2, srv.Len(), "all or nothing")

	// Without verbose the answer is a bare 1 or 0.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/track", bytes.NewReader(jsonBody(t, ev(5, "tok"))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "1", string(b))
	assert.Equal(t, 3, srv.Len())
}

func TestReset(t *testing.T) {
	srv := newServer(t, mixpaneltest.WithoutBodies())
	post{body: jsonBody(t, event(1, nil))}.do(t, srv)
	require.Len(t, srv.Requests(), 1)
	assert.Empty(t, srv.Requests()[0].Body)
	srv.Reset()
	assert.Zero(t, srv.Len())
	assert.Empty(t, srv.Requests())
	post{body: jsonBody(t, event(1, nil))}.do(t, srv)
	assert.Equal(t, 1, srv.Len(), "dedupe memory is reset too")
}

func TestBlocked(t *testing.T) {
	for _, id := range []string{"anon", "Anonymous", " null ", "N/A", "<nil>", "[]", "{}", "false"} {
		assert.True(t, mixpaneltest.Blocked(id), id)
	}
	for _, id := range []string{"", "user-1", "anon-1", "$device:abc"} {
		assert.False(t, mixpaneltest.Blocked(id), id)
	}
}

// Whatever valid JSON spelling a client uses (whitespace, escaped keys and
// values, nested values before the known keys) is read as encoding/json
// reads it.
func TestAnyJSONSpelling(t *testing.T) {
	srv := newServer(t)
	ms := now.Add(-time.Minute).UnixMilli()
	body := fmt.Sprintf(` [ { "properties" : { "nested": {"time": "x", "a": [1, {"}": "]"}]},
		"\u0074ime" : %d , "distinct_id":"user-\u0031\"q", "$insert_id" : "id-1", "token": "test-token" } ,
		"event" : "$experiment_\u0073tarted" } , {"event":"x","properties":{"time":%d,"distinct_id":"\u0061non","$insert_id":"id-2"}} ] `, ms, ms)
	status, out, _ := post{body: []byte(body)}.do(t, srv)
	require.Equal(t, 400, status, "%v", out)
	recs := out["failed_records"].([]any)
	require.Len(t, recs, 1)
	assert.Equal(t, float64(1), recs[0].(map[string]any)["index"])
	assert.Equal(t, "properties.distinct_id", recs[0].(map[string]any)["field"], "escaped \"anon\" is still anon")
	evs := srv.Events()
	require.Len(t, evs, 1)
	assert.Equal(t, "$experiment_started", evs[0].Name)
	assert.Equal(t, "user-1\"q", evs[0].DistinctID)
	assert.Equal(t, now.Add(-time.Minute), evs[0].Time.UTC())
	assert.Len(t, evs[0].Properties, 5)
}

func TestNewServerRefusesBadOptions(t *testing.T) {
	cases := map[string]struct {
		opts []mixpaneltest.Option
		want []string
	}{
		"empty token":          {[]mixpaneltest.Option{mixpaneltest.WithToken(" ")}, []string{"WithToken"}},
		"partial account":      {[]mixpaneltest.Option{mixpaneltest.WithServiceAccount("sa", "", "42")}, []string{"WithServiceAccount"}},
		"zero max events":      {[]mixpaneltest.Option{mixpaneltest.WithMaxEvents(0)}, []string{"WithMaxEvents(0)"}},
		"negative max bytes":   {[]mixpaneltest.Option{mixpaneltest.WithMaxBytes(-1)}, []string{"WithMaxBytes(-1)"}},
		"nil clock":            {[]mixpaneltest.Option{mixpaneltest.WithClock(nil)}, []string{"WithClock"}},
		"nil option":           {[]mixpaneltest.Option{nil}, []string{"option 0 is nil"}},
		"every error reported": {[]mixpaneltest.Option{mixpaneltest.WithMaxEvents(-2), nil, mixpaneltest.WithMaxBytes(0)}, []string{"WithMaxEvents(-2)", "option 1 is nil", "WithMaxBytes(0)"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv, err := mixpaneltest.NewServer(tc.opts...)
			require.Error(t, err)
			assert.Nil(t, srv)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestServerTokenDefaultsAndOptions(t *testing.T) {
	assert.Equal(t, "test-token", newServer(t).Token())
	assert.Equal(t, "tok", newServer(t, mixpaneltest.WithToken("tok")).Token())
}
