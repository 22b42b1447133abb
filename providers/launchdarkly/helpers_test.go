package launchdarkly

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldbuilders"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/launchdarkly/go-server-sdk/v7/testhelpers/ldtestdata"
	"github.com/stretchr/testify/require"
)

// eventServer stands in for LaunchDarkly's event intake: it keeps every
// analytics event posted to it.
type eventServer struct {
	*httptest.Server
	mu     sync.Mutex
	events []map[string]any
	posts  int
}

func newEventServer(t testing.TB) *eventServer {
	t.Helper()
	s := &eventServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var evs []map[string]any
		if r.URL.Path == "/bulk" {
			if err := json.Unmarshal(body, &evs); err != nil {
				t.Errorf("event post is not a JSON array: %v: %s", err, body)
			}
		}
		s.mu.Lock()
		s.posts++
		s.events = append(s.events, evs...)
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.Close)
	return s
}

// ofKind returns the posted events of one kind ("feature", "summary", ...).
func (s *eventServer) ofKind(kind string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, e := range s.events {
		if e["kind"] == kind {
			out = append(out, e)
		}
	}
	return out
}

func (s *eventServer) postCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts
}

// evaluations is how many evaluations of flag LaunchDarkly was told about:
// the count of its summary counters.
func (s *eventServer) evaluations(flag string) int {
	n := 0
	for _, sum := range s.ofKind("summary") {
		features, _ := sum["features"].(map[string]any)
		f, _ := features[flag].(map[string]any)
		counters, _ := f["counters"].([]any)
		for _, c := range counters {
			cm, _ := c.(map[string]any)
			count, _ := cm["count"].(float64)
			n += int(count)
		}
	}
	return n
}

// newClient returns a client over td. With events on, its events go to
// events; with events off, it is pointed there anyway, to show it sends
// nothing.
func newClient(t testing.TB, td *ldtestdata.TestDataSource, events *eventServer, eventsOn bool) *ldclient.LDClient {
	t.Helper()
	cfg := ldclient.Config{
		DataSource:       td,
		Events:           ldcomponents.NoEvents(),
		Logging:          ldcomponents.NoLogging(),
		DiagnosticOptOut: true,
	}
	if events != nil {
		cfg.ServiceEndpoints = ldcomponents.RelayProxyEndpoints(events.URL)
	}
	if eventsOn {
		cfg.Events = ldcomponents.SendEvents().FlushInterval(time.Hour)
	}
	c, err := ldclient.MakeCustomClient("sdk-test-key", cfg, 5*time.Second)
	require.NoError(t, err)
	return c
}

// checkoutExperiment is an LD experiment on the fallthrough: variation
// "control" (0) or "redesign" (1), everyone in the sample, served by the
// given variation.
func checkoutExperiment(version, served int) ldbuilders.FlagBuilder {
	other := 1 - served
	return *ldbuilders.NewFlagBuilder("checkout-redesign").Version(version).On(true).
		Variations(ldvalue.String("control"), ldvalue.String("redesign")).
		OffVariation(0).
		Fallthrough(ldbuilders.Experiment(ldvalue.NewOptionalInt(7),
			ldbuilders.Bucket(served, 100000), ldbuilders.Bucket(other, 0)))
}

// testData holds one flag of every type and shape the tests use.
func testData() *ldtestdata.TestDataSource {
	td := ldtestdata.DataSource()
	td.Update(td.Flag("bool-flag").BooleanFlag().VariationForUser("vip", true).FallthroughVariation(false))
	td.Update(td.Flag("string-flag").Variations(ldvalue.String("red"), ldvalue.String("green"), ldvalue.String("blue")).
		FallthroughVariationIndex(1).IfMatch("country", ldvalue.String("fr")).ThenReturnIndex(2))
	td.Update(td.Flag("float-flag").Variations(ldvalue.Float64(1.5), ldvalue.Float64(2.5)).FallthroughVariationIndex(1))
	td.Update(td.Flag("int-flag").Variations(ldvalue.Int(3), ldvalue.Int(7)).FallthroughVariationIndex(1))
	td.Update(td.Flag("fraction-flag").ValueForAll(ldvalue.Float64(2.5)))
	td.Update(td.Flag("object-flag").ValueForAll(ldvalue.ObjectBuild().Set("layout", ldvalue.String("grid")).Set("cols", ldvalue.Int(3)).Build()))
	td.Update(td.Flag("off-flag").Variations(ldvalue.String("on"), ldvalue.String("off")).On(false).OffVariationIndex(1))
	td.Update(td.Flag("plan-flag").Variations(ldvalue.String("basic"), ldvalue.String("pro")).
		FallthroughVariationIndex(0).VariationIndexForKey("organization", "acme", 1))
	cx := checkoutExperiment(1, 1)
	td.UsePreconfiguredFlag(cx.Build())
	return td
}
