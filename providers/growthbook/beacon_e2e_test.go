package growthbook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/exposurekit/exposure/providers/growthbook"
)

// pricingFeatures is a GrowthBook experiment that only subjects whose
// country is FR are in: a vendor sink that evaluates it again without the
// country finds no experiment and skips the exposure.
const pricingFeatures = `{
  "pricing-page": {
    "defaultValue": "classic",
    "rules": [{
      "key": "pricing-exp", "name": "Pricing Page Test",
      "condition": {"country": "FR"},
      "variations": ["classic", "bold"], "weights": [0, 1], "coverage": 1,
      "hashAttribute": "id", "seed": "pricing-exp", "hashVersion": 2,
      "meta": [{"key": "ctl", "name": "Classic"}, {"key": "bold", "name": "Bold"}]
    }]
  }
}`

// clientViewed records the experiment-clientViewed calls of the GrowthBook sink.
type clientViewed struct {
	mu    sync.Mutex
	calls []map[string]any // experiment, variation, attributes
}

func (v *clientViewed) track(_ context.Context, e *gb.Experiment, r *gb.ExperimentResult, u *gb.TrackingUserContext, _ any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, map[string]any{"experiment": e.Key, "variation": r.Key, "country": u.Attributes["country"]})
}

func (v *clientViewed) all() []map[string]any {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]map[string]any(nil), v.calls...)
}

// An exposure confirmed by a client (a JSON API hands out a token, the
// client posts it to the real Confirmer over HTTP) reaches the GrowthBook
// sink with the evaluation context it was drawn with: the rule on country
// matches again, and the exposure is sent, not skipped. Without the
// country (the context tokens carried before version 4) the same rule
// skips it.
func TestClientConfirmedExposureKeepsTheContextForGrowthBook(t *testing.T) {
	ctx := context.Background()
	client, err := gb.NewClient(ctx, gb.WithJsonFeatures(pricingFeatures), gb.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	provider, err := growthbook.NewProvider(client)
	require.NoError(t, err)
	seen := &clientViewed{}
	sink, err := growthbook.NewSink(provider, seen.track, growthbook.WithLogger(quiet))
	require.NoError(t, err)
	tracker, err := exposure.NewTracker(exposure.WithSink(sink), exposure.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tracker.Close(context.Background()) })
	key := []byte(strings.Repeat("k", beacon.MinKeyBytes)) // a test key; in production 32 random bytes
	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key), beacon.WithLogger(quiet))
	require.NoError(t, err)

	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(ctx, provider))
	api.AddHooks(tracker.Hook())
	of := api.NewClient()
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/pricing", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), map[string]any{"country": "FR", "plan": "free"})
		plan, _ := of.StringValue(r.Context(), "pricing-page", "classic", ec)
		tok, err := confirmer.Token(r.Context(), "pricing-page")
		if err != nil {
			t.Errorf("Token: %v", err)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"plan": plan, "exposureToken": tok})
	})
	mux.Handle("POST /exposure/beacon", confirmer)
	srv := httptest.NewServer(tracker.Middleware(mux))
	t.Cleanup(srv.Close)

	res, err := srv.Client().Get(srv.URL + "/api/pricing?user=fr-user")
	require.NoError(t, err)
	var body struct{ Plan, ExposureToken string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.NoError(t, res.Body.Close())
	require.Equal(t, "bold", body.Plan, "the rule on country matched at evaluation")
	require.NotEmpty(t, body.ExposureToken)

	require.NoError(t, tracker.Flush(ctx))
	assert.Empty(t, seen.all(), "nothing before the client confirms")

	res, err = srv.Client().Post(srv.URL+"/exposure/beacon", "text/plain", strings.NewReader(body.ExposureToken))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	require.NoError(t, tracker.Flush(ctx))

	st := sink.Stats()
	assert.Equal(t, growthbook.SinkStats{Sent: 1}, st, "sent, not skipped")
	assert.Equal(t, []map[string]any{{"experiment": "pricing-exp", "variation": "bold", "country": "FR"}}, seen.all())

	// The control: the same assignment with the thin context of the
	// earlier tokens (targeting key and ids only) is skipped by the same
	// rule, so the test above would fail without the attributes.
	thin := exposure.Assignment{
		FlagKey: "pricing-page", Experiment: "Pricing Page Test", Variant: "Bold", ProviderVariant: "Bold",
		Identity: exposure.Identity{DistinctID: "fr-user-2"}, Reason: "SPLIT",
		Context: openfeature.NewEvaluationContext("fr-user-2", nil),
	}
	require.NoError(t, tracker.Confirm(ctx, thin))
	require.NoError(t, tracker.Flush(ctx))
	assert.Equal(t, uint64(1), sink.Stats().Skipped, "without the country, GrowthBook finds no experiment")
}
