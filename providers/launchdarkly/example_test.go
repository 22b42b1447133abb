package launchdarkly_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/providers/launchdarkly"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/launchdarkly/go-server-sdk/v7/testhelpers/ldtestdata"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
)

// The provider evaluates through a client whose events are off: nothing
// reaches LaunchDarkly until the Sink sends the exposure at render time.
func ExampleNewProvider() {
	td := ldtestdata.DataSource() // offline flag data; in production, leave DataSource unset
	td.Update(td.Flag("checkout-redesign").
		Variations(ldvalue.String("control"), ldvalue.String("redesign")).
		FallthroughVariationIndex(1))
	client, err := ldclient.MakeCustomClient("sdk-key", ldclient.Config{
		DataSource: td,
		Events:     ldcomponents.NoEvents(), // required: evaluations must not count as exposures
		Logging:    ldcomponents.NoLogging(),
	}, 5*time.Second)
	if err != nil {
		panic(err)
	}
	provider, err := launchdarkly.NewProvider(client,
		launchdarkly.WithVariationNames(map[string]map[int]string{"checkout-redesign": {0: "Control", 1: "Redesign"}}))
	if err != nil {
		panic(err)
	}

	api := isolated.NewAPI() // or the global openfeature.SetProviderAndWait
	if err := api.SetProviderAndWait(context.Background(), provider); err != nil {
		panic(err)
	}
	defer api.Shutdown(context.Background()) // closes client

	d, _ := api.NewClient().StringValueDetails(context.Background(), "checkout-redesign", "control",
		openfeature.NewEvaluationContext("alice", map[string]any{"kind": "user", "plan": "pro"}))
	fmt.Println(d.Value, d.Variant, d.Reason)
	// Output: redesign Redesign DEFAULT
}

// The Sink evaluates again, with a second client whose events are on, when
// the variant was rendered; give it to the Tracker next to Mixpanel's. It
// names variations as its Provider does.
func ExampleNewSink() {
	sdkKey := os.Getenv("LAUNCHDARKLY_SDK_KEY")
	evalClient, err := ldclient.MakeCustomClient(sdkKey, ldclient.Config{Events: ldcomponents.NoEvents()}, 5*time.Second)
	if err != nil {
		panic(err)
	}
	provider, err := launchdarkly.NewProvider(evalClient, // owns evalClient: Shutdown closes it
		launchdarkly.WithVariationNames(map[string]map[int]string{"checkout-redesign": {0: "Control", 1: "Redesign"}}))
	if err != nil {
		panic(err)
	}
	sinkClient, err := ldclient.MakeClient(sdkKey, 5*time.Second) // events on
	if err != nil {
		panic(err)
	}
	defer sinkClient.Close() // after tracker.Close
	ldSink, err := launchdarkly.NewSink(provider, sinkClient)
	if err != nil {
		panic(err)
	}
	mpSink, err := mixpanel.NewSink(os.Getenv("MIXPANEL_TOKEN"))
	if err != nil {
		panic(err)
	}
	tracker, err := exposure.NewTracker(exposure.WithSink(mpSink), exposure.WithSink(ldSink))
	if err != nil {
		panic(err)
	}
	if err := openfeature.SetProviderAndWait(provider); err != nil {
		panic(err)
	}
	openfeature.AddHooks(tracker.Hook())
	defer openfeature.Shutdown()              // 2. closes evalClient
	defer tracker.Close(context.Background()) // 1. delivers the exposures
}
