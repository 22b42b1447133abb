package growthbook_test

import (
	"context"
	"sync"
	"testing"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure/providers/growthbook"
)

// objectFeatures holds JSON features whose values nest objects in arrays
// in objects: a default value, and an experiment's variation (kept by the
// SDK apart from the default).
const objectFeatures = `{
  "panels": {"defaultValue": {"columns": 3, "items": [{"id": "a"}, {"id": "b"}]}},
  "panels-exp": {"defaultValue": {"columns": 1, "items": []}, "rules": [
    {"key": "panels-exp", "variations": [{"columns": 1, "items": []}, {"columns": 2, "items": [{"id": "x"}]}],
     "weights": [0, 1], "hashAttribute": "id", "hashVersion": 2}]}
}`

func objectClient(t *testing.T) *openfeature.Client {
	t.Helper()
	client, err := gb.NewClient(context.Background(), gb.WithJsonFeatures(objectFeatures), gb.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	p, err := growthbook.NewProvider(client)
	require.NoError(t, err)
	return newOFClient(t, p)
}

// GrowthBook keeps one value per feature and variation: each caller must
// get a copy of its own, at every level, or one request's edit would
// change what every later request gets.
func TestObjectValueIsTheCallersOwn(t *testing.T) {
	for name, tc := range map[string]struct {
		flag string
		want map[string]any
	}{
		"default value":        {flag: "panels", want: map[string]any{"columns": float64(3), "items": []any{map[string]any{"id": "a"}, map[string]any{"id": "b"}}}},
		"experiment variation": {flag: "panels-exp", want: map[string]any{"columns": float64(2), "items": []any{map[string]any{"id": "x"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			c := objectClient(t)
			ec := openfeature.NewEvaluationContext("user-1", nil)
			v, err := c.ObjectValue(context.Background(), tc.flag, nil, ec)
			require.NoError(t, err)
			require.Equal(t, tc.want, v)

			m := v.(map[string]any)
			m["columns"] = 9
			m["extra"] = true
			items := m["items"].([]any)
			items[0].(map[string]any)["id"] = "changed"
			m["items"] = append(items, "appended")

			w, err := c.ObjectValue(context.Background(), tc.flag, nil, openfeature.NewEvaluationContext("user-2", nil))
			require.NoError(t, err)
			assert.Equal(t, tc.want, w, "the first caller's edits leak into the next evaluation")
		})
	}
}

// Callers that change their value concurrently never share memory (run
// with -race).
func TestObjectValueConcurrentMutation(t *testing.T) {
	c := objectClient(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ec := openfeature.NewEvaluationContext("user", map[string]any{"g": g})
			for range 100 {
				v, err := c.ObjectValue(context.Background(), "panels", nil, ec)
				if !assert.NoError(t, err) {
					return
				}
				m := v.(map[string]any)
				assert.Equal(t, float64(3), m["columns"])
				m["columns"] = g
				m["items"].([]any)[0].(map[string]any)["id"] = g
			}
		})
	}
	wg.Wait()
}
