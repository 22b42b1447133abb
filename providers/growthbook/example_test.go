package growthbook_test

import (
	"context"
	"fmt"

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
