package soak

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/require"
)

// The two experiments every page shows.
var experiments = []exposure.Experiment{
	{FlagKey: "checkout-redesign", Name: "Checkout Redesign"},
	{FlagKey: "pricing-page", Name: "Pricing Page"},
}

// variants of each flag; a user's variant is a hash of flag and user, the
// same on every visit.
var variants = map[string][]string{
	"checkout-redesign": {"control", "treatment"},
	"pricing-page":      {"monthly", "annual", "lifetime"},
}

func variantOf(flag, user string) string {
	h := fnv.New32a()
	_, _ = io.WriteString(h, flag+"/"+user)
	vs := variants[flag]
	return vs[h.Sum32()%uint32(len(vs))]
}

func newFlagProvider() *memprovider.InMemoryProvider {
	split := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[openfeature.TargetingKey].(string)
		v := variantOf(f.Key, user)
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason}
	}
	flags := map[string]memprovider.InMemoryFlag{}
	for _, e := range experiments {
		vs := map[string]any{}
		for _, v := range variants[e.FlagKey] {
			vs[v] = "shows " + v
		}
		flags[e.FlagKey] = memprovider.InMemoryFlag{Key: e.FlagKey, State: memprovider.Enabled,
			DefaultVariant: variants[e.FlagKey][0], Variants: vs, ContextEvaluator: &split}
	}
	return memprovider.NewInMemoryProvider(flags)
}

// site is the application under test: a page that evaluates both
// experiments with OpenFeature's SDK and marks both rendered, behind the
// Tracker's middleware on a real HTTP server.
type site struct {
	api    *openfeature.EvaluationAPI
	server *httptest.Server
	// markErrors counts MarkRendered calls that failed: a page that could
	// not record what it showed.
	markErrors atomic.Int64
}

func startSite(t *testing.T, tr *exposure.Tracker) *site {
	t.Helper()
	s := &site{api: isolated.NewAPI()}
	require.NoError(t, s.api.SetProviderAndWait(context.Background(), newFlagProvider()))
	s.api.AddHooks(tr.Hook())
	client := s.api.NewClient()

	mux := http.NewServeMux()
	// GET /page?user=U answers one line per experiment: "flag=variant",
	// the variant the page showed, which the visitor writes down.
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil)
		w.Header().Set("Content-Type", "text/plain")
		for _, e := range experiments {
			d, err := client.StringValueDetails(r.Context(), e.FlagKey, "off", ec)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if err := exposure.MarkRendered(r.Context(), e.FlagKey); err != nil {
				s.markErrors.Add(1)
			}
			fmt.Fprintf(w, "%s=%s\n", e.FlagKey, d.Variant)
		}
	})
	s.server = httptest.NewServer(tr.Middleware(mux))
	return s
}

// stop closes the HTTP server and shuts the OpenFeature API down.
func (s *site) stop(ctx context.Context) error {
	s.server.Close()
	return s.api.Shutdown(ctx)
}
