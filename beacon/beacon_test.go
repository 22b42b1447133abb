package exposure_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func beaconKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, exposure.MinBeaconKeyBytes)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

// beaconAttr is the attribute, as html/template renders it inside a tag.
var beaconAttr = regexp.MustCompile(`^<i data-exposure="([A-Za-z0-9_-]{40,})">$`)

// renderBeacon evaluates the checkout flag for user in a fresh Scope,
// renders tmpl with {"Ctx": ctx}, commits the Scope like the middleware
// would, and returns the output.
func renderBeacon(t testing.TB, e *env, tmpl *template.Template, user string) string {
	t.Helper()
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx(user))
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, tmpl.Execute(&out, map[string]any{"Ctx": ctx}))
	require.NoError(t, scope.Commit(ctx))
	return out.String()
}

// beaconToken renders the checkout flag's beacon for user and returns the
// token.
func beaconToken(t testing.TB, e *env, user string) string {
	t.Helper()
	tmpl := template.Must(template.New("").Funcs(exposure.TemplateFuncs()).Parse(`<i {{ exposureBeacon .Ctx "checkout-redesign" }}>`))
	m := beaconAttr.FindStringSubmatch(renderBeacon(t, e, tmpl, user))
	require.Len(t, m, 2, "exposureBeacon renders a data-exposure attribute")
	return m[1]
}

func postBeacon(t testing.TB, h http.Handler, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/exposure/beacon", body))
	return rec
}

func TestNewRejectsBeaconMisconfiguration(t *testing.T) {
	sink := exposure.WithSink(exposuretest.NewRecorder())
	secret := bytes.Repeat([]byte("s3cr3t!"), 4) // 28 bytes
	tests := []struct {
		name string
		opt  exposure.Option
		want string
	}{
		{"short key", exposure.WithBeaconKeys(beaconKey(t), secret), "WithBeaconKeys key 1 is 28 bytes"},
		{"no key", exposure.WithBeaconKeys(), "WithBeaconKeys given no key"},
		{"expiry too short", exposure.WithBeaconExpiry(time.Millisecond), "WithBeaconExpiry"},
		{"ratio zero", exposure.WithBeaconVisibility(0, time.Second), "ratio must be in (0, 1]"},
		{"ratio above one", exposure.WithBeaconVisibility(1.5, time.Second), "ratio must be in (0, 1]"},
		{"negative dwell", exposure.WithBeaconVisibility(0.5, -time.Second), "dwell must be between"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := exposure.New(sink, tc.opt)
			require.Error(t, err)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cr3t", "a key never appears in an error")
		})
	}

	t.Run("tuning without keys", func(t *testing.T) {
		_, err := exposure.New(sink, exposure.WithBeaconVisibility(0.5, time.Second))
		require.ErrorIs(t, err, exposure.ErrInvalidConfig)
		assert.Contains(t, err.Error(), "WithBeaconVisibility given without WithBeaconKeys")
	})
	t.Run("dwell not shorter than expiry", func(t *testing.T) {
		_, err := exposure.New(sink, exposure.WithBeaconKeys(beaconKey(t)),
			exposure.WithBeaconExpiry(time.Minute), exposure.WithBeaconVisibility(0.5, 2*time.Minute))
		require.ErrorIs(t, err, exposure.ErrInvalidConfig)
		assert.Contains(t, err.Error(), "dwell 2m0s must be shorter than the beacon expiry 1m0s")
	})
	t.Run("valid", func(t *testing.T) {
		tr, err := exposure.New(sink, exposure.WithBeaconKeys(beaconKey(t), beaconKey(t)),
			exposure.WithBeaconExpiry(10*time.Minute), exposure.WithBeaconVisibility(1, 0))
		require.NoError(t, err)
		require.NoError(t, tr.Close(t.Context()))
	})
}

func TestExposureBeaconIsSentOnlyByTheBrowser(t *testing.T) {
	e := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)))
	// The flag is marked too: the beacon still wins, the server sends nothing.
	tmpl := template.Must(template.New("").Funcs(exposure.TemplateFuncs()).Parse(
		`<div {{ exposureBeacon .Ctx "checkout-redesign" }}>{{ exposed .Ctx "checkout-redesign" }}</div>`))
	out := renderBeacon(t, e, tmpl, "ana")
	require.Regexp(t, `^<div data-exposure="[A-Za-z0-9_-]+">`, out)
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures(), "the server commit sent a beacon's exposure")
	st := e.tracker.Stats()
	assert.Equal(t, uint64(1), st.Beacon.Issued)
	assert.Zero(t, st.Committed)

	token := beaconAttr.FindStringSubmatch(strings.Replace(strings.TrimSuffix(out, "</div>"), "<div ", "<i ", 1))
	require.Len(t, token, 2)
	rec := postBeacon(t, e.tracker.BeaconHandler(), strings.NewReader(token[1]))
	require.Equal(t, http.StatusNoContent, rec.Code)
	e.settle(t)
	got := e.recorder.Exposures()
	require.Len(t, got, 1)
	assert.Equal(t, "checkout-redesign", got[0].FlagKey)
	assert.Equal(t, "Checkout Redesign", got[0].Experiment)
	assert.Equal(t, "Variant A", got[0].Variant)
	assert.Equal(t, "ana", got[0].Identity.DistinctID)
	assert.Equal(t, "ana", got[0].Context.TargetingKey())
	assert.Len(t, got[0].InsertID, 32)
}

