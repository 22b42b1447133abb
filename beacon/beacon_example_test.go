package beacon_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
)

// A variant drawn below the fold is left to the browser: the render puts a
// signed token on the element and sends nothing; the beacon script posts
// the token back once the element was on screen, and only then is the
// exposure committed, deduplicated like any other.
func ExampleNewConfirmer() {
	recorder := exposuretest.NewRecorder()
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithSink(recorder),
	)
	if err != nil {
		panic(err)
	}
	key := make([]byte, beacon.MinKeyBytes) // in production: one secret for every instance
	_, _ = rand.Read(key)
	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key))
	if err != nil {
		panic(err)
	}

	_ = openfeature.SetNamedProviderAndWait("example-beacon", memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"checkout-redesign": {Key: "checkout-redesign", State: memprovider.Enabled, DefaultVariant: "b",
			Variants: map[string]any{"a": "classic", "b": "one-page"}},
	}))
	client := openfeature.NewClient("example-beacon")
	client.AddHooks(tracker.Hook())

	page := template.Must(template.New("checkout").Funcs(exposure.TemplateFuncs()).Funcs(confirmer.TemplateFuncs()).Parse(
		`<aside {{ exposureBeacon .Ctx "checkout-redesign" }}>…</aside><script src="/exposure/beacon" defer></script>`))
	mux := http.NewServeMux()
	mux.Handle("/exposure/beacon", confirmer)
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		user := openfeature.NewEvaluationContext("u-7", nil)
		_, _ = client.StringValue(r.Context(), "checkout-redesign", "classic", user)
		_ = page.Execute(w, map[string]any{"Ctx": r.Context()})
	})
	site := tracker.Middleware(mux)

	rec := httptest.NewRecorder()
	site.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/checkout", nil))
	_ = tracker.Flush(context.Background())
	fmt.Println("exposures after the render:", recorder.Len())

	// What the script does once the aside was visible long enough.
	token := regexp.MustCompile(`data-exposure="([^"]+)"`).FindStringSubmatch(rec.Body.String())[1]
	for range 2 { // the second time is a replay: deduplicated
		rec = httptest.NewRecorder()
		site.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/exposure/beacon", strings.NewReader(token)))
		fmt.Println("confirmation:", rec.Code)
	}
	_ = tracker.Close(context.Background())
	for _, e := range recorder.Exposures() {
		fmt.Printf("exposed %s to %q / %q\n", e.Identity.DistinctID, e.Experiment, e.Variant)
	}
	fmt.Println("accepted:", confirmer.Stats().Accepted,
		"duplicates:", tracker.Stats().Counts[exposure.StageDuplicate])
	// Output:
	// exposures after the render: 0
	// confirmation: 204
	// confirmation: 204
	// exposed u-7 to "Checkout Redesign" / "b"
	// accepted: 2 duplicates: 1
}
