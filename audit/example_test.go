package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
	"github.com/exposurekit/exposure/exposuretest"
)

// A 50/50 experiment whose variants were exposed to 1000 and 1100 subjects:
// p = 0.029 is unremarkable for a sample-ratio check (the alarm is p <
// 0.001), while 4000 against 4500 is a broken split. Input that cannot be
// tested says why with an error to test with errors.Is.
func ExampleSampleRatio() {
	weights := map[string]float64{"control": 50, "treatment": 50}
	for _, observed := range []map[string]int{
		{"control": 1000, "treatment": 1100},
		{"control": 4000, "treatment": 4500},
		{"control": 0, "treatment": 0},
	} {
		chi2, p, err := audit.SampleRatio(observed, weights)
		if errors.Is(err, audit.ErrNoObservations) {
			fmt.Println("nothing to test yet")
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("chi2=%.4f p=%.3g mismatch=%v\n", chi2, p, p < audit.SRMPValueThreshold)
	}
	// Output:
	// chi2=4.7619 p=0.0291 mismatch=false
	// chi2=29.4118 p=5.85e-08 mismatch=true
	// nothing to test yet
}

// The Auditor is one option of the Tracker and one handler: mount it next
// to the app, outside the Tracker's middleware, behind your own
// authentication. ?format=json answers the same report as the page.
func ExampleAuditor() {
	aud, err := audit.NewAuditor()
	if err != nil {
		fmt.Println(err)
		return
	}
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{
			FlagKey: "checkout-redesign", Name: "Checkout Redesign",
			Weights: map[string]float64{"classic": 50, "one-page": 50},
		}),
		exposure.WithObserver(aud),
		exposure.WithSink(exposuretest.NewRecorder()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tracker.Close(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/debug/exposures", aud.Handler(tracker))
	// mux.Handle("/", tracker.Middleware(app))

	// What the app does: evaluate the flag in a scope, render, mark.
	err = openfeature.SetNamedProviderAndWait("example-audit", memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"checkout-redesign": {Key: "checkout-redesign", State: memprovider.Enabled, DefaultVariant: "classic",
			Variants: map[string]any{"classic": "classic", "one-page": "one-page"}},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	client := openfeature.NewClient("example-audit")
	client.AddHooks(tracker.Hook())
	for _, user := range []string{"ada", "grace", "ada"} {
		ctx, scope := tracker.Scope(context.Background())
		_, _ = client.StringValue(ctx, "checkout-redesign", "classic", openfeature.NewEvaluationContext(user, nil))
		_ = exposure.MarkRendered(ctx, "checkout-redesign")
		_ = scope.Commit(ctx)
	}

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/exposures?format=json", nil))
	var report audit.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &report); err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range report.Experiments {
		for _, v := range e.Variants {
			fmt.Printf("%s / %s: %d assigned, %d exposed, %d duplicate\n", e.Name, v.Name,
				v.Counts[exposure.StageAssigned], v.Counts[exposure.StageCommitted], v.Counts[exposure.StageDuplicate])
		}
	}
	// Output:
	// Checkout Redesign / classic: 3 assigned, 2 exposed, 1 duplicate
	// Checkout Redesign / one-page: 0 assigned, 0 exposed, 0 duplicate
}

// A variant that breaks the page for some users: through the Tracker's
// middleware, the one-page checkout answers 500 after its mark for one
// user in five. Its failed renders are still exposed (intent to treat);
// the report's failure check compares the variants' failure rates and
// flags the gap once every variant has 100 assignments and the experiment
// 10 failures.
func ExampleFailureCheck() {
	aud, err := audit.NewAuditor()
	if err != nil {
		fmt.Println(err)
		return
	}
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithObserver(aud),
		exposure.WithSink(exposuretest.NewRecorder()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tracker.Close(context.Background())

	// Even users get "classic", odd ones "one-page".
	split := func(f memprovider.InMemoryFlag, ec openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		var n int
		_, _ = fmt.Sscanf(ec[openfeature.TargetingKey].(string), "u%d", &n)
		v := []string{"classic", "one-page"}[n%2]
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason}
	}
	err = openfeature.SetNamedProviderAndWait("example-failures", memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"checkout-redesign": {Key: "checkout-redesign", State: memprovider.Enabled, DefaultVariant: "classic",
			Variants: map[string]any{"classic": "classic", "one-page": "one-page"}, ContextEvaluator: &split},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	client := openfeature.NewClient("example-failures")
	client.AddHooks(tracker.Hook())
	app := tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		v, _ := client.StringValue(r.Context(), "checkout-redesign", "classic", openfeature.NewEvaluationContext(user, nil))
		_ = exposure.MarkRendered(r.Context(), "checkout-redesign")
		var n int
		_, _ = fmt.Sscanf(user, "u%d", &n)
		if v == "one-page" && n%5 == 0 {
			http.Error(w, "template error", http.StatusInternalServerError)
		}
	}))
	for u := range 400 {
		app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, fmt.Sprintf("/checkout?user=u%d", u), nil))
	}

	e := aud.Report(tracker).Experiments[0]
	for _, v := range e.Variants {
		fmt.Printf("%s: %d assigned, %d exposed, failure rate %.0f%%\n",
			v.Name, v.Counts[exposure.StageAssigned], v.Counts[exposure.StageCommitted], 100**v.FailureRate)
	}
	fmt.Printf("flagged: %v (p = %.1g)\n", e.Failures.Flagged, *e.Failures.PValue)
	// Output:
	// classic: 200 assigned, 200 exposed, failure rate 0%
	// one-page: 200 assigned, 200 exposed, failure rate 20%
	// flagged: true (p = 3e-11)
}

