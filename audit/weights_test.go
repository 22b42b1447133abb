package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
	"github.com/exposurekit/exposure/exposuretest"
)

const holdout = "my-holdout"

// holdoutProvider is OpenFeature's in-memory provider with the test flag
// split by variantFor, and in its metadata, as the GrowthBook provider
// puts it, a holdout: one user in ten "holdout", the others "general".
func holdoutProvider(variantFor func(string) string) *memprovider.InMemoryProvider {
	split := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[openfeature.TargetingKey].(string)
		var n int
		_, _ = fmt.Sscanf(user, "u%d", &n)
		group := "general"
		if n%10 == 0 {
			group = "holdout"
		}
		v := variantFor(user)
		return f.Variants[v], openfeature.ProviderResolutionDetail{
			Variant: v, Reason: openfeature.SplitReason,
			FlagMetadata: openfeature.FlagMetadata{
				"experiment.1.name":    holdout,
				"experiment.1.variant": group,
			},
		}
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flagKey: {Key: flagKey, State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "classic", "b": "one-page"}, ContextEvaluator: &split},
	})
}

// holdoutReport registers exp, exposes 1000 users to the test flag (split
// by variantFor) and to its holdout, and returns the Auditor's report as
// its handler answers it in JSON.
func holdoutReport(t *testing.T, exp exposure.Experiment, variantFor func(string) string, opts ...audit.Option) audit.Report {
	t.Helper()
	aud, err := audit.NewAuditor(opts...)
	require.NoError(t, err)
	tr, err := exposure.NewTracker(
		exposure.WithLogger(quietLogger),
		exposure.WithExperiments(exp),
		exposure.WithObserver(aud),
		exposure.WithSink(exposuretest.NewRecorder()),
	)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	client := newClient(t, holdoutProvider(variantFor), tr.Hook())
	for u := range 1000 {
		ctx, scope := tr.Scope(context.Background())
		_, err := client.StringValue(ctx, flagKey, "classic", userCtx(fmt.Sprintf("u%d", u)))
		require.NoError(t, err)
		require.NoError(t, exposure.MarkRendered(ctx, flagKey))
		require.NoError(t, scope.Commit(ctx))
	}
	rec := httptest.NewRecorder()
	aud.Handler(tr).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?format=json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var r audit.Report
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
	return r
}

// A holdout (a related assignment in flag metadata) is not a registered
// experiment: the registry cannot weigh it. Without WithWeights its 90/10
// split is tested against an equal one, flagged, and the check says that
// an equal split was assumed and how to give the weights; with them, the
// same split as planned is not flagged.
func TestWithWeightsWeighsAHoldout(t *testing.T) {
	cases := []struct {
		name    string
		opts    []audit.Option
		flagged bool
		assumed bool
		share   map[string]float64 // expected shares
	}{
		{"without weights: equal split assumed", nil, true, true,
			map[string]float64{"general": 0.5, "holdout": 0.5}},
		{"with WithWeights", []audit.Option{audit.WithWeights(holdout, map[string]float64{"general": 9, "holdout": 1})}, false, false,
			map[string]float64{"general": 0.9, "holdout": 0.1}},
		{"with weights of another experiment", []audit.Option{audit.WithWeights("other-holdout", map[string]float64{"general": 9, "holdout": 1})}, true, true,
			map[string]float64{"general": 0.5, "holdout": 0.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := holdoutReport(t, checkout, byParity, c.opts...)
			h := findExperiment(t, r, holdout)
			require.False(t, h.Registered)
			general, held := findVariant(t, h, "general"), findVariant(t, h, "holdout")
			require.Equal(t, uint64(900), general.Counts[exposure.StageCommitted])
			require.Equal(t, uint64(100), held.Counts[exposure.StageCommitted])

			assert.InDelta(t, c.share["general"], general.ExpectedShare, 1e-12)
			assert.InDelta(t, c.share["holdout"], held.ExpectedShare, 1e-12)
			assert.InDelta(t, 0.9, general.ObservedShare, 1e-12)
			assert.Equal(t, c.flagged, h.SRM.Flagged, "%v", h.SRM.Reasons)
			assert.Equal(t, c.assumed, h.SRM.EqualSplitAssumed)
			reasons := strings.Join(h.SRM.Reasons, " ")
			if c.assumed {
				for _, says := range []string{"sequential p", "equal split was assumed", "audit.WithWeights", "exposure.Experiment.Weights"} {
					assert.Contains(t, reasons, says)
				}
				assert.Contains(t, h.SRM.Note, "equal split was assumed")
			} else {
				assert.Empty(t, h.SRM.Reasons)
				assert.Empty(t, h.SRM.Note)
			}

			// The experiment behind the holdout keeps its registered 50/50.
			main := findExperiment(t, r, checkout.Name)
			assert.True(t, main.Registered)
			assert.False(t, main.SRM.Flagged, "%v", main.SRM.Reasons)
			assert.False(t, main.SRM.EqualSplitAssumed)
			assert.NotContains(t, main.SRM.Note, "equal split")
		})
	}
}

