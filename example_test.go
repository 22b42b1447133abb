package exposure_test

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
)

// exampleProvider serves "checkout-redesign" as variant "b" to everybody.
func exampleProvider() *memprovider.InMemoryProvider {
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"checkout-redesign": {Key: "checkout-redesign", State: memprovider.Enabled, DefaultVariant: "b",
			Variants: map[string]any{"a": "classic", "b": "one-page"}},
	})
}

// The whole flow outside HTTP: an evaluation is an assignment, a render
// makes it an exposure, a second render in another scope is a duplicate.
func Example() {
	recorder := exposuretest.NewRecorder()
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{
			FlagKey:  "checkout-redesign",
			Name:     "Checkout Redesign",
			Variants: map[string]string{"a": "Variant A", "b": "Variant B"},
		}),
		exposure.WithSink(recorder),
	)
	if err != nil {
		panic(err)
	}
	_ = openfeature.SetNamedProviderAndWait("example", exampleProvider())
	client := openfeature.NewClient("example")
	client.AddHooks(tracker.Hook())

	for range 2 { // two page views of the same user
		ctx, scope := tracker.Scope(context.Background())
		user := openfeature.NewEvaluationContext("u-42", map[string]any{"$user_id": "u-42"})
		value, _ := client.StringValue(ctx, "checkout-redesign", "classic", user) // assignment: nothing sent
		fmt.Println("render", value)
		_ = exposure.MarkRendered(ctx, "checkout-redesign") // on screen
		_ = scope.Commit(ctx)
	}
	_ = tracker.Close(context.Background()) // delivers what is queued

	for _, e := range recorder.Exposures() {
		fmt.Printf("exposed %s to %q / %q\n", e.Identity.DistinctID, e.Experiment, e.Variant)
	}
	fmt.Println("duplicates:", tracker.Stats().Counts[exposure.StageDuplicate])
	// Output:
	// render one-page
	// render one-page
	// exposed u-42 to "Checkout Redesign" / "Variant B"
	// duplicates: 1
}

// The middleware gives every request a Scope; the template marks the
// variant where it is drawn.
func ExampleTracker_Middleware() {
	recorder := exposuretest.NewRecorder()
	tracker, _ := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithSink(recorder),
	)
	_ = openfeature.SetNamedProviderAndWait("example-http", exampleProvider())
	client := openfeature.NewClient("example-http")
	client.AddHooks(tracker.Hook())

	page := template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Parse(
		`<div class="{{.Variant}}">…</div>{{ exposed .Ctx "checkout-redesign" }}`))
	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := openfeature.NewEvaluationContext("u-7", nil)
		v, _ := client.StringValue(r.Context(), "checkout-redesign", "classic", user)
		_ = page.Execute(w, map[string]any{"Ctx": r.Context(), "Variant": v})
	})

	rec := httptest.NewRecorder()
	tracker.Middleware(checkout).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/checkout", nil))
	fmt.Println(rec.Body.String())
	_ = tracker.Close(context.Background())
	for _, e := range recorder.Exposures() {
		fmt.Printf("exposed %s to %q / %q\n", e.Identity.DistinctID, e.Experiment, e.Variant)
	}
	// Output:
	// <div class="one-page">…</div>
	// exposed u-7 to "Checkout Redesign" / "b"
}

// MarkRendered reports render-site bugs as errors; they never fail a page.
func ExampleMarkRendered() {
	tracker, _ := exposure.NewTracker(exposure.WithSink(exposuretest.NewRecorder()))
	defer tracker.Close(context.Background())

	err := exposure.MarkRendered(context.Background(), "checkout-redesign")
	fmt.Println(errors.Is(err, exposure.ErrNoScope))

	ctx, _ := tracker.Scope(context.Background())
	err = exposure.MarkRendered(ctx, "checkout-redesign") // never evaluated here
	fmt.Println(errors.Is(err, exposure.ErrNotAssigned))
	// Output:
	// true
	// true
}
