package unleash_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/unleash"
)

// An Unleash toggle with variants, evaluated through OpenFeature: the value
// is the variant's payload, and the flag metadata names the experiment (the
// toggle) and the variant for the exposure Tracker. The evaluation counts
// nothing in Unleash's metrics and emits no impression event.
func ExampleNew() {
	// A stand-in for the Unleash API.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"version": 2, "features": [{"name": "checkout-redesign", "enabled": true,
			"strategies": [{"name": "default"}],
			"variants": [{"name": "redesign", "weight": 1000, "stickiness": "default", "payload": {"type": "string", "value": "modern"}}]}]}`)
	}))
	defer srv.Close()
	backups, _ := os.MkdirTemp("", "unleash-example-")
	defer os.RemoveAll(backups)

	provider, err := unleash.NewProvider(unleash.WithClientOptions(
		unleashsdk.WithUrl(srv.URL),
		unleashsdk.WithAppName("shop"),
		unleashsdk.WithBackupPath(backups),
	))
	if err != nil {
		fmt.Println(err)
		return
	}
	api := isolated.NewAPI() // or the openfeature package's global API
	if err := api.SetProviderAndWait(context.Background(), provider); err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = api.Shutdown(context.Background()) }()

	d, _ := api.NewClient().StringValueDetails(context.Background(), "checkout-redesign", "classic",
		openfeature.NewEvaluationContext("alice", nil))
	fmt.Println(d.Value, d.Variant, d.Reason)
	fmt.Println(d.FlagMetadata[exposure.MetadataExperimentName], d.FlagMetadata[exposure.MetadataExperimentVariant], d.FlagMetadata[exposure.MetadataInExperiment])
	// Output:
	// modern redesign SPLIT
	// checkout-redesign redesign true
}

// The Sink records rendered exposures through a regular Unleash client:
// the SDK counts the variant the user saw in the usage metrics it posts to
// Unleash, and emits its impression event to the client's listener.
func ExampleNewSink() {
	opts := []unleashsdk.ConfigOption{
		unleashsdk.WithUrl("https://unleash.example.com/api/"),
		unleashsdk.WithAppName("shop"),
		unleashsdk.WithCustomHeaders(http.Header{"Authorization": {os.Getenv("UNLEASH_API_TOKEN")}}),
	}
	provider, _ := unleash.NewProvider(unleash.WithClientOptions(opts...))
	exposureClient, _ := unleashsdk.NewClient(append(opts, unleashsdk.WithListener(&unleashsdk.DebugListener{}))...)
	sink, _ := unleash.NewSink(provider, exposureClient)

	tracker, _ := exposure.NewTracker(
		exposure.WithSink(sink),
		// exposure.WithSink(mixpanelSink): the experiment exposure proper
	)
	// Close the Tracker before the Unleash client it delivers through.
	defer exposureClient.Close()
	defer tracker.Close(context.Background())
}