// The registry's weights win over WithWeights; a registered experiment
// without weights takes those of WithWeights; one with neither is tested
// against an equal split, and says so.
func TestWithWeightsAndTheRegistry(t *testing.T) {
	unweighted := checkout
	unweighted.Weights = nil
	ninetyTen := audit.WithWeights(checkout.Name, map[string]float64{"Variant A": 9, "Variant B": 1})
	threeOne := audit.WithWeights(checkout.Name, map[string]float64{"Variant A": 3, "Variant B": 1})
	cases := []struct {
		name       string
		exp        exposure.Experiment
		variantFor func(string) string
		opts       []audit.Option
		shareA     float64
		flagged    bool
		assumed    bool
	}{
		// 500/500 exposures: tested against 90/10 it would be flagged.
		{"registry 50/50 wins over WithWeights 90/10", checkout, byParity, []audit.Option{ninetyTen}, 0.5, false, false},
		{"unweighted registration takes WithWeights 3/1", unweighted, threeToOne, []audit.Option{threeOne}, 0.75, false, false},
		{"unweighted registration without WithWeights assumes 1/1", unweighted, threeToOne, nil, 0.5, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := holdoutReport(t, c.exp, c.variantFor, c.opts...)
			e := findExperiment(t, r, checkout.Name)
			require.True(t, e.Registered)
			a := findVariant(t, e, "Variant A")
			assert.InDelta(t, c.shareA, a.ExpectedShare, 1e-12)
			assert.Equal(t, c.flagged, e.SRM.Flagged, "%v", e.SRM.Reasons)
			assert.Equal(t, c.assumed, e.SRM.EqualSplitAssumed)
			assert.Equal(t, c.assumed, strings.Contains(e.SRM.Note, "equal split was assumed"), "note %q", e.SRM.Note)
		})
	}
}

// Weights given to WithWeights list their variants before any traffic,
// as a registered experiment's do, and a variant they miss is flagged
// with words that name WithWeights.
func TestWithWeightsMissingVariant(t *testing.T) {
	r := holdoutReport(t, checkout, byParity, audit.WithWeights(holdout, map[string]float64{"general": 1}))
	h := findExperiment(t, r, holdout)
	assert.True(t, h.SRM.Flagged)
	assert.False(t, h.SRM.EqualSplitAssumed)
	assert.Equal(t, `variant "holdout" has no weight`, h.SRM.Note)
	require.Len(t, h.SRM.Reasons, 1)
	assert.Contains(t, h.SRM.Reasons[0], "audit.WithWeights")
	require.Len(t, h.Variants, 2)
	assert.Equal(t, "general", h.Variants[0].Name, "the variants of the weights first")
}

// The option copies its map: changing the caller's map afterwards changes
// nothing.
func TestWithWeightsCopiesTheMap(t *testing.T) {
	weights := map[string]float64{"general": 9, "holdout": 1}
	opt := audit.WithWeights(holdout, weights)
	weights["general"], weights["holdout"] = 1, 9
	weights["extra"] = 5
	h := findExperiment(t, holdoutReport(t, checkout, byParity, opt), holdout)
	assert.InDelta(t, 0.9, findVariant(t, h, "general").ExpectedShare, 1e-12)
	assert.False(t, h.SRM.Flagged, "%v", h.SRM.Reasons)
	assert.Len(t, h.Variants, 2)
}

