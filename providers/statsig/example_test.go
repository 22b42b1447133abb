package statsig_test

import (
	"context"
	"fmt"
	"os"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/providers/statsig"
	"github.com/exposurekit/exposure/providers/statsig/statsigtest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	sdk "github.com/statsig-io/go-sdk"
)

// A gate and an experiment, as the Statsig API serves them.
const specs = `{
  "feature_gates": [{"name": "new_nav", "type": "feature_gate", "entity": "feature_gate", "enabled": true, "salt": "n",
    "defaultValue": false, "idType": "userID",
    "rules": [{"name": "all", "id": "all", "salt": "a", "passPercentage": 100, "idType": "userID", "returnValue": true,
      "conditions": [{"type": "public"}]}]}],
  "dynamic_configs": [{"name": "checkout_redesign", "type": "dynamic_config", "entity": "experiment", "isActive": true,
    "enabled": true, "salt": "c", "idType": "userID", "defaultValue": {"button_color": "grey"},
    "rules": [{"name": "test", "id": "6gTq0Zf1", "groupName": "Test", "isExperimentGroup": true, "salt": "t",
      "passPercentage": 100, "idType": "userID", "returnValue": {"button_color": "green"},
      "conditions": [{"type": "public"}]}]}]
}`

// The provider reads gates, configs and experiments without logging
// exposures, and names the experiment and group in the flag metadata.
func ExampleNewProvider() {
	api, err := statsigtest.NewServer([]byte(specs)) // offline; in production, pass your own *sdk.Options
	if err != nil {
		panic(err)
	}
	defer api.Close()
	provider, err := statsig.NewProvider("secret-key", api.Options())
	if err != nil {
		panic(err)
	}

	of := isolated.NewAPI() // or the global openfeature.SetProviderAndWait
	if err := of.SetProviderAndWait(context.Background(), provider); err != nil {
		panic(err)
	}
	defer of.Shutdown(context.Background())
	flags := of.NewClient()
	alice := openfeature.NewEvaluationContext("alice", map[string]any{"country": "FR"})

	nav, _ := flags.BooleanValue(context.Background(), "new_nav", false, alice)
	d, _ := flags.StringValueDetails(context.Background(), "checkout_redesign.button_color", "grey", alice)
	fmt.Println(nav, d.Value, d.Variant, d.Reason, d.FlagMetadata[exposure.MetadataExperimentName])
	// Output: true green Test SPLIT checkout_redesign
}

// The Sink logs Statsig's manual exposure through the provider's client
// when the variant was rendered; give it to the Tracker next to Mixpanel's.
func ExampleNewSink() {
	provider, err := statsig.NewProvider(os.Getenv("STATSIG_SERVER_SECRET"), &sdk.Options{})
	if err != nil {
		panic(err)
	}
	statsigSink, err := statsig.NewSink(provider)
	if err != nil {
		panic(err)
	}
	mpSink, err := mixpanel.NewSink(os.Getenv("MIXPANEL_TOKEN"))
	if err != nil {
		panic(err)
	}
	tracker, err := exposure.NewTracker(exposure.WithSink(mpSink), exposure.WithSink(statsigSink))
	if err != nil {
		panic(err)
	}
	if err := openfeature.SetProviderAndWait(provider); err != nil {
		panic(err)
	}
	openfeature.AddHooks(tracker.Hook())
	defer openfeature.Shutdown()              // 2. flushes what Statsig logged
	defer tracker.Close(context.Background()) // 1. delivers the exposures
}
