package growthbook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/growthbook"
)

// The holdouts of testdata/features.json, in GrowthBook's two shapes:
//
//   - "recommendations" is held out by "$holdout:q3", a feature GrowthBook
//     generates for a holdout (60% of users, half held out as "0", half
//     "1"), named as a prerequisite of the feature's first rule: users in the
//     held-out arm get the feature's default; the others go on to the
//     experiment "recs-exp".
//   - "search-ranking" writes the holdout inline: an experiment rule whose
//     second variation is a passthrough, before the experiment rule. Users
//     in "Held out" get its value; "General" falls through to the
//     experiment "ranking-exp".
//   - "holdout" is a passthrough arm with no experiment behind it.

// userWhere returns a user id whose evaluation of flag has metadata
// satisfying want (assignment is a deterministic hash of the id).
func userWhere(t testing.TB, p *growthbook.Provider, flag string, want func(openfeature.FlagMetadata) bool) string {
	t.Helper()
	for i := range 2000 {
		id := "user-" + strconv.Itoa(i)
		d := p.StringEvaluation(context.Background(), flag, "", openfeature.FlattenedContext{openfeature.TargetingKey: id})
		if want(d.FlagMetadata) {
			return id
		}
	}
	t.Fatalf("no user matches for %q", flag)
	return ""
}

// related is the metadata of the n-th related experiment.
func related(n int, name, variant, expKey, varKey string) openfeature.FlagMetadata {
	p := "experiment." + strconv.Itoa(n) + "."
	return openfeature.FlagMetadata{
		p + "name":         name,
		p + "variant":      variant,
		p + "inExperiment": true,
		p + "property." + growthbook.PropertyExperimentKey: expKey,
		p + "property." + growthbook.PropertyVariationKey:  varKey,
	}
}

// own is the metadata of the flag's own experiment, the subject in it.
func own(name, variant, expKey, varKey string, varID int64) openfeature.FlagMetadata {
	return openfeature.FlagMetadata{
		exposure.MetadataExperimentName:                                    name,
		exposure.MetadataExperimentVariant:                                 variant,
		exposure.MetadataInExperiment:                                      true,
		growthbook.MetadataExperimentKey:                                   expKey,
		growthbook.MetadataVariationKey:                                    varKey,
		growthbook.MetadataVariationID:                                     varID,
		exposure.MetadataPropertyPrefix + growthbook.PropertyExperimentKey: expKey,
		exposure.MetadataPropertyPrefix + growthbook.PropertyVariationKey:  varKey,
	}
}

var notOwn = openfeature.FlagMetadata{exposure.MetadataInExperiment: false}

