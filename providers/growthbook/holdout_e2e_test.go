package growthbook_test

import (
	"slices"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/growthbook"
)

// mixpanelExposures lists the Mixpanel exposures as "experiment/variant",
// sorted, after checking each is the user's.
func mixpanelExposures(t *testing.T, a *app, id string) []string {
	t.Helper()
	var out []string
	for _, e := range a.mp.Events() {
		assert.Equal(t, "$experiment_started", e.Name)
		assert.Equal(t, id, e.DistinctID)
		out = append(out, e.Properties["Experiment name"].(string)+"/"+e.Properties["Variant name"].(string))
	}
	slices.Sort(out)
	return out
}

// growthBookExposures lists the Experiment Viewed events GrowthBook's
// ingestor received as "experimentId/variationId", sorted, after checking
// each is the user's.
func growthBookExposures(t *testing.T, a *app, id string) []string {
	t.Helper()
	var out []string
	for _, e := range a.ingest.all() {
		p := e["properties_json"].(map[string]any)
		assert.Equal(t, id, p["hashValue"])
		out = append(out, p["experimentId"].(string)+"/"+p["variationId"].(string))
	}
	slices.Sort(out)
	return out
}

// A rendered variant exposes the subject to every experiment its
// evaluation assigned: a holdout and the experiment behind it both reach
// Mixpanel, as two $experiment_started events, and GrowthBook's tracking,
// as two Experiment Viewed events; a subject held out reaches both with
// the holdout alone. A refresh sends nothing new.
func TestEndToEndHoldouts(t *testing.T) {
	arm := func(v string) func(openfeature.FlagMetadata) bool {
		return func(md openfeature.FlagMetadata) bool { return md["experiment.1.variant"] == v }
	}
	tests := []struct {
		name     string
		flag     string
		who      func(openfeature.FlagMetadata) bool
		opts     []exposure.Option
		mixpanel []string
		gb       []string
	}{
		{
			name: "GrowthBook holdout, treatment arm", flag: "recommendations",
			who: func(md openfeature.FlagMetadata) bool {
				return md["experiment.1.variant"] == "1" && md[exposure.MetadataExperimentVariant] == "Personalized"
			},
			mixpanel: []string{"Recommendations/Personalized", "holdout-q3/1"},
			gb:       []string{"holdout-q3/1", "recs-exp/personal"},
		},
		{
			name: "GrowthBook holdout, held-out arm", flag: "recommendations", who: arm("0"),
			mixpanel: []string{"holdout-q3/0"},
			gb:       []string{"holdout-q3/0"},
		},
		{
			name: "inline holdout, passthrough arm", flag: "search-ranking",
			who: func(md openfeature.FlagMetadata) bool {
				return md["experiment.1.variant"] == "General" && md[exposure.MetadataExperimentVariant] == "Control"
			},
			mixpanel: []string{"Search Holdout/General", "Search Ranking/Control"},
			gb:       []string{"ranking-exp/ctl", "search-holdout/general"},
		},
		{
			name: "inline holdout, held-out arm", flag: "search-ranking", who: arm("Held out"),
			mixpanel: []string{"Search Holdout/Held out"},
			gb:       []string{"search-holdout/held-out"},
		},
		{
			// The registry names the flag's own experiment, never the
			// holdout around it; the Sink finds both all the same.
			name: "registered flag, treatment arm", flag: "recommendations",
			opts: []exposure.Option{exposure.WithExperiments(exposure.Experiment{
				FlagKey: "recommendations", Name: "Recs v2", Variants: map[string]string{"Personalized": "B"},
			})},
			who: func(md openfeature.FlagMetadata) bool {
				return md["experiment.1.variant"] == "1" && md[exposure.MetadataExperimentVariant] == "Personalized"
			},
			mixpanel: []string{"Recs v2/B", "holdout-q3/1"},
			gb:       []string{"holdout-q3/1", "recs-exp/personal"},
		},
		{
			name: "registered flag, held-out arm", flag: "recommendations", who: arm("0"),
			opts: []exposure.Option{exposure.WithExperiments(exposure.Experiment{
				FlagKey: "recommendations", Name: "Recs v2", Variants: map[string]string{"Personalized": "B"},
			})},
			mixpanel: []string{"holdout-q3/0"},
			gb:       []string{"holdout-q3/0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(t, tt.opts...)
			id := userWhere(t, a.provider, tt.flag, tt.who)
			page := "/page?flag=" + tt.flag + "&user=" + id

			a.get(t, page)
			a.flush(t)
			assert.Equal(t, tt.mixpanel, mixpanelExposures(t, a, id))
			assert.Equal(t, growthbook.SinkStats{Sent: uint64(len(tt.gb))}, a.gbSink.Stats())

			// A refresh: nothing new to either. Closing the tracking client
			// waits for its posts in flight.
			a.get(t, page)
			a.flush(t)
			require.NoError(t, a.tracking.Close())
			assert.Equal(t, tt.mixpanel, mixpanelExposures(t, a, id), "a refresh sent something to Mixpanel")
			assert.Equal(t, tt.gb, growthBookExposures(t, a, id))
			assert.Equal(t, growthbook.SinkStats{Sent: uint64(len(tt.gb))}, a.gbSink.Stats())
			assert.Zero(t, a.legacy.calls(), "evaluation ran the app's GrowthBook tracking")
		})
	}
}
