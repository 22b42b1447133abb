package exposure_test

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"sync"

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

// stageCounter is the smallest useful Observer: it counts exposures by
// experiment. Observe runs on the request path, so it takes a lock only
// long enough to add one.
type stageCounter struct {
	mu      sync.Mutex
	exposed map[string]int
}

func (c *stageCounter) Observe(ev exposure.Event) {
	if ev.Stage != exposure.StageCommitted {
		return
	}
	c.mu.Lock()
	c.exposed[ev.Exposure.Experiment]++
	c.mu.Unlock()
}

// An Observer sees every stage of the pipeline as it happens, the same
// events that Stats counts.
func ExampleWithObserver() {
	counter := &stageCounter{exposed: map[string]int{}}
	tracker, _ := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithSink(exposuretest.NewRecorder()),
		exposure.WithObserver(counter),
	)
	_ = openfeature.SetNamedProviderAndWait("example-observer", exampleProvider())
	client := openfeature.NewClient("example-observer")
	client.AddHooks(tracker.Hook())

	for _, user := range []string{"u-1", "u-2", "u-1"} {
		ctx, scope := tracker.Scope(context.Background())
		_, _ = client.StringValue(ctx, "checkout-redesign", "classic", openfeature.NewEvaluationContext(user, nil))
		_ = exposure.MarkRendered(ctx, "checkout-redesign")
		_ = scope.Commit(ctx)
	}
	_ = tracker.Close(context.Background())
	st := tracker.Stats()
	fmt.Println("observed exposures:", counter.exposed["Checkout Redesign"])
	fmt.Println("stats:", st.Counts[exposure.StageCommitted], "committed,", st.Counts[exposure.StageDuplicate], "duplicate")
	// Output:
	// observed exposures: 2
	// stats: 2 committed, 1 duplicate
}

// HandOff leaves an exposure to another party, such as a client that
// reports when the variant became visible; Confirm commits it then.
func ExampleScope_HandOff() {
	recorder := exposuretest.NewRecorder()
	tracker, _ := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithSink(recorder),
	)
	_ = openfeature.SetNamedProviderAndWait("example-handoff", exampleProvider())
	client := openfeature.NewClient("example-handoff")
	client.AddHooks(tracker.Hook())

	ctx, scope := tracker.Scope(context.Background())
	_, _ = client.StringValue(ctx, "checkout-redesign", "classic", openfeature.NewEvaluationContext("u-9", nil))
	assignment, err := scope.HandOff("checkout-redesign")
	if err != nil {
		panic(err)
	}
	_ = scope.Commit(ctx) // sends nothing: the exposure is the client's to confirm
	_ = tracker.Flush(context.Background())
	fmt.Println("after commit:", recorder.Len())

	// Later, when the client says the variant was seen:
	_ = tracker.Confirm(context.Background(), assignment)
	_ = tracker.Close(context.Background())
	fmt.Println("after confirm:", recorder.Len(), recorder.Exposures()[0].Variant)
	// Output:
	// after commit: 0
	// after confirm: 1 b
}
