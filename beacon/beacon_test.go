package beacon_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewConfirmerRejectsMisconfiguration(t *testing.T) {
	tr, err := exposure.NewTracker(exposure.WithSink(exposuretest.NewRecorder()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	secret := bytes.Repeat([]byte("s3cr3t!"), 4) // 28 bytes
	key := newKey(t)
	tests := []struct {
		name    string
		tracker *exposure.Tracker
		opts    []beacon.Option
		want    []string
	}{
		{"nil tracker", nil, []beacon.Option{beacon.WithKeys(key)}, []string{"nil Tracker"}},
		{"nil option", tr, []beacon.Option{beacon.WithKeys(key), nil}, []string{"beacon.NewConfirmer: option 1 is nil"}},
		{"no WithKeys", tr, nil, []string{"needs beacon.WithKeys"}},
		{"WithKeys of nothing", tr, []beacon.Option{beacon.WithKeys()}, []string{"beacon.WithKeys given no key"}},
		{"short key", tr, []beacon.Option{beacon.WithKeys(key, secret)}, []string{"beacon.WithKeys key 1 is 28 bytes; each key needs at least 32"}},
		{"expiry too short", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithExpiry(time.Millisecond)}, []string{"beacon.WithExpiry must be at least 1s, got 1ms"}},
		{"ratio zero", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithVisibility(0, time.Second)}, []string{"ratio must be in (0, 1], got 0"}},
		{"ratio above one", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithVisibility(1.5, time.Second)}, []string{"ratio must be in (0, 1], got 1.5"}},
		{"ratio NaN", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithVisibility(math.NaN(), time.Second)}, []string{"ratio must be in (0, 1], got NaN"}},
		{"negative dwell", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithVisibility(0.5, -time.Second)}, []string{"dwell must be between 0 and 10m, got -1s"}},
		{"dwell over ten minutes", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithVisibility(0.5, 11*time.Minute)}, []string{"dwell must be between 0 and 10m, got 11m0s"}},
		{"dwell not shorter than expiry", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithExpiry(time.Minute), beacon.WithVisibility(0.5, 2*time.Minute)},
			[]string{"dwell 2m0s must be shorter than the expiry 1m0s"}},
		{"nil logger", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithLogger(nil)}, []string{"beacon.WithLogger given a nil logger"}},
		{"application name too long", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithApplication(strings.Repeat("a", 256))},
			[]string{"beacon.WithApplication name", "at most 255 bytes (256 bytes)"}},
		{"application name not UTF-8", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithApplication("sh\xffop")},
			[]string{`beacon.WithApplication name "sh\xffop" is not UTF-8`}},
		{"rate zero", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithRateLimit(0, 5, nil)}, []string{"perSecond must be positive and finite, got 0"}},
		{"rate NaN", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithRateLimit(math.NaN(), 5, nil)}, []string{"perSecond must be positive and finite, got NaN"}},
		{"rate infinite", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithRateLimit(math.Inf(1), 5, nil)}, []string{"perSecond must be positive and finite, got +Inf"}},
		{"burst zero", tr, []beacon.Option{beacon.WithKeys(key), beacon.WithRateLimit(1, 0, nil)}, []string{"burst must be at least 1, got 0"}},
		{"every error at once", nil, []beacon.Option{beacon.WithKeys(secret), beacon.WithExpiry(0), nil},
			[]string{"nil Tracker", "key 0 is 28 bytes", "WithExpiry must be at least 1s", "option 2 is nil"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := beacon.NewConfirmer(tc.tracker, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "s3cr3t", "a key never appears in an error")
		})
	}

	t.Run("valid", func(t *testing.T) {
		c, err := beacon.NewConfirmer(tr, beacon.WithKeys(newKey(t), newKey(t)),
			beacon.WithExpiry(10*time.Minute), beacon.WithVisibility(1, 0), beacon.WithLogger(quietLogger))
		require.NoError(t, err)
		assert.NotNil(t, c)
	})
}

