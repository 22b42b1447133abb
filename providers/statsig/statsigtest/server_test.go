package statsigtest_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/statsig/statsigtest"
)

func TestNewServerRefusesSpecsThatAreNotAnObject(t *testing.T) {
	for _, specs := range []string{``, `[]`, `{"feature_gates":`, `"rules"`} {
		s, err := statsigtest.NewServer([]byte(specs))
		assert.Nil(t, s, specs)
		assert.ErrorIs(t, err, exposure.ErrInvalidConfig, specs)
		assert.ErrorContains(t, err, "not a JSON object", specs)
	}
}

func TestNewServerServesTheSpecs(t *testing.T) {
	s, err := statsigtest.NewServer([]byte(`{"feature_gates": [{"name": "new_nav"}]}`))
	require.NoError(t, err)
	defer s.Close()

	resp, err := http.Post(s.URL+"/v1/download_config_specs", "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"feature_gates": [{"name": "new_nav"}], "dynamic_configs": [], "layer_configs": [],
		"has_updates": true, "time": 1}`, string(body))
	assert.Equal(t, map[string]int{"download_config_specs": 1}, s.Requests())
}
