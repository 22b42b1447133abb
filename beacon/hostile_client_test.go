package beacon_test

// Tests of the confirmation endpoint against hostile clients and a shared
// key: tokens bound to their application, flags that are no longer
// experiments, and the per-client rate limit.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two applications that share a key cannot confirm each other's tokens
// once they have names; the unnamed application is one more name.
func TestTokensAreBoundToTheirApplication(t *testing.T) {
	key := newKey(t)
	shop := newEnv(t, beacon.WithKeys(key), beacon.WithApplication("shop"))
	blog := newEnv(t, beacon.WithKeys(key), beacon.WithApplication("blog"))
	unnamed := newEnv(t, beacon.WithKeys(key))
	shopToken, unnamedToken := shop.token(t, "ana"), unnamed.token(t, "bo")

	tests := []struct {
		name  string
		at    *env
		token string
		want  int
	}{
		{"another application's token", blog, shopToken, http.StatusBadRequest},
		{"a named application's token at the unnamed one", unnamed, shopToken, http.StatusBadRequest},
		{"the unnamed application's token at a named one", shop, unnamedToken, http.StatusBadRequest},
		{"its own token", shop, shopToken, http.StatusNoContent},
		{"the unnamed application's own token", unnamed, unnamedToken, http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.at.confirmer.Stats()
			assert.Equal(t, tc.want, post(t, tc.at.confirmer, strings.NewReader(tc.token)).Code)
			after := tc.at.confirmer.Stats()
			if tc.want == http.StatusBadRequest {
				assert.Equal(t, before.Forged+1, after.Forged, "refused as forged")
			} else {
				assert.Equal(t, before.Accepted+1, after.Accepted)
			}
		})
	}
	blog.settle(t)
	assert.Zero(t, blog.recorder.Len(), "the other application sent nothing")
	assert.Zero(t, blog.count(exposure.StageCommitted))
}

// A token of a flag the Tracker no longer registers (the experiment was
// removed by the deploy since the page was rendered) is refused, counted
// and sends nothing; the Tracker that still registers it accepts it.
func TestAFlagNoLongerAnExperimentIsNotConfirmed(t *testing.T) {
	key := newKey(t)
	before := newEnv(t, beacon.WithKeys(key))
	tok := before.token(t, "ana")

	search := exposure.Experiment{FlagKey: "search-ranking", Name: "Search Ranking"}
	after := newEnvWith(t, []exposure.Experiment{search}, checkoutProvider(), beacon.WithKeys(key))
	assert.Equal(t, http.StatusBadRequest, post(t, after.confirmer, strings.NewReader(tok)).Code)
	st := after.confirmer.Stats()
	assert.Equal(t, uint64(1), st.Unregistered)
	assert.Equal(t, uint64(1), st.Rejected)
	assert.Zero(t, st.Accepted)
	after.settle(t)
	assert.Zero(t, after.recorder.Len())
	assert.Zero(t, after.count(exposure.StageCommitted))

	assert.Equal(t, http.StatusNoContent, post(t, before.confirmer, strings.NewReader(tok)).Code)
	before.settle(t)
	assert.Equal(t, 1, before.recorder.Len())
}

// postFrom posts body to h as if from the client at remoteAddr, with the
// header X-Client set to client if it is not empty.
func postFrom(t *testing.T, h http.Handler, remoteAddr, client, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/exposure/beacon", strings.NewReader(body))
	req.RemoteAddr = remoteAddr
	if client != "" {
		req.Header.Set("X-Client", client)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Each client address (an IPv6 /64 counting as one) has its own bucket:
// past its burst it gets 429 with Retry-After, counted, and others are
// unaffected; the script itself is never limited.
func TestRateLimitByRemoteAddress(t *testing.T) {
	e := newEnv(t, beacon.WithRateLimit(0.5, 2, nil))
	tok := e.token(t, "ana")
	steps := []struct {
		from string
		want int
	}{
		{"192.0.2.1:1000", http.StatusNoContent},
		{"192.0.2.1:1001", http.StatusNoContent}, // another port, the same client
		{"192.0.2.1:1002", http.StatusTooManyRequests},
		{"192.0.2.2:1000", http.StatusNoContent},
		{"[2001:db8::1]:1000", http.StatusNoContent},
		{"[2001:db8::2]:1000", http.StatusNoContent}, // the same /64
		{"[2001:db8::3]:1000", http.StatusTooManyRequests},
		{"[2001:db8:0:1::1]:1000", http.StatusNoContent}, // another /64
	}
	for i, s := range steps {
		rec := postFrom(t, e.confirmer, s.from, "", tok)
		require.Equal(t, s.want, rec.Code, "step %d, from %s", i, s.from)
		if s.want == http.StatusTooManyRequests {
			assert.Equal(t, "2", rec.Header().Get("Retry-After"), "one token at 0.5/s: two seconds")
			assert.Equal(t, "close", rec.Header().Get("Connection"))
		}
	}
	st := e.confirmer.Stats()
	assert.Equal(t, uint64(2), st.RateLimited)
	assert.Equal(t, uint64(2), st.Rejected)
	assert.Equal(t, uint64(6), st.Accepted)

	get := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/exposure/beacon", nil)
	get.RemoteAddr = "192.0.2.1:1003"
	rec := httptest.NewRecorder()
	e.confirmer.ServeHTTP(rec, get)
	assert.Equal(t, http.StatusOK, rec.Code, "the script is not limited")
}

func TestRateLimitByCustomKey(t *testing.T) {
	e := newEnv(t, beacon.WithRateLimit(1, 1, func(r *http.Request) string { return r.Header.Get("X-Client") }))
	tok := e.token(t, "ana")
	// One proxy address, the clients told apart by the header it sets.
	assert.Equal(t, http.StatusNoContent, postFrom(t, e.confirmer, "10.0.0.1:1", "a", tok).Code)
	assert.Equal(t, http.StatusTooManyRequests, postFrom(t, e.confirmer, "10.0.0.1:2", "a", tok).Code)
	assert.Equal(t, http.StatusNoContent, postFrom(t, e.confirmer, "10.0.0.1:3", "b", tok).Code)
	assert.Equal(t, uint64(1), e.confirmer.Stats().RateLimited)
}

func TestRemoteIP(t *testing.T) {
	tests := []struct{ remoteAddr, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"192.0.2.1", "192.0.2.1"}, // no port
		{"not an address", "not an address"},
	}
	for _, tc := range tests {
		t.Run(tc.remoteAddr, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = tc.remoteAddr
			assert.Equal(t, tc.want, beacon.RemoteIP(r))
		})
	}
}
