package exposure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTemplateFuncExposedMarksAndRendersNothing(t *testing.T) {
	e := newEnv(t)
	tmpl := template.Must(template.New("page").Funcs(exposure.TemplateFuncs()).Parse(
		`<p>{{ exposed .Ctx "checkout-redesign" }}</p><p>{{ exposed .Req "checkout-redesign" }}</p>`))

	h := e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := e.client.StringValue(r.Context(), flagKey, "classic", userCtx("hana"))
		require.NoError(t, err)
		require.NoError(t, tmpl.Execute(w, map[string]any{"Ctx": r.Context(), "Req": r}))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
	assert.Equal(t, "<p></p><p></p>", rec.Body.String())
	e.settle(t)
	require.Len(t, e.recorder.Exposures(), 1)
	assert.Equal(t, uint64(2), e.tracker.Stats().Counts[exposure.StageMarked])
}

func TestTemplateFuncExposedNeverFailsTheTemplate(t *testing.T) {
	e := newEnv(t)
	tmpl := template.Must(template.New("page").Funcs(exposure.TemplateFuncs()).Parse(
		`a{{ exposed .Nothing "x" }}b{{ exposed .Ctx "not-assigned" }}c{{ exposed .Plain "x" }}d`))
	ctx, _ := e.tracker.Scope(t.Context())
	var out bytes.Buffer
	require.NoError(t, tmpl.Execute(&out, map[string]any{"Nothing": nil, "Ctx": ctx, "Plain": context.Background()}))
	assert.Equal(t, "abcd", out.String())
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageUnassignedMark])
}

func TestMiddlewareKeepsFlusher(t *testing.T) {
	e := newEnv(t)
	h := e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := w.(http.Flusher)
		assert.True(t, ok)
		require.NoError(t, http.NewResponseController(w).Flush())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
}

func TestWriterSinkWritesMixpanelShapedLines(t *testing.T) {
	var buf lockedbuf.Buffer
	ws, err := exposure.NewWriterSink(&buf)
	require.NoError(t, err)
	e := newEnv(t, exposure.WithSink(ws, exposure.WithFlushInterval(time.Hour)))
	commitUsers(t, e.tracker, e, 1, "writer")
	require.NoError(t, e.tracker.Flush(t.Context()))

	var line struct {
		Event      string         `json:"event"`
		Properties map[string]any `json:"properties"`
	}
	require.NoError(t, json.Unmarshal([]byte(buf.String()), &line))
	assert.Equal(t, "$experiment_started", line.Event)
	assert.Equal(t, "Checkout Redesign", line.Properties["Experiment name"])
	assert.Equal(t, "Variant A", line.Properties["Variant name"])
	assert.Equal(t, "writer-0", line.Properties["distinct_id"])
	assert.Len(t, line.Properties["$insert_id"], 32)
}

// The writer sink prints a provider's properties after its own, which win
// a clash.
func TestWriterSinkWritesProperties(t *testing.T) {
	var buf lockedbuf.Buffer
	ws, err := exposure.NewWriterSink(&buf)
	require.NoError(t, err)
	batch := []exposure.Exposure{{Assignment: exposure.Assignment{
		FlagKey: "f", Experiment: "E", Variant: "v", Identity: exposure.Identity{DistinctID: "u"},
		Properties: map[string]any{"$experiment_id": "x-1", "rank": int64(3), "qa": true, "Variant name": "spoofed", "html": "<b>"},
	}, InsertID: "id"}}
	require.NoError(t, ws.Send(t.Context(), batch))
	out := buf.String()
	assert.Contains(t, out, `"$insert_id":"id","flag_key":"f","$experiment_id":"x-1","html":"<b>","qa":true,"rank":3}}`+"\n",
		"after the library's, in name order, unescaped")
	var line struct {
		Properties map[string]any `json:"properties"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &line))
	assert.Equal(t, "v", line.Properties["Variant name"], "the library's property wins a clash")
}