func TestExposureBeaconIsSentOnlyByTheBrowser(t *testing.T) {
	e := newEnv(t)
	// The flag is marked too: the beacon still wins, the server sends nothing.
	out := e.render(t, e.template(t,
		`<div {{ exposureBeacon .Ctx "checkout-redesign" }}>{{ exposed .Ctx "checkout-redesign" }}</div>`), userCtx("ana"))
	require.Regexp(t, `^<div data-exposure="[A-Za-z0-9_-]+"></div>$`, out)
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures(), "the server commit sent a beacon's exposure")
	assert.Equal(t, uint64(1), e.confirmer.Stats().Issued)
	assert.Equal(t, uint64(1), e.count(exposure.StageHandedOff))
	assert.Zero(t, e.count(exposure.StageCommitted))

	token := strings.TrimSuffix(strings.TrimPrefix(out, `<div data-exposure="`), `"></div>`)
	rec := post(t, e.confirmer, strings.NewReader(token))
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
	assert.Equal(t, uint64(1), e.count(exposure.StageCommitted))
	assert.Equal(t, uint64(1), e.confirmer.Stats().Accepted)
}

func TestConfirmedAssignmentKeepsTheSubject(t *testing.T) {
	e := newEnv(t)
	ec := openfeature.NewEvaluationContext("tk-3", map[string]any{
		exposure.AttributeUserID: "user-3", exposure.AttributeDeviceID: "device-3", "plan": "pro",
		"seats": 12, "beta": true, "tags": []string{"a", "b"},
	})
	before := time.Now()
	out := e.render(t, e.template(t, `<i {{ exposureBeacon .Ctx "checkout-redesign" }}>`), ec)
	m := tokenAttr.FindStringSubmatch(out)
	require.Len(t, m, 2)
	require.Equal(t, http.StatusNoContent, post(t, e.confirmer, strings.NewReader(m[1])).Code)
	e.settle(t)
	got := e.recorder.Exposures()
	require.Len(t, got, 1)
	a := got[0].Assignment
	assert.Equal(t, exposure.Identity{DistinctID: "user-3", UserID: "user-3", DeviceID: "device-3"}, a.Identity)
	assert.Equal(t, "tk-3", a.Context.TargetingKey())
	assert.Equal(t, "user-3", a.Context.Attribute(exposure.AttributeUserID))
	assert.Equal(t, "device-3", a.Context.Attribute(exposure.AttributeDeviceID))
	// The whole evaluation context travels (encrypted), for vendor sinks
	// that evaluate again: strings, numbers and booleans with their types,
	// other values as their JSON decodes.
	assert.Equal(t, map[string]any{
		exposure.AttributeUserID: "user-3", exposure.AttributeDeviceID: "device-3", "plan": "pro",
		"seats": 12, "beta": true, "tags": []any{"a", "b"},
	}, a.Context.Attributes())
	assert.NotEmpty(t, a.Reason)
	// The Tracker's clock is coarse (about a millisecond, more under load).
	assert.WithinRange(t, a.EvaluatedAt, before.Add(-100*time.Millisecond), time.Now(), "the evaluation time, kept to the millisecond")
}

// Vendor sinks compare a fresh evaluation with the provider's own name of
// the variant: an exposure confirmed in the browser keeps it, although the
// experiment renames it (provider variant "b", experiment variant
// "Variant B").
func TestConfirmedExposureKeepsTheProviderVariant(t *testing.T) {
	e := newEnvWith(t, []exposure.Experiment{checkout}, memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flagKey: {Key: flagKey, State: memprovider.Enabled, DefaultVariant: "b",
			Variants: map[string]any{"a": "classic", "b": "one-page"}},
	}))
	token := e.token(t, "pv-user")
	require.Equal(t, http.StatusNoContent, post(t, e.confirmer, strings.NewReader(token)).Code)
	e.settle(t)
	got := e.recorder.Exposures()
	require.Len(t, got, 1)
	assert.Equal(t, "Variant B", got[0].Variant, "the experiment's name of the variant")
	assert.Equal(t, "b", got[0].ProviderVariant, "the provider's name of the variant")
}

func TestExposureBeaconMarkAfterCommitIsNotSentByTheServer(t *testing.T) {
	e := newEnv(t)
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("streamer"))
	require.NoError(t, err)
	require.NoError(t, scope.Commit(ctx)) // a streaming handler commits early
	tmpl := e.template(t, `<i {{ exposureBeacon .Ctx "checkout-redesign" }}>{{ exposed .Ctx "checkout-redesign" }}`)
	var out bytes.Buffer
	require.NoError(t, tmpl.Execute(&out, map[string]any{"Ctx": ctx}))
	require.Regexp(t, `^<i data-exposure="[A-Za-z0-9_-]{40,}">$`, out.String())
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures())
}

