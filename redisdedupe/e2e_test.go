package redisdedupe

// End-to-end: several app instances (exposure.Trackers behind real HTTP
// servers, with OpenFeature's real SDK and in-memory provider) share one
// real redis-server through this package.

import (
	"context"
	"fmt"
	"hash/fnv"
	"html/template"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var experiments = []exposure.Experiment{
	{FlagKey: "checkout-redesign", Name: "Checkout Redesign"},
	{FlagKey: "pricing-page", Name: "Pricing Page"},
}

// variantOf splits users between "a" and "b", differently per flag, the same
// in every instance.
func variantOf(flag, user string) string {
	h := fnv.New32a()
	_, _ = io.WriteString(h, flag+"/"+user)
	if h.Sum32()%2 == 0 {
		return "a"
	}
	return "b"
}

func newFlagProvider() *memprovider.InMemoryProvider {
	split := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[openfeature.TargetingKey].(string)
		v := variantOf(f.Key, user)
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason}
	}
	flags := map[string]memprovider.InMemoryFlag{}
	for _, e := range experiments {
		flags[e.FlagKey] = memprovider.InMemoryFlag{Key: e.FlagKey, State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "old", "b": "new"}, ContextEvaluator: &split}
	}
	return memprovider.NewInMemoryProvider(flags)
}

var page = template.Must(template.New("page").Funcs(exposure.TemplateFuncs()).Parse(
	`<h1>{{ .Checkout }}</h1>{{ exposed .Ctx "checkout-redesign" }}<p>{{ .Pricing }}</p>{{ exposed .Ctx "pricing-page" }}`))

// instance is one app instance: its own Tracker, OpenFeature API, Deduper
// (its own Redis client) and HTTP server.
type instance struct {
	tracker  *exposure.Tracker
	deduper  *Deduper
	recorder *exposuretest.Recorder
	server   *httptest.Server
}

func newInstance(t *testing.T, rdb *redis.Client, window time.Duration, opts ...Option) *instance {
	t.Helper()
	in := &instance{recorder: exposuretest.NewRecorder()}
	in.deduper = newDeduper(t, rdb, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	tr, err := exposure.NewTracker(
		exposure.WithExperiments(experiments...),
		exposure.WithSink(in.recorder, exposure.WithFlushInterval(10*time.Millisecond)),
		exposure.WithDeduper(in.deduper),
		exposure.WithDedupeWindow(window),
		exposure.WithLogger(slog.New(slog.DiscardHandler)),
	)
	require.NoError(t, err)
	in.tracker = tr

	// OpenFeature's global API is per process: each instance gets its own.
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), newFlagProvider()))
	api.AddHooks(tr.Hook())
	client := api.NewClient()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkout", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil)
		checkout, _ := client.StringValue(r.Context(), "checkout-redesign", "old", ec)
		pricing, _ := client.StringValue(r.Context(), "pricing-page", "old", ec)
		err := page.Execute(w, map[string]any{"Ctx": r.Context(), "Checkout": checkout, "Pricing": pricing})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	in.server = httptest.NewServer(tr.Middleware(mux))
	t.Cleanup(func() {
		in.server.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, tr.Close(ctx))
		assert.NoError(t, api.Shutdown(ctx))
	})
	return in
}

type visit struct {
	user string
	at   int // instance index
}

// visitAll sends every visit as a GET /checkout, with workers in parallel,
// and returns how many responses were not 200 OK.
func visitAll(t *testing.T, instances []*instance, visits []visit, workers int) (failed int) {
	t.Helper()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	defer httpc.CloseIdleConnections()
	ch := make(chan visit)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for v := range ch {
				resp, err := httpc.Get(instances[v.at].server.URL + "/checkout?user=" + v.user)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				if !ok {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		})
	}
	for _, v := range visits {
		ch <- v
	}
	close(ch)
	wg.Wait()
	return failed
}

// randomVisits has each user visit `per` times, each time a random instance,
// in random order.
func randomVisits(rng *rand.Rand, users []string, per, instances int) []visit {
	var vs []visit
	for _, u := range users {
		for range per {
			vs = append(vs, visit{user: u, at: rng.IntN(instances)})
		}
	}
	rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	return vs
}

