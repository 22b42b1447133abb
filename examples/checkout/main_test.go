package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The demo as a visitor sees it: the home page assigns and prints nothing,
// the checkout prints one exposure, a refresh nothing new; the audit view
// and the beacon script are served.
func TestDemo(t *testing.T) {
	out := &lockedbuf.Buffer{}
	mux, tracker, err := newDemo(slog.New(slog.DiscardHandler), out)
	require.NoError(t, err)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar}
	get := func(path string) string {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	resp, err := client.PostForm(srv.URL+"/user", url.Values{"user": {"alice"}})
	require.NoError(t, err)
	resp.Body.Close()

	get("/")
	require.NoError(t, tracker.Flush(t.Context()))
	assert.Empty(t, out.String(), "the home page assigns; nothing is sent")

	page := get("/checkout")
	assert.Regexp(t, `<div id="accessories-slot" class="slot" data-exposure="`, page,
		"the token is on the slot, the same in every variant, not on the panel whose layout differs")
	get("/checkout")
	require.NoError(t, tracker.Flush(t.Context()))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1, "one exposure for two checkouts: %q", out.String())
	assert.Contains(t, lines[0], `"Experiment name":"Checkout Redesign"`)

	// A forged cookie is nobody: no assignment, no exposure.
	forged := &http.Client{}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/checkout", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: "user", Value: strings.Repeat("x", 4000)})
	resp, err = forged.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, tracker.Flush(t.Context()))
	assert.Len(t, strings.Split(strings.TrimSpace(out.String()), "\n"), 1, "still one exposure")

	var report map[string]any
	require.NoError(t, json.Unmarshal([]byte(get("/debug/exposures?format=json")), &report))
	assert.Contains(t, report, "experiments")
	assert.Contains(t, get("/exposure/beacon"), "IntersectionObserver")
	require.NoError(t, tracker.Close(t.Context()))
}

func TestDecodeKey(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	for _, s := range []string{hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw), " " + base64.StdEncoding.EncodeToString(raw) + "\n"} {
		k, err := decodeKey(s)
		require.NoError(t, err, s)
		assert.Equal(t, raw, k)
	}
	for _, s := range []string{"correct horse battery staple 123", strings.Repeat("a", 32), base64.StdEncoding.EncodeToString(raw[:16])} {
		_, err := decodeKey(s)
		require.Error(t, err, s)
		assert.NotContains(t, err.Error(), s, "the error never quotes the secret")
	}
}
