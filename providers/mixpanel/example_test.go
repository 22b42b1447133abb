package mixpanelflags_test

import (
	"context"
	"fmt"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/exposurekit/exposure"
	mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

// One experiment flag, as Mixpanel's flags API serves its definition.
const exampleDefinitions = `{"flags": [{
  "id": "f-1", "key": "checkout-redesign", "name": "Checkout Redesign", "status": "active", "project_id": 1,
  "context": "distinct_id", "experiment_id": "exp-checkout-1", "is_experiment_active": true,
  "ruleset": {
    "variants": [{"key": "control", "value": "grey", "is_control": true, "split": 0},
                 {"key": "redesign", "value": "green", "split": 1}],
    "rollout": [{"rollout_percentage": 1}]}}]}`

// The provider evaluates Mixpanel's flags without sending an exposure; the
// flag metadata says what the exposure sent at render will carry.
func ExampleNewProvider() {
	api, err := flagstest.NewServer([]byte(exampleDefinitions)) // offline; in production, no config: Mixpanel's API
	if err != nil {
		panic(err)
	}
	defer api.Close()
	provider, err := mixpanelflags.NewProvider(api.Token(), // your project token
		mixpanelflags.WithLocalEvaluation(api.LocalConfig()))
	if err != nil {
		panic(err)
	}

	of := isolated.NewAPI() // or the global openfeature.SetProviderAndWait
	if err := of.SetProviderAndWait(context.Background(), provider); err != nil {
		panic(err)
	}
	defer of.Shutdown(context.Background())
	flags := of.NewClient()

	d, _ := flags.StringValueDetails(context.Background(), "checkout-redesign", "grey",
		openfeature.NewEvaluationContext("alice", map[string]any{"plan": "pro"}))
	md := d.FlagMetadata
	fmt.Println(d.Value, d.Variant, d.Reason)
	fmt.Println(md[exposure.MetadataExperimentName], md[exposure.MetadataPropertyPrefix+mixpanelflags.PropertyExperimentID])
	fmt.Println(len(api.Ingested()), "events sent")
	// Output:
	// green redesign SPLIT
	// checkout-redesign exp-checkout-1
	// 0 events sent
}

// FlagContext shows how an evaluation context becomes Mixpanel's flag
// context: the subject as exposure.DefaultIdentity picks it, the other
// attributes as custom properties for runtime rules.
func ExampleFlagContext() {
	fc, _ := mixpanelflags.FlagContext(openfeature.FlattenedContext{
		openfeature.TargetingKey:   "session-9",
		exposure.AttributeDeviceID: "d-1",
		"plan":                     "pro",
	})
	fmt.Println(fc["distinct_id"], fc["device_id"], fc["custom_properties"])
	// Output: $device:d-1 d-1 map[plan:pro]
}
