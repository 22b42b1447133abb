package mixpanel_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

// A Tracker delivering to Mixpanel. The fake stands in for Mixpanel here;
// in production leave Endpoint empty and set Region.
func ExampleNewSink() {
	fake := mixpaneltest.NewServer(mixpaneltest.Config{Token: "project-token"})
	defer fake.Close()

	sink, err := mixpanel.NewSink(mixpanel.Config{
		Token:    "project-token", // os.Getenv("MIXPANEL_TOKEN")
		Region:   mixpanel.EU,
		Endpoint: fake.URL, // overrides Region
	})
	if err != nil {
		log.Fatal(err)
	}
	tracker, err := exposure.New(
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
	fmt.Println(sink.RetryPolicy().MinBackoff, sink.RetryPolicy().MaxBackoff, sink.RetryPolicy().MaxAge)
	// Output: 2s 1m0s 1h0m0s
}

// Sending one batch directly, as the Tracker's delivery does, and reading
// back what the fake stored.
func ExampleSink_Send() {
	fake := mixpaneltest.NewServer(mixpaneltest.Config{})
	defer fake.Close()
	sink, err := mixpanel.NewSink(fake.SinkConfig())
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