func TestExposureBeaconTakesARequest(t *testing.T) {
	e := newEnv(t)
	tmpl := e.template(t, `<i {{ exposureBeacon .Req "checkout-redesign" }}>`)
	var out bytes.Buffer
	h := e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := e.client.StringValue(r.Context(), flagKey, "classic", userCtx("req"))
		require.NoError(t, err)
		require.NoError(t, tmpl.Execute(&out, map[string]any{"Req": r}))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
	assert.Regexp(t, tokenAttr, out.String())
	assert.Equal(t, uint64(1), e.confirmer.Stats().Issued)
}

func TestExposureBeaconMisuseRendersNothing(t *testing.T) {
	var logs lockedbuf.Buffer
	e := newEnv(t, beacon.WithLogger(newTextLogger(&logs)))
	tmpl := e.template(t, `a{{ exposureBeacon .Nothing "x" }}b{{ exposureBeacon .Plain "x" }}`+
		`c{{ exposureBeacon .Ctx "not-assigned" }}d<p {{ exposureBeacon .Ctx "checkout-redesign" }}>`)
	ctx, _ := e.tracker.Scope(t.Context())
	var out bytes.Buffer
	require.NoError(t, tmpl.Execute(&out, map[string]any{"Nothing": nil, "Plain": context.Background(), "Ctx": ctx}))
	assert.Equal(t, "abcd<p >", out.String())
	st := e.confirmer.Stats()
	assert.Equal(t, uint64(4), st.NotIssued, "no context, no scope, and two flags not assigned")
	assert.Zero(t, st.Issued)
	assert.Equal(t, uint64(2), e.count(exposure.StageUnassignedMark), "the Tracker counts the flags not assigned, once each")
	assert.Zero(t, e.count(exposure.StageHandedOff))
	assert.Equal(t, 1, countLines(logs.String(), "level=WARN"), "rate-limited to one line: %s", logs.String())
	assert.Contains(t, logs.String(), "needs a context.Context or *http.Request")
}

func TestConfirmerAcceptsOnceAndDeduplicatesReplays(t *testing.T) {
	e := newEnv(t)
	token := e.token(t, "replayer")
	for i := range 3 {
		rec := post(t, e.confirmer, strings.NewReader(token+"\n"))
		require.Equal(t, http.StatusNoContent, rec.Code, "post %d", i)
		assert.Empty(t, rec.Body.String())
		assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	}
	// A second page of the same subject: a new token, the same exposure.
	require.Equal(t, http.StatusNoContent, post(t, e.confirmer, strings.NewReader(e.token(t, "replayer"))).Code)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
	assert.Equal(t, uint64(4), e.confirmer.Stats().Accepted)
	assert.Equal(t, uint64(3), e.count(exposure.StageDuplicate))
	assert.Equal(t, uint64(1), e.count(exposure.StageCommitted))
}

func TestConfirmerRefusesAndCounts(t *testing.T) {
	e := newEnv(t)
	good := e.token(t, "victim")

	// Another Confirmer of the same Tracker, with its own key.
	stranger, err := beacon.NewConfirmer(e.tracker, beacon.WithKeys(newKey(t)), beacon.WithLogger(quietLogger))
	require.NoError(t, err)
	forged := (&env{tracker: e.tracker, confirmer: stranger, client: e.client}).token(t, "victim")
	raw, err := base64.RawURLEncoding.DecodeString(good)
	require.NoError(t, err)
	raw[len(raw)-1] ^= 1 // the signature's last bit
	tampered := base64.RawURLEncoding.EncodeToString(raw)

	type counter func(beacon.Stats) uint64
	malformed := func(s beacon.Stats) uint64 { return s.Malformed }
	forgedC := func(s beacon.Stats) uint64 { return s.Forged }
	tooLarge := func(s beacon.Stats) uint64 { return s.TooLarge }
	wrongMethod := func(s beacon.Stats) uint64 { return s.WrongMethod }

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
			before := e.confirmer.Stats()
			req := httptest.NewRequestWithContext(t.Context(), tc.method, "/exposure/beacon", tc.body)
			if tc.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			e.confirmer.ServeHTTP(rec, req)
			assert.Equal(t, tc.code, rec.Code)
			assert.Empty(t, rec.Body.String(), "no detail")
			after := e.confirmer.Stats()
			assert.Equal(t, tc.counter(before)+1, tc.counter(after), "counted under its reason")
			assert.Equal(t, before.Rejected+1, after.Rejected)
			if tc.code == http.StatusMethodNotAllowed {
				assert.Equal(t, "GET, HEAD, POST", rec.Header().Get("Allow"))
			}
		})
	}
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures(), "a refused request sends nothing")
	assert.Zero(t, e.confirmer.Stats().Accepted)
	assert.Zero(t, stranger.Stats().Rejected, "each Confirmer counts its own requests")

	// The genuine token, after all that, still works.
	require.Equal(t, http.StatusNoContent, post(t, e.confirmer, strings.NewReader(good)).Code)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}