func TestExposureBeaconMarkAfterCommitIsNotSentByTheServer(t *testing.T) {
	e := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)))
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("streamer"))
	require.NoError(t, err)
	require.NoError(t, scope.Commit(ctx)) // a streaming handler commits early
	tmpl := template.Must(template.New("").Funcs(exposure.TemplateFuncs()).Parse(
		`<i {{ exposureBeacon .Ctx "checkout-redesign" }}>{{ exposed .Ctx "checkout-redesign" }}`))
	var out bytes.Buffer
	require.NoError(t, tmpl.Execute(&out, map[string]any{"Ctx": ctx}))
	require.Regexp(t, beaconAttr, out.String())
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures())
}

func TestExposureBeaconMisuseRendersNothing(t *testing.T) {
	var logs lockedbuf.Buffer
	withKeys := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)), exposure.WithLogger(newTextLogger(&logs)))
	tmpl := template.Must(template.New("").Funcs(exposure.TemplateFuncs()).Parse(
		`a{{ exposureBeacon .Nothing "x" }}b{{ exposureBeacon .Plain "x" }}c{{ exposureBeacon .Ctx "not-assigned" }}d<p {{ exposureBeacon .Ctx "checkout-redesign" }}>`))
	ctx, _ := withKeys.tracker.Scope(t.Context())
	var out bytes.Buffer
	require.NoError(t, tmpl.Execute(&out, map[string]any{"Nothing": nil, "Plain": context.Background(), "Ctx": ctx}))
	assert.Equal(t, "abcd<p >", out.String())
	st := withKeys.tracker.Stats()
	assert.Equal(t, uint64(2), st.Beacon.NotIssued)
	assert.Equal(t, uint64(2), st.UnassignedMarks)
	assert.Zero(t, st.Beacon.Issued)
	assert.Equal(t, 1, countLines(logs.String(), "not assigned"), "rate-limited to one line")

	t.Run("without keys", func(t *testing.T) {
		var logs lockedbuf.Buffer
		e := newEnv(t, exposure.WithLogger(newTextLogger(&logs)))
		tmpl := template.Must(template.New("").Funcs(exposure.TemplateFuncs()).Parse(
			`<div {{ exposureBeacon .Ctx "checkout-redesign" }}>`))
		for range 3 {
			assert.Equal(t, "<div >", renderBeacon(t, e, tmpl, "nokeys"))
		}
		e.settle(t)
		assert.Empty(t, e.recorder.Exposures(), "no keys: no exposure from the server either")
		assert.Equal(t, uint64(3), e.tracker.Stats().Beacon.NotIssued)
		assert.Equal(t, 1, countLines(logs.String(), "no WithBeaconKeys"))

		rec := postBeacon(t, e.tracker.BeaconHandler(), strings.NewReader("AQ"))
		assert.Equal(t, http.StatusBadRequest, rec.Code)
	})
}

func TestBeaconHandlerAcceptsOnceAndDeduplicatesReplays(t *testing.T) {
	e := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)))
	h := e.tracker.BeaconHandler()
	token := beaconToken(t, e, "replayer")
	for i := range 3 {
		rec := postBeacon(t, h, strings.NewReader(token+"\n"))
		require.Equal(t, http.StatusNoContent, rec.Code, "post %d", i)
		assert.Empty(t, rec.Body.String())
	}
	// A second page of the same subject: a new token, the same exposure.
	rec := postBeacon(t, h, strings.NewReader(beaconToken(t, e, "replayer")))
	require.Equal(t, http.StatusNoContent, rec.Code)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
	st := e.tracker.Stats()
	assert.Equal(t, uint64(4), st.Beacon.Accepted)
	assert.Equal(t, uint64(3), st.Duplicates)
	assert.Equal(t, uint64(1), st.Committed)
}