func merge(ms ...openfeature.FlagMetadata) openfeature.FlagMetadata {
	out := openfeature.FlagMetadata{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestHoldoutMetadata(t *testing.T) {
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	c := newOFClient(t, p)
	is := func(key string, v any) func(openfeature.FlagMetadata) bool {
		return func(md openfeature.FlagMetadata) bool { return md[key] == v }
	}
	and := func(fs ...func(openfeature.FlagMetadata) bool) func(openfeature.FlagMetadata) bool {
		return func(md openfeature.FlagMetadata) bool {
			for _, f := range fs {
				if !f(md) {
					return false
				}
			}
			return true
		}
	}

	tests := []struct {
		name    string
		flag    string
		who     func(openfeature.FlagMetadata) bool
		value   string
		reason  openfeature.Reason
		variant string
		want    openfeature.FlagMetadata
		tracked []string // what GrowthBook's own tracking reports: experiment/variation keys
	}{
		{
			name: "holdout feature, treatment arm: the experiment, then the holdout", flag: "recommendations",
			who:   and(is("experiment.1.variant", "1"), is(exposure.MetadataExperimentVariant, "Personalized")),
			value: "personal", reason: openfeature.SplitReason, variant: "Personalized",
			want: merge(own("Recommendations", "Personalized", "recs-exp", "personal", 1),
				related(1, "holdout-q3", "1", "holdout-q3", "1")),
			tracked: []string{"holdout-q3/1", "recs-exp/personal"},
		},
		{
			name: "holdout feature, held-out arm: the holdout alone", flag: "recommendations",
			who:   is("experiment.1.variant", "0"),
			value: "classic", reason: openfeature.TargetingMatchReason,
			want:    merge(notOwn, related(1, "holdout-q3", "0", "holdout-q3", "0")),
			tracked: []string{"holdout-q3/0"},
		},
		{
			name: "outside the holdout: the experiment alone", flag: "recommendations",
			who: func(md openfeature.FlagMetadata) bool {
				_, held := md["experiment.1.name"]
				return !held && md[exposure.MetadataExperimentVariant] == "Control"
			},
			value: "classic", reason: openfeature.SplitReason, variant: "Control",
			want:    own("Recommendations", "Control", "recs-exp", "ctl", 0),
			tracked: []string{"recs-exp/ctl"},
		},
		{
			name: "inline holdout, passthrough arm: the experiment, then the holdout", flag: "search-ranking",
			who:   and(is("experiment.1.variant", "General"), is(exposure.MetadataExperimentVariant, "ML ranking")),
			value: "ml", reason: openfeature.SplitReason, variant: "ML ranking",
			want: merge(own("Search Ranking", "ML ranking", "ranking-exp", "ml", 1),
				related(1, "Search Holdout", "General", "search-holdout", "general")),
			tracked: []string{"search-holdout/general", "ranking-exp/ml"},
		},
		{
			name: "inline holdout, held-out arm: the holdout alone", flag: "search-ranking",
			who:   is("experiment.1.variant", "Held out"),
			value: "classic", reason: openfeature.SplitReason, variant: "Held out",
			want:    merge(notOwn, related(1, "Search Holdout", "Held out", "search-holdout", "held-out")),
			tracked: []string{"search-holdout/held-out"},
		},
		{
			name: "passthrough arm with no experiment behind it", flag: "holdout",
			who:   is("experiment.1.variant", "On"),
			value: "off", reason: openfeature.DefaultReason,
			want:    merge(notOwn, related(1, "Holdout", "On", "holdout-exp", "on")),
			tracked: []string{"holdout-exp/on"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := userWhere(t, p, tt.flag, tt.who)
			d, err := c.StringValueDetails(context.Background(), tt.flag, "", user(id))
			require.NoError(t, err)
			assert.Equal(t, tt.value, d.Value)
			assert.Equal(t, tt.reason, d.Reason)
			assert.Equal(t, tt.variant, d.Variant)
			assert.Equal(t, tt.want, d.FlagMetadata)

			// The same evaluation on a client with GrowthBook's own tracking
			// reports the same experiments.
			tr := &tracking{}
			direct, err := newTrackedClient(t, tr).WithAttributes(gb.Attributes{"id": id})
			require.NoError(t, err)
			direct.EvalFeature(context.Background(), tt.flag)
			assert.Equal(t, tt.tracked, tr.experiments)
		})
	}
}

// For every user and flag, the provider reports exactly the experiments
// GrowthBook's own tracking reports for the same evaluation.
func TestReportsWhatGrowthBookTracks(t *testing.T) {
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	tr := &tracking{}
	tracked := newTrackedClient(t, tr)
	seen := map[int]int{} // experiments per evaluation: 0, 1, 2 all occur
	for i := range 300 {
		id := "user-" + strconv.Itoa(i)
		for _, flag := range []string{"recommendations", "search-ranking", "holdout", "checkout-redesign", "unnamed-exp", "no-coverage", "dark-mode"} {
			tr.experiments = nil
			direct, err := tracked.WithAttributes(gb.Attributes{"id": id})
			require.NoError(t, err)
			direct.EvalFeature(context.Background(), flag)

			md := p.ObjectEvaluation(context.Background(), flag, nil, openfeature.FlattenedContext{openfeature.TargetingKey: id}).FlagMetadata
			var got []string
			if md[exposure.MetadataInExperiment] == true {
				got = append(got, md[growthbook.MetadataExperimentKey].(string)+"/"+md[growthbook.MetadataVariationKey].(string))
			}
			for n := 1; ; n++ {
				prefix := "experiment." + strconv.Itoa(n) + ".property."
				k, ok := md[prefix+growthbook.PropertyExperimentKey].(string)
				if !ok {
					break
				}
				got = append(got, k+"/"+md[prefix+growthbook.PropertyVariationKey].(string))
			}
			want := slices.Clone(tr.experiments)
			slices.Sort(want)
			slices.Sort(got)
			require.Equal(t, want, got, "%s for %s", flag, id)
			seen[len(got)]++
		}
	}
	assert.Positive(t, seen[0])
	assert.Positive(t, seen[1])
	assert.Positive(t, seen[2])
}

// recorder is a GrowthBook plugin that records what it is told.
type recorder struct {
	mu     sync.Mutex
	viewed []string
}

func (r *recorder) Init(*gb.Client) error { return nil }
func (r *recorder) Close() error          { return nil }
func (r *recorder) OnExperimentViewed(_ context.Context, e *gb.Experiment, res *gb.ExperimentResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.viewed = append(r.viewed, e.Key+"/"+res.Key)
}
func (r *recorder) OnFeatureEvaluated(context.Context, string, *gb.FeatureResult) {}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.viewed)
}

