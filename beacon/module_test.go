package beacon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

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

// The index.js a Confirmer serves has the Confirmer's visibility settings
// as its defaults, so a page mixing the script and the module applies one
// rule; configure still overrides them. Each content has its own ETag.
func TestModuleDefaultsFollowConfirmer(t *testing.T) {
	tests := []struct {
		name  string
		opts  []beacon.Option
		ratio float64
		dwell int64
	}{
		{"defaults", nil, beacon.DefaultRatio, beacon.DefaultDwell.Milliseconds()},
		{"WithVisibility", []beacon.Option{beacon.WithVisibility(0.9, 2*time.Second)}, 0.9, 2000},
		{"full and immediate", []beacon.Option{beacon.WithVisibility(1, 0)}, 1, 0},
	}
	etags := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			srv := httptest.NewServer(e.confirmer.Module())
			t.Cleanup(srv.Close)
			resp, err := http.Get(srv.URL + "/index.js")
			require.NoError(t, err)
			src := readAll(t, resp)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			etags[tc.name] = resp.Header.Get("ETag")

			m := regexp.MustCompile(`(?m)^const VISIBILITY = \{ ratio: ([0-9.]+), dwell: ([0-9]+) \}; // exposure: visibility$`).
				FindStringSubmatch(src)
			require.Len(t, m, 3, "index.js declares its visibility defaults")
			ratio, err := strconv.ParseFloat(m[1], 64)
			require.NoError(t, err)
			dwell, err := strconv.ParseInt(m[2], 10, 64)
			require.NoError(t, err)
			assert.Equal(t, tc.ratio, ratio)
			assert.Equal(t, tc.dwell, dwell)

			// Run it: the defaults in force are those, and configure overrides them.
			if _, err := exec.LookPath("node"); err != nil {
				t.Log("node not found: the served module was parsed, not run")
				return
			}
			file := filepath.Join(t.TempDir(), "index.mjs")
			require.NoError(t, os.WriteFile(file, []byte(src), 0o600))
			script := `const m = await import(process.argv[1]);
const before = m.configure({});
const after = m.configure({ ratio: 0.25, dwell: 300 });
console.log(JSON.stringify({ before, after }));`
			out, err := exec.CommandContext(t.Context(), "node", "--input-type=module", "-e", script, file).CombinedOutput()
			require.NoError(t, err, "node: %s", out)
			var got struct {
				Before, After struct {
					Ratio    float64 `json:"ratio"`
					Dwell    int64   `json:"dwell"`
					Endpoint string  `json:"endpoint"`
				}
			}
			require.NoError(t, json.Unmarshal(out, &got), "%s", out)
			assert.Equal(t, tc.ratio, got.Before.Ratio)
			assert.Equal(t, tc.dwell, got.Before.Dwell)
			assert.Equal(t, "/exposure/beacon", got.Before.Endpoint)
			assert.Equal(t, 0.25, got.After.Ratio, "configure overrides the served defaults")
			assert.Equal(t, int64(300), got.After.Dwell)
		})
	}
	assert.Len(t, etags, len(tests))
	assert.NotEqual(t, etags["defaults"], etags["WithVisibility"], "an ETag per content")
	assert.NotEqual(t, etags["WithVisibility"], etags["full and immediate"], "an ETag per content")
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