// A GrowthBook holdout keeps 10% of users out of every experiment behind
// it. The provider reports it in the flag's metadata as a related
// assignment, exposed as an experiment of its own ("my-holdout") that the
// Tracker's registry cannot weigh: it shares its flag with the experiment
// behind it. WithWeights gives the Auditor its planned split, so that
// 900 general and 100 held-out users pass the sample-ratio check instead
// of failing a test against an equal split.
func ExampleWithWeights() {
	aud, err := audit.NewAuditor(
		audit.WithWeights("my-holdout", map[string]float64{"general": 9, "holdout": 1}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{
			FlagKey: "checkout-redesign", Name: "Checkout Redesign",
			Weights: map[string]float64{"classic": 50, "one-page": 50},
		}),
		exposure.WithObserver(aud),
		exposure.WithSink(exposuretest.NewRecorder()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tracker.Close(context.Background())

	// What a provider with holdouts answers: the flag's own variant, and
	// the holdout in numbered metadata.
	split := func(f memprovider.InMemoryFlag, ec openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		var n int
		_, _ = fmt.Sscanf(ec[openfeature.TargetingKey].(string), "u%d", &n)
		v, group := []string{"classic", "one-page"}[n%2], "general"
		if n%10 == 0 {
			group = "holdout"
		}
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason,
			FlagMetadata: openfeature.FlagMetadata{"experiment.1.name": "my-holdout", "experiment.1.variant": group}}
	}
	err = openfeature.SetNamedProviderAndWait("example-weights", memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"checkout-redesign": {Key: "checkout-redesign", State: memprovider.Enabled, DefaultVariant: "classic",
			Variants: map[string]any{"classic": "classic", "one-page": "one-page"}, ContextEvaluator: &split},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	client := openfeature.NewClient("example-weights")
	client.AddHooks(tracker.Hook())
	for u := range 1000 {
		ctx, scope := tracker.Scope(context.Background())
		_, _ = client.StringValue(ctx, "checkout-redesign", "classic", openfeature.NewEvaluationContext(fmt.Sprintf("u%d", u), nil))
		_ = exposure.MarkRendered(ctx, "checkout-redesign")
		_ = scope.Commit(ctx)
	}

	for _, e := range aud.Report(tracker).Experiments {
		for _, v := range e.Variants {
			fmt.Printf("%s / %s: %d exposed, expected %.0f%%, observed %.0f%%\n", e.Name, v.Name,
				v.Counts[exposure.StageCommitted], 100*v.ExpectedShare, 100*v.ObservedShare)
		}
		fmt.Printf("%s: flagged %v, equal split assumed %v\n", e.Name, e.SRM.Flagged, e.SRM.EqualSplitAssumed)
	}
	// Output:
	// Checkout Redesign / classic: 500 exposed, expected 50%, observed 50%
	// Checkout Redesign / one-page: 500 exposed, expected 50%, observed 50%
	// Checkout Redesign: flagged false, equal split assumed false
	// my-holdout / general: 900 exposed, expected 90%, observed 90%
	// my-holdout / holdout: 100 exposed, expected 10%, observed 10%
	// my-holdout: flagged false, equal split assumed false
}
