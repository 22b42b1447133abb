package beacon_test

// Tests of the confirmation protocol (PROTOCOL.md) as a client that is not
// a browser page drawn by the server sees it: a JSON API hands out tokens
// with Confirmer.Token, a mobile app posts them back over real HTTP, and
// browsers of other origins are kept out unless listed.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// apiServer is a JSON API behind the Tracker's middleware: GET /api/checkout
// evaluates the checkout flag for the user in ?user= and answers the variant
// and its confirmation token; the Confirmer is mounted at /exposure/beacon.
func (e *env) apiServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/checkout", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), map[string]any{"country": "FR"})
		variant, err := e.client.StringValue(r.Context(), flagKey, "classic", ec)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tok, err := e.confirmer.Token(r.Context(), flagKey)
		if err != nil {
			t.Errorf("Token: %v", err) // a handler would log it and answer anyway
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"variant": variant, "exposureToken": tok})
	})
	mux.Handle("/exposure/beacon", e.confirmer)
	srv := httptest.NewServer(e.tracker.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv
}

// confirm posts tok as a mobile app would: a plain net/http client, no
// Origin, text/plain.
func confirm(t *testing.T, client *http.Client, url, tok string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/exposure/beacon", strings.NewReader(tok))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain")
	res, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	require.NoError(t, res.Body.Close())
	return res
}

// A mobile app: the API answers the variant with a token, the server's
// commit sends nothing, the app posts the token once the screen showed the
// variant, and the exposure arrives once; a replay is a duplicate.
func TestMobileAppConfirmsThroughTheJSONAPI(t *testing.T) {
	e := newEnv(t)
	srv := e.apiServer(t)
	client := srv.Client()

	res, err := client.Get(srv.URL + "/api/checkout?user=app-user")
	require.NoError(t, err)
	var body struct{ Variant, ExposureToken string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.NoError(t, res.Body.Close())
	require.Equal(t, "classic", body.Variant)
	require.NotEmpty(t, body.ExposureToken)
	assert.LessOrEqual(t, len(body.ExposureToken), 4096)

	e.settle(t)
	assert.Empty(t, e.recorder.Exposures(), "the server's commit left the exposure to the app")
	assert.Equal(t, uint64(1), e.count(exposure.StageHandedOff))

	res = confirm(t, client, srv.URL, body.ExposureToken)
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Empty(t, res.Header.Get("Access-Control-Allow-Origin"), "no CORS for a client that is not a browser")
	e.settle(t)
	got := e.recorder.Exposures()
	require.Len(t, got, 1)
	assert.Equal(t, "app-user", got[0].Identity.DistinctID)
	assert.Equal(t, "Checkout Redesign", got[0].Experiment)
	assert.Equal(t, "FR", got[0].Context.Attribute("country"), "the evaluation context travels with the token")

	// The app retries (a lost answer, a second screen): a duplicate.
	res = confirm(t, client, srv.URL, body.ExposureToken)
	assert.Equal(t, http.StatusNoContent, res.StatusCode, "a replay is answered like the first")
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1, "never a second exposure")
	assert.Equal(t, uint64(1), e.count(exposure.StageDuplicate))
	assert.Equal(t, uint64(2), e.confirmer.Stats().Accepted)

	// A body that is not a token: 400, with no detail.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/exposure/beacon", strings.NewReader("nope"))
	require.NoError(t, err)
	res, err = client.Do(req)
	require.NoError(t, err)
	detail, _ := io.ReadAll(res.Body)
	require.NoError(t, res.Body.Close())
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Empty(t, detail, "a refusal says nothing about why")
}

// Misuse returns an error the handler can log, wrapping the root's
// sentinels, issues nothing and is counted.
func TestTokenMisuse(t *testing.T) {
	e := newEnv(t)

	_, err := e.confirmer.Token(context.Background(), flagKey)
	assert.ErrorIs(t, err, exposure.ErrNoScope, "no Scope in the context")

	ctx, scope := e.tracker.Scope(t.Context())
	_, err = e.confirmer.Token(ctx, flagKey)
	assert.ErrorIs(t, err, exposure.ErrNotAssigned, "the flag was not evaluated")

	var nilCtx context.Context
	_, err = e.confirmer.Token(nilCtx, flagKey) //nolint:staticcheck // misuse on purpose
	assert.ErrorIs(t, err, exposure.ErrNoScope)

	_, err = e.client.StringValue(ctx, flagKey, "classic", userCtx("u"))
	require.NoError(t, err)
	tok, err := e.confirmer.Token(ctx, flagKey)
	require.NoError(t, err)
	again, err := e.confirmer.Token(ctx, flagKey)
	require.NoError(t, err, "a second token of the same assignment")
	assert.NotEqual(t, tok, again)
	require.NoError(t, scope.Commit(ctx))

	st := e.confirmer.Stats()
	assert.Equal(t, uint64(3), st.NotIssued)
	assert.Equal(t, uint64(2), st.Issued)

	// Either token confirms the assignment; the other is a duplicate.
	assert.Equal(t, http.StatusNoContent, post(t, e.confirmer, strings.NewReader(again)).Code)
	assert.Equal(t, http.StatusNoContent, post(t, e.confirmer, strings.NewReader(tok)).Code)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}

