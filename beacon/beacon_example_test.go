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
		`<div class="slot" {{ exposureBeacon .Ctx "checkout-redesign" }}>…</div><script src="/exposure/beacon" defer></script>`))
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

	// What the script does once the slot was visible long enough.
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

// newExampleTracker is a Tracker of the checkout experiment, delivering to
// recorder, with an OpenFeature client registered under domain.
func newExampleTracker(domain string, recorder *exposuretest.Recorder) (*exposure.Tracker, *openfeature.Client) {
	tracker, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
		exposure.WithSink(recorder),
	)
	if err != nil {
		panic(err)
	}
	_ = openfeature.SetNamedProviderAndWait(domain, memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"checkout-redesign": {Key: "checkout-redesign", State: memprovider.Enabled, DefaultVariant: "b",
			Variants: map[string]any{"a": "classic", "b": "one-page"}},
	}))
	client := openfeature.NewClient(domain)
	client.AddHooks(tracker.Hook())
	return tracker, client
}

// renderToken renders the checkout page's render site for user and
// returns its token.
func renderToken(tracker *exposure.Tracker, client *openfeature.Client, confirmer *beacon.Confirmer, user string) string {
	ctx, scope := tracker.Scope(context.Background())
	_, _ = client.StringValue(ctx, "checkout-redesign", "classic", openfeature.NewEvaluationContext(user, nil))
	var out strings.Builder
	page := template.Must(template.New("").Funcs(confirmer.TemplateFuncs()).Parse(`<div class="slot" {{ exposureBeacon .Ctx "checkout-redesign" }}>`))
	_ = page.Execute(&out, map[string]any{"Ctx": ctx})
	_ = scope.Commit(ctx)
	return regexp.MustCompile(`data-exposure="([^"]+)"`).FindStringSubmatch(out.String())[1]
}

// Each client may confirm a few exposures a second: one that posts faster,
// for instance with tokens rendered for invented users, is answered 429.
// Behind a reverse proxy, pass a key function that reads the client's
// address from the proxy's header instead of nil (beacon.RemoteIP).
func ExampleWithRateLimit() {
	tracker, client := newExampleTracker("example-rate-limit", exposuretest.NewRecorder())
	defer func() { _ = tracker.Close(context.Background()) }()
	key := make([]byte, beacon.MinKeyBytes)
	_, _ = rand.Read(key)
	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key), beacon.WithRateLimit(2, 3, nil))
	if err != nil {
		panic(err)
	}
	for i := range 4 {
		token := renderToken(tracker, client, confirmer, fmt.Sprintf("minted-%d", i))
		req := httptest.NewRequest(http.MethodPost, "/exposure/beacon", strings.NewReader(token))
		req.RemoteAddr = "203.0.113.9:50000"
		rec := httptest.NewRecorder()
		confirmer.ServeHTTP(rec, req)
		if retry := rec.Header().Get("Retry-After"); retry != "" {
			fmt.Println(rec.Code, "retry after", retry+"s")
		} else {
			fmt.Println(rec.Code)
		}
	}
	fmt.Println("rate limited:", confirmer.Stats().RateLimited)
	// Output:
	// 204
	// 204
	// 204
	// 429 retry after 1s
	// rate limited: 1
}

// Two applications that share a key (better: give each its own) cannot
// confirm each other's tokens once each has its own name.
func ExampleWithApplication() {
	tracker, client := newExampleTracker("example-application", exposuretest.NewRecorder())
	defer func() { _ = tracker.Close(context.Background()) }()
	key := make([]byte, beacon.MinKeyBytes)
	_, _ = rand.Read(key)
	shop, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key), beacon.WithApplication("shop"))
	if err != nil {
		panic(err)
	}
	blog, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key), beacon.WithApplication("blog"))
	if err != nil {
		panic(err)
	}
	token := renderToken(tracker, client, shop, "u-7")
	for _, c := range []*beacon.Confirmer{blog, shop} {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/exposure/beacon", strings.NewReader(token)))
		fmt.Println(rec.Code, "forged:", c.Stats().Forged)
	}
	// Output:
	// 400 forged: 1
	// 204 forged: 0
}

// RemoteIP is the default client key of WithRateLimit: the address without
// its port, and an IPv6 address's /64 network, which one subscriber holds.
func ExampleRemoteIP() {
	r := httptest.NewRequest(http.MethodPost, "/exposure/beacon", nil)
	for _, addr := range []string{"203.0.113.9:50000", "[2001:db8:1:2:3:4:5:6]:443"} {
		r.RemoteAddr = addr
		fmt.Println(beacon.RemoteIP(r))
	}
	// Output:
	// 203.0.113.9
	// 2001:db8:1:2::/64
}
