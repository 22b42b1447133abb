package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
)

// Through real HTTP and the Tracker's middleware: failed requests by
// stage, a crawler's marks and a crossover (two users merged into one
// distinct id, each assigned another variant) are counted per variant,
// and the crossover share is crossovers over committed exposures.
func TestRecorderReportsFailuresBotsAndCrossovers(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		attrs := map[string]any{}
		if id := q.Get("user_id"); id != "" {
			attrs[exposure.AttributeUserID] = id
		}
		_, _ = e.client.StringValue(r.Context(), flagKey, "classic", openfeature.NewEvaluationContext(q.Get("user"), attrs))
		if q.Get("fail") == "before" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_ = exposure.MarkRendered(r.Context(), flagKey)
		if q.Get("fail") == "after" {
			w.WriteHeader(http.StatusBadGateway)
		}
	})))
	t.Cleanup(srv.Close)
	get := func(query, agent string, status int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/?"+query, nil)
		require.NoError(t, err)
		if agent != "" {
			req.Header.Set("User-Agent", agent)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, status, resp.StatusCode, query)
	}
	get("user=u1&user_id=merged", "", http.StatusOK)                                                         // B, exposed
	get("user=u2&user_id=merged", "", http.StatusOK)                                                         // A, the same subject: a crossover into A
	get("user=u3&fail=after", "", http.StatusBadGateway)                                                     // B, marked then failed: still exposed
	get("user=u4&fail=before", "", http.StatusInternalServerError)                                           // A, failed before its mark
	get("user=u5", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", http.StatusOK) // B, a crawler
	require.ErrorIs(t, e.tracker.Flush(context.Background()), exposure.ErrUndelivered)                       // the failing sink

	got := collect(t, e.reader)
	const a, b = " experiment=Checkout Redesign variant=Variant A", " experiment=Checkout Redesign variant=Variant B"
	const render, request = " experiment=Checkout Redesign stage=failed_render", " experiment=Checkout Redesign stage=failed_request"
	for k, want := range map[string]int64{
		"exposure.committed" + a: 1, "exposure.committed" + b: 2,
		"exposure.crossovers" + a: 1, "exposure.crossovers" + b: 0,
		"exposure.bots" + a: 0, "exposure.bots" + b: 1,
		"exposure.marks" + b: 3,
		"exposure.requests.failed" + render + " variant=Variant A":  0,
		"exposure.requests.failed" + render + " variant=Variant B":  1,
		"exposure.requests.failed" + request + " variant=Variant A": 1,
		"exposure.requests.failed" + request + " variant=Variant B": 0,
		"exposure.delivered sink=recorder":                          3,
	} {
		assert.Equal(t, want, got[k], k)
	}
	assert.InDelta(t, 1.0/3, collectFloat(t, e.reader)["exposure.crossover.share experiment=Checkout Redesign"], 1e-12)

	st := e.tracker.Stats()
	for s, names := range map[exposure.Stage][]string{
		exposure.StageCrossover:     {"exposure.crossovers" + a, "exposure.crossovers" + b},
		exposure.StageBot:           {"exposure.bots" + a, "exposure.bots" + b},
		exposure.StageFailedRender:  {"exposure.requests.failed" + render + " variant=Variant A", "exposure.requests.failed" + render + " variant=Variant B"},
		exposure.StageFailedRequest: {"exposure.requests.failed" + request + " variant=Variant A", "exposure.requests.failed" + request + " variant=Variant B"},
	} {
		assert.Equal(t, int64(st.Counts[s]), got[names[0]]+got[names[1]], "Stats of %v", s)
	}
}