func TestWithWeightsRejectsInvalidInput(t *testing.T) {
	good := map[string]float64{"general": 9, "holdout": 1}
	cases := []struct {
		name    string
		opts    []audit.Option
		mention string
	}{
		{"empty experiment", []audit.Option{audit.WithWeights("", good)}, "empty experiment name"},
		{"blank experiment", []audit.Option{audit.WithWeights("  ", good)}, "empty experiment name"},
		{"nil weights", []audit.Option{audit.WithWeights(holdout, nil)}, "no weights"},
		{"empty weights", []audit.Option{audit.WithWeights(holdout, map[string]float64{})}, "no weights"},
		{"empty variant", []audit.Option{audit.WithWeights(holdout, map[string]float64{"": 1, "holdout": 1})}, "empty variant name"},
		{"blank variant", []audit.Option{audit.WithWeights(holdout, map[string]float64{" ": 1, "holdout": 1})}, "empty variant name"},
		{"zero weight", []audit.Option{audit.WithWeights(holdout, map[string]float64{"general": 0, "holdout": 1})}, `"general"`},
		{"negative weight", []audit.Option{audit.WithWeights(holdout, map[string]float64{"general": -9, "holdout": 1})}, `"general"`},
		{"NaN weight", []audit.Option{audit.WithWeights(holdout, map[string]float64{"general": math.NaN(), "holdout": 1})}, `"general"`},
		{"infinite weight", []audit.Option{audit.WithWeights(holdout, map[string]float64{"general": math.Inf(1), "holdout": 1})}, `"general"`},
		{"experiment given twice", []audit.Option{audit.WithWeights(holdout, good), audit.WithWeights(holdout, good)}, "given twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			aud, err := audit.NewAuditor(c.opts...)
			require.Error(t, err)
			assert.Nil(t, aud)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			assert.Contains(t, err.Error(), "audit.WithWeights")
			assert.Contains(t, err.Error(), c.mention)
		})
	}

	aud, err := audit.NewAuditor(audit.WithWeights(holdout, good), audit.WithWeights("other", good))
	require.NoError(t, err, "two experiments, each once")
	assert.NotNil(t, aud)
}

// The page says, beside the sample-ratio check of an unweighted
// experiment, that an equal split was assumed, and flags the holdout with
// the same words; weighted, it says neither.
func TestPageSaysAnEqualSplitWasAssumed(t *testing.T) {
	for _, weighted := range []bool{false, true} {
		t.Run(fmt.Sprintf("weighted=%v", weighted), func(t *testing.T) {
			var opts []audit.Option
			if weighted {
				opts = append(opts, audit.WithWeights(holdout, map[string]float64{"general": 9, "holdout": 1}))
			}
			aud, err := audit.NewAuditor(opts...)
			require.NoError(t, err)
			tr, err := exposure.NewTracker(exposure.WithLogger(quietLogger), exposure.WithExperiments(checkout),
				exposure.WithObserver(aud), exposure.WithSink(exposuretest.NewRecorder()))
			require.NoError(t, err)
			t.Cleanup(func() { _ = tr.Close(context.Background()) })
			client := newClient(t, holdoutProvider(byParity), tr.Hook())
			for u := range 200 {
				ctx, scope := tr.Scope(context.Background())
				_, _ = client.StringValue(ctx, flagKey, "classic", userCtx(fmt.Sprintf("u%d", u)))
				require.NoError(t, exposure.MarkRendered(ctx, flagKey))
				require.NoError(t, scope.Commit(ctx))
			}
			srv := httptest.NewServer(aud.Handler(tr))
			t.Cleanup(srv.Close)
			resp, err := srv.Client().Get(srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			page := string(body)
			require.Contains(t, page, `data-experiment="my-holdout"`)
			// Once in the note beside the check, once in the flag.
			want := 0
			if !weighted {
				want = 2
			}
			assert.Equal(t, want, strings.Count(page, "equal split was assumed"))
			assert.Equal(t, want, strings.Count(page, "audit.WithWeights"))
		})
	}
}
