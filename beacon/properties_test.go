package beacon_test

// Tests of the event properties and related assignments that a token
// carries (version 5): an assignment handed off with properties and a
// holdout around its experiment is confirmed through the real endpoint,
// and both exposures reach the sink with their properties, types kept.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const holdoutFlag = "pricing"

// holdoutMetadata is the flag metadata of an evaluation that assigns the
// pricing experiment (with event properties of every type) inside a
// holdout (with a property of its own), as a provider names them.
func holdoutMetadata() openfeature.FlagMetadata {
	return openfeature.FlagMetadata{
		exposure.MetadataExperimentName:                    "Pricing",
		exposure.MetadataExperimentVariant:                 "cheaper",
		exposure.MetadataInExperiment:                      true,
		exposure.MetadataPropertyPrefix + "$experiment_id": "exp-123",
		exposure.MetadataPropertyPrefix + "$is_qa_tester":  false,
		exposure.MetadataPropertyPrefix + "ratio":          0.5,
		exposure.MetadataPropertyPrefix + "cohort":         int64(1) << 40,
		"experiment.1.name":                                "Q4 holdout",
		"experiment.1.variant":                             "passthrough",
		"experiment.1.property.Holdout id":                 int64(7),
	}
}

// holdoutProvider is OpenFeature's in-memory provider evaluating the
// pricing flag to "cheaper" with meta (holdoutMetadata when nil).
func holdoutProvider(meta openfeature.FlagMetadata) *memprovider.InMemoryProvider {
	if meta == nil {
		meta = holdoutMetadata()
	}
	eval := func(f memprovider.InMemoryFlag, _ openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		return f.Variants["cheaper"], openfeature.ProviderResolutionDetail{
			Variant: "cheaper", Reason: openfeature.SplitReason, FlagMetadata: meta}
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		holdoutFlag: {Key: holdoutFlag, State: memprovider.Enabled, DefaultVariant: "control",
			Variants: map[string]any{"control": "9.99", "cheaper": "7.99"}, ContextEvaluator: &eval},
	})
}

// newHoldoutEnv is an env whose Tracker registers the pricing experiment
// and whose provider is holdoutProvider(meta).
func newHoldoutEnv(t testing.TB, meta openfeature.FlagMetadata, opts ...beacon.Option) *env {
	t.Helper()
	return newEnvWith(t, []exposure.Experiment{{FlagKey: holdoutFlag, Name: "Pricing"}}, holdoutProvider(meta), opts...)
}

// pricingServer is a JSON API behind the Tracker's middleware that answers
// the price and its confirmation token, and the Confirmer's endpoint.
func (e *env) pricingServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/pricing", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), map[string]any{"country": "FR"})
		price, err := e.client.StringValue(r.Context(), holdoutFlag, "9.99", ec)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tok, err := e.confirmer.Token(r.Context(), holdoutFlag)
		if err != nil {
			t.Errorf("Token: %v", err)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"price": price, "exposureToken": tok})
	})
	mux.Handle("/exposure/beacon", e.confirmer)
	srv := httptest.NewServer(e.tracker.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv
}

// fetchToken asks the pricing API for user's price and returns its token.
func fetchToken(t *testing.T, srv *httptest.Server, user string) string {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + "/api/pricing?user=" + user)
	require.NoError(t, err)
	defer res.Body.Close()
	var body struct{ Price, ExposureToken string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.Equal(t, "7.99", body.Price)
	require.NotEmpty(t, body.ExposureToken)
	return body.ExposureToken
}

// wantPricing and wantHoldout are the properties of the two exposures, of
// the types the provider gave (int64 kept, float64 kept).
var (
	wantPricing = map[string]any{"$experiment_id": "exp-123", "$is_qa_tester": false, "ratio": 0.5, "cohort": int64(1) << 40}
	wantHoldout = map[string]any{"Holdout id": int64(7)}
)