// The endpoint is same-origin by default; WithAllowedOrigins lets listed
// origins in, with CORS answers that name the origin, never a wildcard,
// never credentials, and vary by Origin.
func TestCrossOriginPosts(t *testing.T) {
	const app = "https://app.example.com"
	tests := []struct {
		name    string
		opts    []beacon.Option
		method  string
		headers map[string]string
		code    int
		acao    string // Access-Control-Allow-Origin expected
		vary    bool
	}{
		{name: "no Origin: not a browser", method: http.MethodPost, code: http.StatusNoContent},
		{name: "same origin", method: http.MethodPost,
			headers: map[string]string{"Origin": "http://beacon.test", "Sec-Fetch-Site": "same-origin"}, code: http.StatusNoContent},
		{name: "same origin, Origin only", method: http.MethodPost,
			headers: map[string]string{"Origin": "http://beacon.test"}, code: http.StatusNoContent},
		{name: "another origin by default", method: http.MethodPost,
			headers: map[string]string{"Origin": app, "Sec-Fetch-Site": "cross-site"}, code: http.StatusForbidden},
		{name: "another origin, Origin only", method: http.MethodPost,
			headers: map[string]string{"Origin": app}, code: http.StatusForbidden},
		{name: "a sibling subdomain is another origin", method: http.MethodPost,
			headers: map[string]string{"Origin": "https://evil.example.com", "Sec-Fetch-Site": "same-site"}, code: http.StatusForbidden},
		{name: "listed origin", opts: []beacon.Option{beacon.WithAllowedOrigins(app)}, method: http.MethodPost,
			headers: map[string]string{"Origin": app, "Sec-Fetch-Site": "cross-site"}, code: http.StatusNoContent, acao: app, vary: true},
		{name: "unlisted origin with a list", opts: []beacon.Option{beacon.WithAllowedOrigins(app)}, method: http.MethodPost,
			headers: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, code: http.StatusForbidden, vary: true},
		{name: "preflight of a listed origin", opts: []beacon.Option{beacon.WithAllowedOrigins(app)}, method: http.MethodOptions,
			headers: map[string]string{"Origin": app, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
			code:    http.StatusNoContent, acao: app, vary: true},
		{name: "preflight of an unlisted origin", opts: []beacon.Option{beacon.WithAllowedOrigins(app)}, method: http.MethodOptions,
			headers: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
			code:    http.StatusMethodNotAllowed, vary: true},
		{name: "preflight for another method", opts: []beacon.Option{beacon.WithAllowedOrigins(app)}, method: http.MethodOptions,
			headers: map[string]string{"Origin": app, "Access-Control-Request-Method": "PUT"},
			code:    http.StatusMethodNotAllowed, acao: app, vary: true},
		{name: "preflight without a list", method: http.MethodOptions,
			headers: map[string]string{"Origin": app, "Access-Control-Request-Method": "POST"}, code: http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			tok := e.token(t, "cors-user")
			req := httptest.NewRequestWithContext(t.Context(), tc.method, "http://beacon.test/exposure/beacon", strings.NewReader(tok))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			e.confirmer.ServeHTTP(rec, req)
			assert.Equal(t, tc.code, rec.Code)
			assert.Empty(t, rec.Body.String())
			hd := rec.Header()
			assert.Equal(t, tc.acao, hd.Get("Access-Control-Allow-Origin"))
			assert.Empty(t, hd.Get("Access-Control-Allow-Credentials"), "never credentials")
			assert.NotEqual(t, "*", hd.Get("Access-Control-Allow-Origin"), "never a wildcard")
			if tc.vary {
				assert.Contains(t, hd.Values("Vary"), "Origin")
			}
			if tc.method == http.MethodOptions && tc.code == http.StatusNoContent {
				assert.Equal(t, "POST", hd.Get("Access-Control-Allow-Methods"))
				assert.Equal(t, "Content-Type", hd.Get("Access-Control-Allow-Headers"))
				assert.Equal(t, "7200", hd.Get("Access-Control-Max-Age"))
			}
			st := e.confirmer.Stats()
			if tc.code == http.StatusForbidden {
				assert.Equal(t, uint64(1), st.CrossOrigin)
				e.settle(t)
				assert.Empty(t, e.recorder.Exposures(), "a refused post sends nothing")
			}
			if tc.method == http.MethodPost && tc.code == http.StatusNoContent {
				assert.Equal(t, uint64(1), st.Accepted)
			}
		})
	}
}

func TestWithAllowedOriginsRefusesWhatIsNotAnOrigin(t *testing.T) {
	tr := newEnv(t).tracker
	for _, bad := range []string{
		"*", "null", "", "app.example.com", "https://", "https://*.example.com", "https://app.example.com/",
		"https://app.example.com/path", "https://App.Example.com", "ftp://app.example.com", "https://user@app.example.com",
		"https://app.example.com?x", "https://app.example.com#f", "https://app.example.com:", "https://app.example.com:99999",
		"HTTPS://app.example.com", " https://app.example.com",
	} {
		t.Run(bad, func(t *testing.T) {
			_, err := beacon.NewConfirmer(tr, beacon.WithKeys(newKey(t)), beacon.WithAllowedOrigins(bad))
			require.Error(t, err)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
		})
	}
	_, err := beacon.NewConfirmer(tr, beacon.WithKeys(newKey(t)), beacon.WithAllowedOrigins())
	assert.ErrorIs(t, err, exposure.ErrInvalidConfig, "no origin")
	for _, good := range []string{"https://app.example.com", "http://localhost:5173", "https://[::1]:8443", "http://127.0.0.1"} {
		_, err := beacon.NewConfirmer(tr, beacon.WithKeys(newKey(t)), beacon.WithAllowedOrigins(good))
		assert.NoError(t, err, good)
	}
}
