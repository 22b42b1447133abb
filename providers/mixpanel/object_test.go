package mixpanelflags_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

// panelsDefs has an object flag whose value nests objects in an array in
// an object.
const panelsDefs = `{"flags":[{"id":"f","name":"Panels","key":"panels","status":"active","project_id":1,"context":"distinct_id",
 "ruleset":{"variants":[{"key":"two","value":{"columns":2,"items":[{"id":"a"},{"id":"b"}]},"split":1}],
  "rollout":[{"rollout_percentage":1}]}}]}`

func panelsWant() map[string]any {
	return map[string]any{"columns": float64(2), "items": []any{map[string]any{"id": "a"}, map[string]any{"id": "b"}}}
}

// In local mode the SDK keeps one value per variant: each caller must get
// a copy of its own, at every level, or one request's edit would change
// what every later request, of every user, gets.
func TestObjectValueIsTheCallersOwn(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			srv := flagstest.Start(t, []byte(panelsDefs))
			c := clientFor(t, providerFor(t, srv, mode))
			v, err := c.ObjectValue(bg, "panels", nil, user("u-1", nil))
			require.NoError(t, err)
			require.Equal(t, panelsWant(), v)

			m := v.(map[string]any)
			m["columns"] = 9
			m["extra"] = true
			items := m["items"].([]any)
			items[0].(map[string]any)["id"] = "changed"
			m["items"] = append(items, "appended")

			w, err := c.ObjectValue(bg, "panels", nil, user("u-2", nil))
			require.NoError(t, err)
			assert.Equal(t, panelsWant(), w, "the first caller's edits leak into the next evaluation")
		})
	}
}

// Callers that change their value concurrently never share memory (run
// with -race).
func TestObjectValueConcurrentMutation(t *testing.T) {
	srv := flagstest.Start(t, []byte(panelsDefs))
	c := clientFor(t, providerFor(t, srv, mixpanelflags.ModeLocal))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 100 {
				v, err := c.ObjectValue(bg, "panels", nil, user("u-1", map[string]any{"g": g}))
				if !assert.NoError(t, err) {
					return
				}
				m := v.(map[string]any)
				assert.Equal(t, float64(2), m["columns"])
				m["columns"] = g
				m["items"].([]any)[0].(map[string]any)["id"] = g
			}
		})
	}
	wg.Wait()
}