// An assignment handed off with properties and a related assignment is
// confirmed by a client over real HTTP: both exposures reach the sink,
// each with its own properties, the subject, flag key and context of the
// evaluation; a replay sends nothing new.
func TestConfirmedExposureCarriesPropertiesAndRelated(t *testing.T) {
	e := newHoldoutEnv(t, nil)
	srv := e.pricingServer(t)
	tok := fetchToken(t, srv, "pat")
	t.Logf("a token with 4 properties, a related assignment with 1 and 1 attribute: %d characters", len(tok))
	assert.Less(t, len(tok), 400, "a token with a holdout and a few properties stays compact")
	e.settle(t)
	require.Empty(t, e.recorder.Exposures(), "handed off: the server's commit sends nothing")

	res := confirm(t, srv.Client(), srv.URL, tok)
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	e.settle(t)
	got := e.recorder.Exposures()
	require.Len(t, got, 2, "the assignment and its related assignment, each an exposure")
	byExp := map[string]exposure.Exposure{}
	for _, x := range got {
		byExp[x.Experiment] = x
	}
	pricing, holdout := byExp["Pricing"], byExp["Q4 holdout"]
	assert.Equal(t, "cheaper", pricing.Variant)
	assert.Equal(t, wantPricing, pricing.Properties)
	assert.Equal(t, "passthrough", holdout.Variant)
	assert.Equal(t, "passthrough", holdout.ProviderVariant)
	assert.Equal(t, wantHoldout, holdout.Properties)
	for _, x := range got {
		assert.Equal(t, holdoutFlag, x.FlagKey)
		assert.Equal(t, "pat", x.Identity.DistinctID)
		assert.Equal(t, "FR", x.Context.Attribute("country"), "the context travels for both")
		assert.Empty(t, x.Related, "an exposure is one experiment")
	}
	assert.NotEqual(t, pricing.InsertID, holdout.InsertID)

	// A replay is a duplicate of both.
	require.Equal(t, http.StatusNoContent, confirm(t, srv.Client(), srv.URL, tok).StatusCode)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 2)
	assert.Equal(t, uint64(2), e.count(exposure.StageDuplicate))
	st := e.confirmer.Stats()
	assert.Equal(t, uint64(2), st.Accepted)
	assert.Zero(t, st.PropertiesDropped+st.RelatedDropped+st.AttributesDropped)
}

// The template function's token carries them too, and the assignment
// HandOff returns has them.
func TestTemplateTokenCarriesPropertiesAndRelated(t *testing.T) {
	e := newHoldoutEnv(t, nil)
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, holdoutFlag, "9.99", userCtx("tess"))
	require.NoError(t, err)
	var out strings.Builder
	require.NoError(t, e.template(t, `<i {{ exposureBeacon .Ctx "pricing" }}>`).Execute(&out, map[string]any{"Ctx": ctx}))
	require.NoError(t, scope.Commit(ctx))
	m := tokenAttr.FindStringSubmatch(out.String())
	require.Len(t, m, 2, "rendered %q", out.String())

	require.Equal(t, http.StatusNoContent, post(t, e.confirmer, strings.NewReader(m[1])).Code)
	e.settle(t)
	props := map[string]map[string]any{}
	for _, x := range e.recorder.Exposures() {
		props[x.Experiment] = x.Properties
	}
	assert.Equal(t, map[string]map[string]any{"Pricing": wantPricing, "Q4 holdout": wantHoldout}, props)

	// What HandOff gives the party that confirms.
	ctx, _ = e.tracker.Scope(t.Context())
	_, err = e.client.StringValue(ctx, holdoutFlag, "9.99", userCtx("tess"))
	require.NoError(t, err)
	a, err := exposure.ScopeFromContext(ctx).HandOff(holdoutFlag)
	require.NoError(t, err)
	assert.Equal(t, wantPricing, a.Properties)
	require.Len(t, a.Related, 1)
	assert.Equal(t, "Q4 holdout", a.Related[0].Experiment)
	assert.Equal(t, wantHoldout, a.Related[0].Properties)
}

// Properties too many for a token are left out, whole and counted; the
// exposure is still confirmed, with those that fit, and its related
// assignment first.
func TestPropertiesOverTheTokenSizeAreDropped(t *testing.T) {
	meta := holdoutMetadata()
	const many = 40 // 40 of 100 bytes: more than a token holds
	for i := range many {
		meta[exposure.MetadataPropertyPrefix+"p"+string(rune('A'+i))] = strings.Repeat("v", 100)
	}
	var logs strings.Builder
	e := newHoldoutEnv(t, meta, beacon.WithLogger(newTextLogger(&logs)))
	srv := e.pricingServer(t)
	tok := fetchToken(t, srv, "max")
	assert.LessOrEqual(t, len(tok), 4096)
	st := e.confirmer.Stats()
	assert.Positive(t, st.PropertiesDropped)
	assert.Zero(t, st.RelatedDropped)
	assert.Contains(t, logs.String(), "left out of a token")

	require.Equal(t, http.StatusNoContent, confirm(t, srv.Client(), srv.URL, tok).StatusCode)
	e.settle(t)
	got := e.recorder.Exposures()
	require.Len(t, got, 2, "the related assignment is kept before the properties")
	kept := 0
	for _, x := range got {
		kept += len(x.Properties)
	}
	assert.Equal(t, len(wantPricing)+many+len(wantHoldout), kept+int(st.PropertiesDropped), "every property is kept or counted")
}
