package beacon_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/exposurekit/exposure/exposuretest"
)

// A client-rendered page loads the browser module from the Confirmer and
// observes the element that draws the variant, with the token its JSON API
// got from Confirmer.Token; the module posts the token to /exposure/beacon
// once the element was seen.
func ExampleConfirmer_Module() {
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "pricing-page", Name: "Pricing Page Test"}),
		exposure.WithSink(exposuretest.NewRecorder()))
	if err != nil {
		panic(err)
	}
	defer func() { _ = tracker.Close(context.Background()) }()
	key := make([]byte, beacon.MinKeyBytes) // in production: one secret for every instance
	_, _ = rand.Read(key)
	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key))
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/exposure/js/", http.StripPrefix("/exposure/js/", confirmer.Module()))
	mux.Handle("/exposure/beacon", confirmer) // where the module posts tokens

	// In the page: import { observe } from "/exposure/js/index.js";
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/exposure/js/index.js", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(strings.Contains(rec.Body.String(), "export function observe(element, token, options)"))
	// Output:
	// 200 text/javascript; charset=utf-8
	// true
}
