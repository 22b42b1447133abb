package beacon_test

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

// A crawler that runs the page's script (Googlebot renders pages) posts
// the token like a browser: it is answered 204, counted, and not
// confirmed. Browsers, headless Chromium included, and apps confirm.
func TestBotsDoNotConfirm(t *testing.T) {
	for _, tc := range []struct {
		name, agent string
		opts        []beacon.Option
		confirmed   bool
	}{
		{"googlebot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/131.0.0.0 Safari/537.36", nil, false},
		{"browser", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", nil, true},
		{"headless chromium", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", nil, true},
		{"an app", "Checkout/3.2 (iPhone; iOS 18.1) CFNetwork/1568 Darwin/24.1.0", nil, true},
		{"filter disabled", "Googlebot/2.1", []beacon.Option{beacon.WithBotFilter(func(*http.Request) bool { return false })}, true},
		{"own filter", "Checkout/3.2", []beacon.Option{beacon.WithBotFilter(func(r *http.Request) bool {
			return exposure.IsKnownBot(r) || strings.HasPrefix(r.UserAgent(), "Checkout/")
		})}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			tok := e.token(t, "ann")
			srv := httptest.NewServer(e.confirmer)
			t.Cleanup(srv.Close)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(tok))
			require.NoError(t, err)
			req.Header.Set("User-Agent", tc.agent)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			e.settle(t)
			st := e.confirmer.Stats()
			if tc.confirmed {
				assert.Len(t, e.recorder.Exposures(), 1)
				assert.Equal(t, uint64(1), st.Accepted)
				assert.Zero(t, st.Bots)
			} else {
				assert.Empty(t, e.recorder.Exposures())
				assert.Zero(t, st.Accepted)
				assert.Zero(t, st.Rejected)
				assert.Equal(t, uint64(1), st.Bots)
			}
		})
	}
}

func TestWithBotFilterRefusesNil(t *testing.T) {
	tr, err := exposure.NewTracker(exposure.WithSink(discardSink{}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(t.Context()) })
	_, err = beacon.NewConfirmer(tr, beacon.WithKeys(newKey(t)), beacon.WithBotFilter(nil))
	require.ErrorIs(t, err, exposure.ErrInvalidConfig)
	assert.ErrorContains(t, err, "WithBotFilter")
}
