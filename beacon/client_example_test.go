package beacon_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
)

// A JSON API whose client draws the variant: the handler evaluates the
// flag and answers the variant with a confirmation token; the client (a
// single-page app, a mobile app) posts the token back once the variant was
// on screen, and only then is the exposure committed.
func ExampleConfirmer_Token() {
	recorder := exposuretest.NewRecorder()
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "pricing-page", Name: "Pricing Page Test"}),
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
	_ = openfeature.SetNamedProviderAndWait("example-token", memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"pricing-page": {Key: "pricing-page", State: memprovider.Enabled, DefaultVariant: "bold",
			Variants: map[string]any{"classic": "classic", "bold": "bold"}},
	}))
	client := openfeature.NewClient("example-token")
	client.AddHooks(tracker.Hook())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/pricing", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext("user-1", map[string]any{"country": "FR"})
		plan, _ := client.StringValue(r.Context(), "pricing-page", "classic", ec)
		tok, err := confirmer.Token(r.Context(), "pricing-page")
		if err != nil {
			fmt.Println("no token:", err) // log it; the answer still goes out
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"plan": plan, "exposureToken": tok})
	})
	mux.Handle("/exposure/beacon", confirmer)
	srv := httptest.NewServer(tracker.Middleware(mux))
	defer srv.Close()

	res, _ := http.Get(srv.URL + "/api/pricing")
	var body struct{ Plan, ExposureToken string }
	_ = json.NewDecoder(res.Body).Decode(&body)
	_ = res.Body.Close()
	_ = tracker.Flush(context.Background())
	fmt.Println("plan:", body.Plan, "exposures before the client confirms:", len(recorder.Exposures()))

	// The client, once the variant was seen:
	res, _ = http.Post(srv.URL+"/exposure/beacon", "text/plain", strings.NewReader(body.ExposureToken))
	_ = res.Body.Close()
	fmt.Println("confirmation:", res.StatusCode)
	_ = tracker.Flush(context.Background())
	x := recorder.Exposures()[0]
	fmt.Println(x.Experiment, x.Variant, x.Context.Attribute("country"))
	_ = tracker.Close(context.Background())
	// Output:
	// plan: bold exposures before the client confirms: 0
	// confirmation: 204
	// Pricing Page Test bold FR
}

// A front end served from another origin than its API posts confirmations
// across origins: list its origin. Other origins' browsers are refused.
func ExampleWithAllowedOrigins() {
	tracker, _ := exposure.NewTracker(exposure.WithSink(exposuretest.NewRecorder()))
	defer func() { _ = tracker.Close(context.Background()) }()
	key := make([]byte, beacon.MinKeyBytes)
	_, _ = rand.Read(key)
	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key),
		beacon.WithAllowedOrigins("https://app.example.com"))
	if err != nil {
		panic(err)
	}
	preflight := httptest.NewRequest(http.MethodOptions, "https://api.example.com/exposure/beacon", nil)
	preflight.Header.Set("Origin", "https://app.example.com")
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	confirmer.ServeHTTP(rec, preflight)
	fmt.Println(rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), rec.Header().Get("Access-Control-Allow-Methods"))

	_, err = beacon.NewConfirmer(tracker, beacon.WithKeys(key), beacon.WithAllowedOrigins("*"))
	fmt.Println(err != nil)
	// Output:
	// 204 https://app.example.com POST
	// true
}
