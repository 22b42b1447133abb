package metrics_test

import (
	"context"
	"fmt"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/metrics"
)

// A Recorder is one option of the Tracker. Here the MeterProvider is read
// by hand; an app passes its own, such as otel.GetMeterProvider().
func ExampleNewRecorder() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	rec, err := metrics.NewRecorder(mp)
	if err != nil {
		fmt.Println(err)
		return
	}
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithObserver(rec),
		exposure.WithSink(exposuretest.NewRecorder()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tracker.Close(context.Background())

	// What the app does: evaluate the flag in a scope, render, mark.
	err = openfeature.SetNamedProviderAndWait("example-metrics", memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"checkout-redesign": {Key: "checkout-redesign", State: memprovider.Enabled, DefaultVariant: "one-page",
			Variants: map[string]any{"classic": "classic", "one-page": "one-page"}},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	client := openfeature.NewClient("example-metrics")
	client.AddHooks(tracker.Hook())
	for _, user := range []string{"ada", "grace", "ada"} {
		ctx, scope := tracker.Scope(context.Background())
		_, _ = client.StringValue(ctx, "checkout-redesign", "classic", openfeature.NewEvaluationContext(user, nil))
		_ = exposure.MarkRendered(ctx, "checkout-redesign")
		_ = scope.Commit(ctx)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch m.Name {
		case "exposure.assignments", "exposure.committed", "exposure.duplicates":
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				variant, _ := dp.Attributes.Value(metrics.AttrVariant)
				fmt.Printf("%s{variant=%s} %d\n", m.Name, variant.AsString(), dp.Value)
			}
		}
	}
	// Output:
	// exposure.assignments{variant=one-page} 3
	// exposure.committed{variant=one-page} 2
	// exposure.duplicates{variant=one-page} 1
}