func TestBeaconHandlerRefusesAndCounts(t *testing.T) {
	e := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)))
	h := e.tracker.BeaconHandler()
	good := beaconToken(t, e, "victim")

	stranger := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)))
	forged := beaconToken(t, stranger, "victim")
	raw, err := base64.RawURLEncoding.DecodeString(good)
	require.NoError(t, err)
	raw[len(raw)-1] ^= 1 // the signature's last bit
	tampered := base64.RawURLEncoding.EncodeToString(raw)

	type counter func(exposure.BeaconStats) uint64
	malformed := func(s exposure.BeaconStats) uint64 { return s.Malformed }
	forgedC := func(s exposure.BeaconStats) uint64 { return s.Forged }
	tooLarge := func(s exposure.BeaconStats) uint64 { return s.TooLarge }
	wrongMethod := func(s exposure.BeaconStats) uint64 { return s.WrongMethod }

	tests := []struct {
		name    string
		method  string
		body    io.Reader
		chunked bool
		code    int
		counter counter
	}{
		{"forged with another key", http.MethodPost, strings.NewReader(forged), false, http.StatusBadRequest, forgedC},
		{"tampered", http.MethodPost, strings.NewReader(tampered), false, http.StatusBadRequest, forgedC},
		{"empty", http.MethodPost, strings.NewReader(""), false, http.StatusBadRequest, malformed},
		{"garbage", http.MethodPost, strings.NewReader("<script>alert(1)</script>"), false, http.StatusBadRequest, malformed},
		{"form-encoded", http.MethodPost, strings.NewReader("token=" + good), false, http.StatusBadRequest, malformed},
		{"two tokens", http.MethodPost, strings.NewReader(good + " " + good), false, http.StatusBadRequest, malformed},
		{"oversized", http.MethodPost, strings.NewReader(strings.Repeat("A", 8<<10+1)), false, http.StatusRequestEntityTooLarge, tooLarge},
		{"oversized without length", http.MethodPost, strings.NewReader(strings.Repeat("A", 64<<10)), true, http.StatusRequestEntityTooLarge, tooLarge},
		{"PUT", http.MethodPut, strings.NewReader(good), false, http.StatusMethodNotAllowed, wrongMethod},
		{"DELETE", http.MethodDelete, nil, false, http.StatusMethodNotAllowed, wrongMethod},
		{"OPTIONS", http.MethodOptions, nil, false, http.StatusMethodNotAllowed, wrongMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.tracker.Stats().Beacon
			req := httptest.NewRequestWithContext(t.Context(), tc.method, "/exposure/beacon", tc.body)
			if tc.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tc.code, rec.Code)
			assert.Empty(t, rec.Body.String(), "no detail")
			after := e.tracker.Stats().Beacon
			assert.Equal(t, tc.counter(before)+1, tc.counter(after), "counted under its reason")
			assert.Equal(t, before.Rejected+1, after.Rejected)
			if tc.code == http.StatusMethodNotAllowed {
				assert.Equal(t, "GET, HEAD, POST", rec.Header().Get("Allow"))
			}
		})
	}
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures(), "a refused request sends nothing")
	assert.Zero(t, e.tracker.Stats().Beacon.Accepted)

	// The genuine token, after all that, still works.
	require.Equal(t, http.StatusNoContent, postBeacon(t, h, strings.NewReader(good)).Code)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}

func TestBeaconHandlerOverARealServer(t *testing.T) {
	e := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)))
	srv := httptest.NewServer(e.tracker.BeaconHandler())
	t.Cleanup(srv.Close)
	post := func(body io.Reader) int {
		resp, err := srv.Client().Post(srv.URL, "text/plain;charset=UTF-8", body)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode
	}
	// A large body that the server refuses before reading it all.
	assert.Equal(t, http.StatusRequestEntityTooLarge, post(io.LimitReader(zeroReader{}, 1<<20)))
	assert.Equal(t, http.StatusNoContent, post(strings.NewReader(beaconToken(t, e, "net"))))
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestBeaconHandlerServesTheScript(t *testing.T) {
	e := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)), exposure.WithBeaconVisibility(0.75, 1500*time.Millisecond))
	srv := httptest.NewServer(e.tracker.BeaconHandler())
	t.Cleanup(srv.Close)

	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "public, max-age=3600", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	js := string(body)
	assert.Contains(t, js, `({"ratio":0.75,"dwell":1500});`, "the Tracker's settings are in the script")
	assert.NotContains(t, js, "exposure: settings")
	assert.Contains(t, js, "IntersectionObserver")
	assert.Contains(t, js, "sendBeacon")
	assert.Less(t, len(body), 16<<10, "the script stays small")

	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", etag)
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)

	resp, err = srv.Client().Head(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// Defaults.
	d := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)))
	rec := httptest.NewRecorder()
	d.tracker.BeaconHandler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
	assert.Contains(t, rec.Body.String(), `({"ratio":0.5,"dwell":1000});`)
	assert.Zero(t, d.tracker.Stats().Beacon.Rejected, "serving the script is no rejection")
}

func TestBeaconHandlerUnderMiddleware(t *testing.T) {
	e := newEnv(t, exposure.WithBeaconKeys(beaconKey(t)))
	h := e.tracker.Middleware(e.tracker.BeaconHandler())
	rec := postBeacon(t, h, strings.NewReader(beaconToken(t, e, "wrapped")))
	require.Equal(t, http.StatusNoContent, rec.Code)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}
