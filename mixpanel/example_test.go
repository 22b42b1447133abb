package mixpanel_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

// A Tracker delivering to Mixpanel. The fake stands in for Mixpanel here;
// in production leave out WithEndpoint and keep WithRegion.
func ExampleNewSink() {
	fake, err := mixpaneltest.NewServer(mixpaneltest.WithToken("project-token"))
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	sink, err := mixpanel.NewSink("project-token", // os.Getenv("MIXPANEL_TOKEN")
		mixpanel.WithRegion(mixpanel.EU),
		mixpanel.WithEndpoint(fake.URL), // overrides the region
	)
	if err != nil {
		log.Fatal(err)
	}
	// The pipeline retries with Mixpanel's recommended schedule (2s..60s,
	// for an hour) unless WithBackoff and WithMaxRetryAge say otherwise.
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithSink(sink),
	)
	if err != nil {
		log.Fatal(err)
	}
	// ... openfeature.AddHooks(tracker.Hook()), serve with tracker.Middleware ...
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tracker.Close(ctx); err != nil {
		log.Print(err) // wraps exposure.ErrUndelivered with the count
	}
	fmt.Println(tracker.Stats().Sinks[0].Name)
	// Output: mixpanel
}

// Configuration errors name every misconfigured option at once, never a
// secret, and wrap exposure.ErrInvalidConfig.
func ExampleNewSink_configurationErrors() {
	_, err := mixpanel.NewSink("project-token",
		mixpanel.WithRegion("APAC"),
		mixpanel.WithServiceAccount("sa.user", "s3cret", ""),
	)
	fmt.Println(errors.Is(err, exposure.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// true
	// exposure: invalid configuration: mixpanel: WithRegion("APAC"): the region is not one of US, EU, IN
	// exposure: invalid configuration: mixpanel: WithServiceAccount needs a user, a secret and a project id; missing project id
}

// A sink for a proxy in front of Mixpanel, authenticated with a service
// account, with a property added to every event and a longer retry
// schedule than the pipeline's default.
func ExampleWithServiceAccount() {
	sink, err := mixpanel.NewSink("project-token",
		mixpanel.WithServiceAccount("exposures.1a2b3c.mp-service-account", "service-account-secret", "3141592"),
		mixpanel.WithEndpoint("https://mixpanel-proxy.internal"),
		mixpanel.WithProperties(map[string]any{"app": "checkout"}),
		mixpanel.WithRequestTimeout(10*time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	tracker, err := exposure.NewTracker(
		exposure.WithSink(sink, exposure.WithBackoff(5*time.Second, 5*time.Minute),
			exposure.WithMaxRetryAge(6*time.Hour)),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tracker.Close(context.Background()))
	// Output: <nil>
}

// Sending one batch directly, as the Tracker's delivery does, and reading
// back what the fake stored.
func ExampleSink_Send() {
	fake, err := mixpaneltest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	sink, err := mixpanel.NewSink(fake.Token(), mixpanel.WithEndpoint(fake.URL))
	if err != nil {
		log.Fatal(err)
	}
	err = sink.Send(context.Background(), []exposure.Exposure{{
		Assignment: exposure.Assignment{
			Experiment: "Checkout Redesign", Variant: "one-page",
			Identity: exposure.Identity{DistinctID: "user-42", UserID: "user-42"},
		},
		Time:     time.Now(),
		InsertID: "5f0c6b8a2d3e4f1a9b7c6d5e4f3a2b1c",
	}})
	fmt.Println(err)
	for _, e := range fake.Events() {
		fmt.Println(e.Name, e.DistinctID, e.Properties["Experiment name"], e.Properties["Variant name"])
	}
	// Output:
	// <nil>
	// $experiment_started user-42 Checkout Redesign one-page
}
