package beacon_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/exposurekit/exposure/beacon"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The module's files are served as they are in beacon/js, as JavaScript,
// revalidated by ETag; nothing else is served.
func TestModuleServesFiles(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(http.StripPrefix("/exposure/js/", e.confirmer.Module()))
	t.Cleanup(srv.Close)

	for _, name := range []string{"index.js", "index.d.ts", "react.js", "react.d.ts", "vue.js", "vue.d.ts"} {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("js", name))
			require.NoError(t, err)
			resp, err := http.Get(srv.URL + "/exposure/js/" + name)
			require.NoError(t, err)
			body := readAll(t, resp)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.Equal(t, "public, max-age=3600", resp.Header.Get("Cache-Control"))
			assert.Equal(t, string(want), body, "the embedded file is the one in beacon/js")
			etag := resp.Header.Get("ETag")
			require.Regexp(t, `^"[0-9a-f]{24}"$`, etag)

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/exposure/js/"+name, nil)
			require.NoError(t, err)
			req.Header.Set("If-None-Match", etag)
			resp, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			assert.Empty(t, readAll(t, resp))
			assert.Equal(t, http.StatusNotModified, resp.StatusCode, "revalidated by ETag")
		})
	}

	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/exposure/js/", http.StatusNotFound},
		{http.MethodGet, "/exposure/js/package.json", http.StatusNotFound},
		{http.MethodGet, "/exposure/js/testdata/vanilla-app.js", http.StatusNotFound},
		{http.MethodGet, "/exposure/js/../beacon.js", http.StatusNotFound},
		{http.MethodHead, "/exposure/js/index.js", http.StatusOK},
		{http.MethodPost, "/exposure/js/index.js", http.StatusMethodNotAllowed},
		{http.MethodPut, "/exposure/js/index.js", http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, tc.want, resp.StatusCode)
			if tc.want == http.StatusMethodNotAllowed {
				assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
			}
		})
	}
}

// The module's defaults are the Confirmer's: a page mixing the script and
// the module applies one rule.
func TestModuleDefaultsMatchConfirmer(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("js", "index.js"))
	require.NoError(t, err)
	m := regexp.MustCompile(`const DEFAULTS = \{ ratio: ([0-9.]+), dwell: ([0-9]+), endpoint: "([^"]+)"`).FindSubmatch(src)
	require.Len(t, m, 4, "index.js declares its DEFAULTS")
	ratio, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	dwell, err := strconv.ParseInt(string(m[2]), 10, 64)
	require.NoError(t, err)
	assert.Equal(t, beacon.DefaultRatio, ratio)
	assert.Equal(t, beacon.DefaultDwell.Milliseconds(), dwell)
	assert.Equal(t, "/exposure/beacon", string(m[3]))
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