func userNames(prefix string, n int) []string {
	us := make([]string, n)
	for i := range us {
		us[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return us
}

type exposureKey struct{ user, experiment, variant string }

// flushAll delivers what every instance queued and returns the exposures
// per (user, experiment, variant), and per instance.
func flushAll(t *testing.T, instances []*instance) (total map[exposureKey]int, per []map[exposureKey]int) {
	t.Helper()
	total = map[exposureKey]int{}
	for _, in := range instances {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, in.tracker.Flush(ctx))
		cancel()
		m := map[exposureKey]int{}
		for _, e := range in.recorder.Exposures() {
			k := exposureKey{e.Identity.DistinctID, e.Experiment, e.Variant}
			m[k]++
			total[k]++
		}
		per = append(per, m)
	}
	return total, per
}

// checkVariants asserts every exposure is of the variant the user was
// assigned.
func checkVariants(t *testing.T, got map[exposureKey]int) {
	t.Helper()
	flagOf := map[string]string{}
	for _, e := range experiments {
		flagOf[e.Name] = e.FlagKey
	}
	for k := range got {
		assert.Equal(t, variantOf(flagOf[k.experiment], k.user), k.variant, "%v", k)
	}
}

func countUsers(m map[exposureKey]int, users []string) (keys, exposures int) {
	set := map[string]bool{}
	for _, u := range users {
		set[u] = true
	}
	for k, n := range m {
		if set[k.user] {
			keys++
			exposures += n
		}
	}
	return keys, exposures
}

// Three instances share one Redis; 5,000 users each visit three random
// instances concurrently: exactly one exposure per (user, experiment,
// variant) across all three.
func TestThreeInstancesShareOneRedis(t *testing.T) {
	sharedClient(t) // skips without REDIS_URL
	prefix := testPrefix(t)
	var instances []*instance
	for i := range 3 {
		// Instance 1's client ends calls at the context deadline itself; the
		// others' calls run on a goroutine the Deduper abandons at the
		// timeout.
		var edit []func(*redis.Options)
		if i == 1 {
			edit = append(edit, contextTimeouts)
		}
		// The default timeout and retry: under -race on two loaded cores a
		// healthy Redis is slow, and the Deduper must wait for it rather
		// than fall back (a fallback dedupes per process: a user seen by two
		// instances would be exposed twice).
		instances = append(instances, newInstance(t, sharedClient(t, edit...), time.Hour, WithKeyPrefix(prefix)))
	}
	users := userNames("user", 5000)
	rng := rand.New(rand.NewPCG(1, 2))
	visits := randomVisits(rng, users, 3, len(instances))

	require.Zero(t, visitAll(t, instances, visits, 32), "failed requests")

	total, per := flushAll(t, instances)
	assert.Len(t, total, len(users)*len(experiments), "one (user, experiment, variant) per user and experiment")
	dups := 0
	for k, n := range total {
		if n != 1 {
			dups++
			if dups < 10 {
				t.Errorf("%v exposed %d times", k, n)
			}
		}
	}
	assert.Zero(t, dups, "keys exposed more than once")
	checkVariants(t, total)
	for i, in := range instances {
		assert.NotEmpty(t, per[i], "instance %d sent no exposure: the load did not spread", i)
		st := in.deduper.Stats()
		assert.Zero(t, st.Fallbacks, "instance %d fell back", i)
		ts := in.tracker.Stats()
		assert.Equal(t, uint64(len(per[i])), ts.Counts[exposure.StageCommitted], "instance %d", i)
	}
	// Every visit committed both experiments. The Tracker's claim stage
	// gathers the claims of the requests that wait while a round trip is in
	// flight into the next one: with 32 concurrent clients, several
	// requests share each round trip.
	var claims, roundTrips int64
	var dupes uint64
	for _, in := range instances {
		claims += in.deduper.Stats().Claims
		roundTrips += in.deduper.Stats().RoundTrips
		dupes += in.tracker.Stats().Counts[exposure.StageDuplicate]
	}
	assert.Equal(t, int64(len(visits)*len(experiments)), claims)
	assert.Positive(t, roundTrips)
	t.Logf("%d requests, %d claims, %d round trips: %.1f claims per round trip",
		len(visits), claims, roundTrips, float64(claims)/float64(roundTrips))
	assert.Less(t, roundTrips, int64(len(visits))/2, "round trips are not shared across requests")
	assert.Equal(t, uint64(len(visits)*len(experiments)-len(total)), dupes)
}

// Redis stopped in the middle: every request still succeeds, exposures keep
// flowing, deduped per process; Redis back: shared dedupe again, and the
// outage's claims were shared too.
func TestRedisStoppedAndBack(t *testing.T) {
	srv := startOwnServer(t)
	prefix := testPrefix(t)
	const cooldown = 100 * time.Millisecond
	var instances []*instance
	for i := range 3 {
		var edit []func(*redis.Options)
		if i == 1 {
			edit = append(edit, contextTimeouts)
		}
		instances = append(instances, newInstance(t, srv.Client(edit...), time.Hour,
			WithKeyPrefix(prefix), WithTimeout(5*time.Second), WithCooldown(cooldown)))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 300

	// Phase 1: Redis up.
	before := userNames("before", n)
	require.Zero(t, visitAll(t, instances, randomVisits(rng, before, 3, 3), 16))
	total, _ := flushAll(t, instances)
	keys, exps := countUsers(total, before)
	require.Equal(t, n*len(experiments), keys)
	require.Equal(t, keys, exps, "Redis up: one exposure per key")

	// Phase 2: Redis stopped. Every user visits every instance twice.
	srv.Stop()
	during := userNames("during", n)
	var vs []visit
	for _, u := range during {
		for at := range 3 {
			vs = append(vs, visit{u, at}, visit{u, at})
		}
	}
	rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	require.Zero(t, visitAll(t, instances, vs, 16), "a request failed while Redis was down")
	total, per := flushAll(t, instances)
	keys, exps = countUsers(total, during)
	assert.Equal(t, n*len(experiments), keys, "exposures keep flowing without Redis")
	assert.Equal(t, 3*keys, exps, "one exposure per key per instance: deduped per process")
	for i := range instances {
		k, e := countUsers(per[i], during)
		assert.Equal(t, k, e, "instance %d: deduped in process", i)
		st := instances[i].deduper.Stats()
		assert.True(t, st.Down, "instance %d", i)
		assert.Positive(t, st.Fallbacks, "instance %d", i)
		assert.Zero(t, instances[i].tracker.Stats().Counts[exposure.StageDedupeError], "the Tracker never saw an error")
	}

	// Phase 3: Redis back (empty: it has no persistence here).
	// Each instance notices when a claim after the cool-down probes Redis;
	// claims made while that probe is in flight still fall back. Wait until
	// every instance has noticed, with one request at a time.
	srv.Start()
	for i, in := range instances {
		require.Eventually(t, func() bool {
			visitAll(t, instances, []visit{{fmt.Sprint("warmup-", i), i}}, 1)
			return !in.deduper.Stats().Down
		}, 10*time.Second, cooldown/4, "instance %d did not go back to Redis", i)
	}
	after := userNames("after", n)
	require.Zero(t, visitAll(t, instances, randomVisits(rng, after, 3, 3), 16))
	total, _ = flushAll(t, instances)
	keys, exps = countUsers(total, after)
	assert.Equal(t, n*len(experiments), keys)
	assert.Equal(t, keys, exps, "Redis back: one exposure per key across instances")
	for i, in := range instances {
		assert.False(t, in.deduper.Stats().Down, "instance %d back on Redis", i)
	}

	// The outage's claims reached Redis (backfill), so the outage's users
	// are not exposed again, whichever instance they visit.
	require.Eventually(t, func() bool {
		pending := 0
		for _, in := range instances {
			pending += in.deduper.Stats().BackfillPending
		}
		if pending == 0 {
			return true
		}
		// Backfill rides along with claims: keep some traffic going.
		visitAll(t, instances, randomVisits(rng, after, 1, 3), 4)
		return false
	}, 10*time.Second, 10*time.Millisecond)
	_, exps = countUsers(total, during)
	require.Zero(t, visitAll(t, instances, randomVisits(rng, during, 3, 3), 16))
	total, _ = flushAll(t, instances)
	_, again := countUsers(total, during)
	assert.Equal(t, exps, again, "users exposed during the outage are not exposed again")
}

// The window expires: the user is exposed again.
func TestWindowExpiresExposesAgain(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	const window = time.Second
	var instances []*instance
	for range 3 {
		instances = append(instances, newInstance(t, sharedClient(t), window, WithKeyPrefix(prefix)))
	}
	visits := []visit{{"ada", 0}, {"ada", 1}, {"ada", 2}}
	require.Zero(t, visitAll(t, instances, visits, 1))
	total, _ := flushAll(t, instances)
	require.Len(t, total, 2, "ada is in two experiments")
	for k, n := range total {
		require.Equal(t, 1, n, "%v within the window", k)
	}

	// Wait until Redis expires the claims, then visit again.
	require.Eventually(t, func() bool {
		keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
		return err == nil && len(keys) == 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Zero(t, visitAll(t, instances, []visit{{"ada", 2}, {"ada", 0}}, 1))
	total, _ = flushAll(t, instances)
	require.Len(t, total, 2)
	for k, n := range total {
		assert.Equal(t, 2, n, "%v: exposed again after the window", k)
	}
}
