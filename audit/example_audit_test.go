package exposure_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
)

// A 50/50 experiment whose variants were exposed to 1000 and 1100 subjects:
// p = 0.029 is unremarkable for a sample-ratio check (the alarm is p <
// 0.001), while 4000 against 4500 is a broken split.
func ExampleSampleRatio() {
	weights := map[string]float64{"control": 50, "treatment": 50}
	for _, observed := range []map[string]int{
		{"control": 1000, "treatment": 1100},
		{"control": 4000, "treatment": 4500},
	} {
		chi2, p, err := exposure.SampleRatio(observed, weights)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("chi2=%.4f p=%.3g mismatch=%v\n", chi2, p, p < exposure.SRMPValueThreshold)
	}
	// Output:
	// chi2=4.7619 p=0.0291 mismatch=false
	// chi2=29.4118 p=5.85e-08 mismatch=true
}

// Mount the audit view next to the app, outside the exposure middleware,
// behind your own authentication. ?format=json answers the same report.
func ExampleTracker_DebugHandler() {
	tracker, err := exposure.New(
		exposure.WithExperiments(exposure.Experiment{
			FlagKey: "checkout-redesign", Name: "Checkout Redesign",
			Weights: map[string]float64{"Variant A": 50, "Variant B": 50},
		}),
		exposure.WithSink(exposuretest.NewRecorder()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tracker.Close(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/debug/exposures", tracker.DebugHandler())
	// mux.Handle("/", tracker.Middleware(app))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/exposures?format=json", nil))
	var report exposure.AuditReport
	if err := json.Unmarshal(rec.Body.Bytes(), &report); err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range report.Experiments {
		fmt.Println(e.Name, len(e.Variants), "variants, flagged:", e.SRM.Flagged, "-", e.SRM.Note)
	}
	// Output:
	// Checkout Redesign 2 variants, flagged: false - no observations
}