// A client with plugins is refused: GrowthBook runs them at every
// evaluation, on every client derived from it.
func TestNewProviderRefusesPlugins(t *testing.T) {
	var posts atomic.Int64
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(ingest.Close)
	rec := &recorder{}

	tests := []struct {
		name   string
		plugin gb.ClientOption
	}{
		{"GrowthBook's tracking plugin", gb.WithGrowthBookTracking(gb.TrackingPluginConfig{IngestorHost: ingest.URL, BatchSize: 1, Logger: quiet})},
		{"a plugin of the app's", gb.WithPlugins(rec)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newTrackedClient(t, &tracking{}, gb.WithClientKey("sdk-test"), tt.plugin)
			p, err := growthbook.NewProvider(client, growthbook.WithCloseClient())
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			assert.ErrorContains(t, err, "1 plugin(s)")

			// Every error at once: a nil option too.
			_, err = growthbook.NewProvider(client, nil)
			assert.ErrorContains(t, err, "1 plugin(s)")
			assert.ErrorContains(t, err, "option 0 is nil")
		})
	}

	// Why: a child client, with every tracking option removed as the
	// provider removes them, still runs the plugin at evaluation.
	client := newTrackedClient(t, &tracking{}, gb.WithPlugins(rec))
	child, err := client.WithExperimentCallback(nil)
	require.NoError(t, err)
	child, err = child.WithAttributes(gb.Attributes{"id": "user-1"})
	require.NoError(t, err)
	child.EvalFeature(context.Background(), "unnamed-exp")
	assert.Equal(t, []string{"price-test/1"}, rec.all())

	// And a client without plugins is accepted.
	_, err = growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	assert.NoError(t, err)
	assert.Zero(t, posts.Load(), "nothing was evaluated through the refused clients")
}

// The Sink reports a holdout's exposure as the holdout's GrowthBook
// assignment, found by the experiment key the exposure carries.
func TestSinkReportsHoldouts(t *testing.T) {
	tr, v := &tracking{}, &viewed{}
	p, s := newSink(t, tr, v)
	treated := userWhere(t, p, "recommendations", func(md openfeature.FlagMetadata) bool {
		return md["experiment.1.variant"] == "1" && md[exposure.MetadataExperimentVariant] == "Personalized"
	})
	general := userWhere(t, p, "search-ranking", func(md openfeature.FlagMetadata) bool { return md["experiment.1.variant"] == "General" })
	heldOut := userWhere(t, p, "search-ranking", func(md openfeature.FlagMetadata) bool { return md["experiment.1.variant"] == "Held out" })

	x := func(flag, experiment, variant, id, expKey string) exposure.Exposure {
		e := exposureOf(flag, experiment, variant, id)
		e.ProviderVariant = variant
		if expKey != "" {
			e.Properties = map[string]any{growthbook.PropertyExperimentKey: expKey}
		}
		return e
	}
	type call struct {
		exp, variation, feature string
		passthrough             bool
	}
	tests := []struct {
		name string
		x    exposure.Exposure
		want *call // nil: not sent
		then growthbook.SinkStats
	}{
		{"the $holdout's arm", x("recommendations", "holdout-q3", "1", treated, "holdout-q3"),
			&call{"holdout-q3", "1", "$holdout:q3", false}, growthbook.SinkStats{Sent: 1}},
		{"the experiment behind it", x("recommendations", "Recommendations", "Personalized", treated, "recs-exp"),
			&call{"recs-exp", "personal", "recommendations", false}, growthbook.SinkStats{Sent: 2}},
		{"the inline holdout's passthrough arm", x("search-ranking", "Search Holdout", "General", general, "search-holdout"),
			&call{"search-holdout", "general", "search-ranking", true}, growthbook.SinkStats{Sent: 3}},
		{"the inline holdout's held-out arm", x("search-ranking", "Search Holdout", "Held out", heldOut, "search-holdout"),
			&call{"search-holdout", "held-out", "search-ranking", false}, growthbook.SinkStats{Sent: 4}},
		{"an arm the subject is no longer in", x("search-ranking", "Search Holdout", "General", heldOut, "search-holdout"),
			nil, growthbook.SinkStats{Sent: 4, Mismatched: 1}},
		{"an experiment the evaluation no longer assigns", x("search-ranking", "Gone", "General", general, "gone-exp"),
			nil, growthbook.SinkStats{Sent: 4, Mismatched: 1, Skipped: 1}},
		{"no key, a holdout arm: not the flag's own experiment", x("search-ranking", "Search Holdout", "Held out", heldOut, ""),
			nil, growthbook.SinkStats{Sent: 4, Mismatched: 1, Skipped: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(v.all())
			require.NoError(t, s.Send(context.Background(), []exposure.Exposure{tt.x}))
			assert.Equal(t, tt.then, s.Stats())
			calls := v.all()[before:]
			if tt.want == nil {
				assert.Empty(t, calls)
				return
			}
			require.Len(t, calls, 1)
			got := calls[0]
			assert.Equal(t, *tt.want, call{got.Experiment.Key, got.Result.Key, got.Result.FeatureId, got.Result.Passthrough})
			assert.True(t, got.Result.InExperiment)
			assert.Equal(t, tt.x.Identity.DistinctID, got.Result.HashValue)
		})
	}
	assert.Zero(t, tr.calls(), "the sink's evaluations ran the client's own tracking")
}
