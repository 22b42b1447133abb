package growthbook_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/providers/growthbook"
)

// A GrowthBook experiment behind OpenFeature: the evaluation tracks
// nothing; the render sends one exposure to Mixpanel (here a Recorder) and
// one experiment-viewed call to GrowthBook's tracking.
func Example() {
	ctx := context.Background()
	client, _ := gb.NewClient(ctx, gb.WithJsonFeatures(`{"checkout-redesign": {"defaultValue": "control", "rules": [{
		"key": "checkout-exp", "name": "Checkout Redesign", "hashVersion": 2,
		"variations": ["control", "redesign"], "weights": [0.5, 0.5],
		"meta": [{"key": "ctl", "name": "Control"}, {"key": "red", "name": "Redesign"}]}]}}`))
	defer client.Close()
	provider, _ := growthbook.NewProvider(client)
	viewed := func(_ context.Context, e *gb.Experiment, r *gb.ExperimentResult, u *gb.TrackingUserContext, _ any) {
		fmt.Printf("GrowthBook: %v viewed %s, variation %s\n", u.Attributes["id"], e.Key, r.Key)
	}
	gbSink, _ := growthbook.NewSink(provider, viewed)
	mixpanel := exposuretest.NewRecorder() // a mixpanel.Sink in production
	tracker, _ := exposure.NewTracker(exposure.WithSink(gbSink), exposure.WithSink(mixpanel))

	api := isolated.NewAPI() // or the openfeature package's global API
	_ = api.SetProviderAndWait(ctx, provider)
	api.AddHooks(tracker.Hook())
	flags := api.NewClient()

	// One request (tracker.Middleware opens and commits the scope for you).
	reqCtx, scope := tracker.Scope(ctx)
	v, _ := flags.StringValue(reqCtx, "checkout-redesign", "control", openfeature.NewEvaluationContext("alice", nil))
	fmt.Println("alice is assigned", v)
	_ = exposure.MarkRendered(reqCtx, "checkout-redesign") // {{ exposed .Ctx "checkout-redesign" }}
	_ = scope.Commit(reqCtx)

	_ = tracker.Close(ctx)
	for _, e := range mixpanel.Exposures() {
		fmt.Printf("Mixpanel: %s saw %q, variant %q\n", e.Identity.DistinctID, e.Experiment, e.Variant)
	}
	// Output:
	// alice is assigned control
	// GrowthBook: alice viewed checkout-exp, variation ctl
	// Mixpanel: alice saw "Checkout Redesign", variant "Control"
}

// A GrowthBook holdout around an experiment: one render exposes the user
// to both, so Mixpanel gets two exposures and GrowthBook's tracking two
// experiment-viewed calls; a user in the held-out arm ran no experiment,
// and is exposed to the holdout alone.
func Example_holdout() {
	ctx := context.Background()
	client, _ := gb.NewClient(ctx, gb.WithJsonFeatures(`{
		"$holdout:q3": {"defaultValue": "genpop", "rules": [{"id": "$holdout:q3", "key": "holdout-q3",
			"hashVersion": 2, "variations": ["holdoutcontrol", "holdouttreatment"], "weights": [0.5, 0.5],
			"meta": [{"key": "held-out", "name": "Held out"}, {"key": "general", "name": "General"}]}]},
		"recommendations": {"defaultValue": "classic", "rules": [
			{"parentConditions": [{"id": "$holdout:q3", "condition": {"value": "holdoutcontrol"}}], "force": "classic"},
			{"key": "recs-exp", "name": "Recommendations", "hashVersion": 2,
			 "variations": ["classic", "personal"], "weights": [0.5, 0.5],
			 "meta": [{"key": "ctl", "name": "Control"}, {"key": "personal", "name": "Personalized"}]}]}}`))
	defer client.Close()
	provider, _ := growthbook.NewProvider(client)
	var mu sync.Mutex
	var gbViewed []string
	gbSink, _ := growthbook.NewSink(provider, func(_ context.Context, e *gb.Experiment, r *gb.ExperimentResult, u *gb.TrackingUserContext, _ any) {
		mu.Lock()
		defer mu.Unlock()
		gbViewed = append(gbViewed, fmt.Sprintf("GrowthBook: %v viewed %s, variation %s", u.Attributes["id"], e.Key, r.Key))
	})
	mixpanel := exposuretest.NewRecorder()
	tracker, _ := exposure.NewTracker(exposure.WithSink(gbSink), exposure.WithSink(mixpanel))

	api := isolated.NewAPI()
	_ = api.SetProviderAndWait(ctx, provider)
	api.AddHooks(tracker.Hook())
	flags := api.NewClient()

	for _, user := range []string{"alice", "bob"} {
		reqCtx, scope := tracker.Scope(ctx)
		v, _ := flags.StringValue(reqCtx, "recommendations", "classic", openfeature.NewEvaluationContext(user, nil))
		fmt.Println(user, "is assigned", v)
		_ = exposure.MarkRendered(reqCtx, "recommendations")
		_ = scope.Commit(reqCtx)
	}

	_ = tracker.Close(ctx)
	var mp []string
	for _, e := range mixpanel.Exposures() {
		mp = append(mp, fmt.Sprintf("Mixpanel: %s saw %q, variant %q", e.Identity.DistinctID, e.Experiment, e.Variant))
	}
	slices.Sort(mp)
	slices.Sort(gbViewed)
	fmt.Println(strings.Join(append(mp, gbViewed...), "\n"))
	// Output:
	// alice is assigned classic
	// bob is assigned classic
	// Mixpanel: alice saw "Recommendations", variant "Control"
	// Mixpanel: alice saw "holdout-q3", variant "General"
	// Mixpanel: bob saw "holdout-q3", variant "Held out"
	// GrowthBook: alice viewed holdout-q3, variation general
	// GrowthBook: alice viewed recs-exp, variation ctl
	// GrowthBook: bob viewed holdout-q3, variation held-out
}