func TestConfirmerRefusesAnExpiredToken(t *testing.T) {
	e := newEnv(t, beacon.WithExpiry(time.Second), beacon.WithVisibility(0.5, 100*time.Millisecond))
	token := e.token(t, "late")
	time.Sleep(time.Second + 50*time.Millisecond)
	rec := post(t, e.confirmer, strings.NewReader(token))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	st := e.confirmer.Stats()
	assert.Equal(t, uint64(1), st.Expired)
	assert.Equal(t, uint64(1), st.Rejected)
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures())
}

func TestConfirmerAfterTheTrackerClosed(t *testing.T) {
	e := newEnv(t)
	token := e.token(t, "closing")
	require.NoError(t, e.tracker.Close(t.Context()))
	rec := post(t, e.confirmer, strings.NewReader(token))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	st := e.confirmer.Stats()
	assert.Equal(t, uint64(1), st.Unconfirmed)
	assert.Equal(t, uint64(1), st.Rejected)
	assert.Zero(t, st.Accepted)
	assert.Empty(t, e.recorder.Exposures())
}

func TestConfirmerOverARealServer(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.confirmer)
	t.Cleanup(srv.Close)
	send := func(body io.Reader) int {
		resp, err := srv.Client().Post(srv.URL, "text/plain;charset=UTF-8", body)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode
	}
	// A large body that the server refuses before reading it all.
	assert.Equal(t, http.StatusRequestEntityTooLarge, send(io.LimitReader(zeroReader{}, 1<<20)))
	assert.Equal(t, http.StatusNoContent, send(strings.NewReader(e.token(t, "net"))))
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestConfirmerServesTheScript(t *testing.T) {
	e := newEnv(t, beacon.WithVisibility(0.75, 1500*time.Millisecond))
	srv := httptest.NewServer(e.confirmer)
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
	assert.Contains(t, js, "const VISIBILITY = { ratio: 0.75, dwell: 1500 }; // exposure: visibility",
		"the Confirmer's settings are in the script")
	assert.NotContains(t, js, "exposure: module", "the module is inlined")
	assert.Contains(t, js, "function observe(element, token, options)", "the module is inlined")
	assert.NotRegexp(t, `(?m)^\s*(export|import)\b`, js, "as a classic script")
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
	assert.Equal(t, etag, resp.Header.Get("ETag"))

	// Defaults, and another ETag for other settings.
	d := newEnv(t)
	rec := httptest.NewRecorder()
	d.confirmer.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
	assert.Contains(t, rec.Body.String(), "const VISIBILITY = { ratio: 0.5, dwell: 1000 }; // exposure: visibility")
	assert.NotEqual(t, etag, rec.Header().Get("ETag"))
	assert.Zero(t, d.confirmer.Stats().Rejected, "serving the script is no rejection")
}

func TestConfirmerUnderMiddleware(t *testing.T) {
	e := newEnv(t)
	rec := post(t, e.tracker.Middleware(e.confirmer), strings.NewReader(e.token(t, "wrapped")))
	require.Equal(t, http.StatusNoContent, rec.Code)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}

func TestKeyRotationKeepsTokensInFlight(t *testing.T) {
	oldKey, newKey := newKey(t), newKey(t)
	e := newEnv(t, beacon.WithKeys(oldKey))
	inFlight := e.token(t, "rotating")
	rotated, err := beacon.NewConfirmer(e.tracker, beacon.WithKeys(newKey, oldKey), beacon.WithLogger(quietLogger))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, post(t, rotated, strings.NewReader(inFlight)).Code, "the old key still verifies")
	retired, err := beacon.NewConfirmer(e.tracker, beacon.WithKeys(newKey), beacon.WithLogger(quietLogger))
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, post(t, retired, strings.NewReader(inFlight)).Code, "a retired key no longer verifies")
	assert.Equal(t, uint64(1), retired.Stats().Forged)
}
