package flagstest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

const defs = `{"flags": [{"id": "1", "key": "f", "context": "distinct_id", "status": "active",
  "experiment_id": "e-1", "is_experiment_active": true,
  "ruleset": {"variants": [{"key": "on", "value": true, "split": 1}], "rollout": [{"rollout_percentage": 1}]}}]}`

func TestNewServerRefusesBadDefinitions(t *testing.T) {
	for _, d := range []string{``, `[]`, `{}`, `{"flags": 3}`, `{"flags": [{"key": 1}]}`} {
		s, err := flagstest.NewServer([]byte(d))
		assert.Nil(t, s, d)
		assert.ErrorIs(t, err, exposure.ErrInvalidConfig, d)
	}
}

// get sends a request shaped as the SDK's (token in the query and as the
// basic-auth user, mp_lib) unless token is "".
func get(t *testing.T, s *flagstest.Server, path, token string, extra url.Values) (int, string) {
	t.Helper()
	v := url.Values{"mp_lib": {"go"}, "$lib_version": {"test"}}
	for k, vs := range extra {
		v[k] = vs
	}
	if token != "" {
		v.Set("token", token)
	}
	req, err := http.NewRequest(http.MethodGet, s.URL+path+"?"+v.Encode(), nil)
	require.NoError(t, err)
	if token != "" {
		req.SetBasicAuth(token, "")
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestServerAnswersAsTheFlagsAPI(t *testing.T) {
	s := flagstest.Start(t, []byte(defs))
	assert.True(t, strings.HasPrefix(s.URL, "https://"), "the SDK speaks HTTPS only")

	code, body := get(t, s, "/flags/definitions", s.Token(), nil)
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, defs, body)

	code, body = get(t, s, "/flags", s.Token(), url.Values{"context": {`{"distinct_id":"u-1"}`}, "flag_key": {"f"}})
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"code": 200, "flags": {"f": {"variant_key": "on", "variant_value": true,
		"experiment_id": "e-1", "is_experiment_active": true}}}`, body)
	code, body = get(t, s, "/flags", s.Token(), url.Values{"context": {`{"device_id":"d"}`}, "flag_key": {"f"}})
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"code": 200, "flags": {}}`, body, "not enrolled: no distinct_id")
	code, _ = get(t, s, "/flags", s.Token(), url.Values{"context": {`nope`}})
	assert.Equal(t, http.StatusBadRequest, code)

	code, _ = get(t, s, "/flags/definitions", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = get(t, s, "/flags/definitions", "wrong", nil)
	assert.Equal(t, http.StatusUnauthorized, code)

	s.SetDown(true)
	code, _ = get(t, s, "/flags/definitions", s.Token(), nil)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	s.SetDown(false)

	assert.Equal(t, map[string]int{flagstest.EndpointDefinitions: 4, flagstest.EndpointFlags: 3}, s.Requests())
	evs := s.Evaluations()
	require.Len(t, evs, 2)
	assert.Equal(t, flagstest.Evaluation{FlagKey: "f", Context: map[string]any{"distinct_id": "u-1"}}, evs[0])
}

func TestServerRefusesIngestion(t *testing.T) {
	s, err := flagstest.NewServer([]byte(defs)) // NewServer: records, does not fail the test
	require.NoError(t, err)
	defer s.Close()
	for _, path := range []string{"/track", "/import"} {
		body, _ := json.Marshal([]map[string]any{{"event": "$experiment_started"}})
		resp, err := s.Client().Post(s.URL+path, "application/json", strings.NewReader(string(body)))
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	}
	ing := s.Ingested()
	require.Len(t, ing, 2)
	assert.Equal(t, "/track", ing[0].Path)
	assert.Contains(t, ing[1].Body, "$experiment_started")
	assert.Equal(t, 2, s.Requests()[flagstest.EndpointIngest])
}

// failRecorder is a testing.TB that records Errorf.
type failRecorder struct {
	testing.TB
	failed []string
}

func (f *failRecorder) Errorf(format string, args ...any) { f.failed = append(f.failed, format) }

func TestStartFailsTheTestOnIngestion(t *testing.T) {
	rec := &failRecorder{TB: t}
	s := flagstest.Start(rec, []byte(defs))
	resp, err := s.Client().Post(s.URL+"/track", "application/json", strings.NewReader("[]"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Len(t, rec.failed, 1)
}
