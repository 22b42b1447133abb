package redisdedupe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BenchmarkClaims compares claims per second over loopback to a real
// redis-server: one round trip per claim (Claim, key after key) against the
// claims of one commit pipelined in one round trip (ClaimBatch). Every claim
// is of a new key, so every SET writes. Compare the claims/s metrics of the
// sub-benchmarks of one run.
func BenchmarkClaims(b *testing.B) {
	rdb := sharedClient(b, contextTimeouts) // as recommended: no goroutine per call
	ctx := context.Background()
	const window = 30 * time.Second // the keys clean themselves up
	// The client alone, for the Deduper's own cost (timeout goroutine,
	// write-through to the fallback).
	b.Run("raw-client-SET-NX", func(b *testing.B) {
		prefix := testPrefix(b)
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			if err := rdb.SetNX(ctx, prefix+strconv.Itoa(n), 1, window).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
	})
	// The claim's command, and the alternative of one Lua script for every
	// claim (the crossover script), on new keys: the script costs Redis more
	// per claim, which is why it runs only for crossovers.
	b.Run("raw-client-SET-NX-GET", func(b *testing.B) {
		prefix := testPrefix(b)
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			err := rdb.Do(ctx, "set", prefix+strconv.Itoa(n), claimValue(1, uint32(n)), "nx", "get", "px", window.Milliseconds()).Err()
			if err != nil && !errors.Is(err, redis.Nil) {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
	})
	b.Run("raw-client-EVAL-script", func(b *testing.B) {
		prefix := testPrefix(b)
		lo := claimValue(1, 0)
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			err := rdb.Do(ctx, "eval", crossoverScript, 1, prefix+strconv.Itoa(n), claimValue(1, uint32(n)), window.Milliseconds(), lo, lo+1<<nonceBits).Err()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
	})
	// A crossover: every claim moves its key to the other variant (two
	// round trips: SET NX GET, then the script).
	b.Run("crossover", func(b *testing.B) {
		d := newDeduper(b, rdb, WithKeyPrefix(testPrefix(b)), WithTimeout(time.Second))
		variants := [2]string{"a", "b"}
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			if _, _, err := d.Claim(ctx, "k", variants[n%2], window); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
		if d.Stats().Fallbacks > 0 {
			b.Fatalf("%d claims fell back: not measuring Redis", d.Stats().Fallbacks)
		}
	})
	for _, batch := range []int{2, 8, 32} {
		prefix := testPrefix(b)
		b.Run(fmt.Sprintf("one-round-trip-per-claim/keys=%d", batch), func(b *testing.B) {
			d := newDeduper(b, rdb, WithKeyPrefix(prefix+"single:"), WithTimeout(time.Second))
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				for range batch {
					n++
					if _, err := claimV(d, ctx, strconv.Itoa(n), window); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
			if d.Stats().Fallbacks > 0 {
				b.Fatalf("%d claims fell back: not measuring Redis", d.Stats().Fallbacks)
			}
		})
		b.Run(fmt.Sprintf("pipelined/keys=%d", batch), func(b *testing.B) {
			d := newDeduper(b, rdb, WithKeyPrefix(prefix+"pipelined:"), WithTimeout(time.Second))
			keys := make([]string, batch)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				for i := range keys {
					n++
					keys[i] = strconv.Itoa(n)
				}
				if _, err := claimBatchV(d, ctx, keys, window); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
			if d.Stats().Fallbacks > 0 {
				b.Fatalf("%d claims fell back: not measuring Redis", d.Stats().Fallbacks)
			}
		})
	}
}

// benchApp is one app instance for the middleware benchmarks: a Tracker
// (with deduper, or its in-memory default when nil), OpenFeature's real SDK
// with the in-memory provider, a handler that evaluates both experiments'
// flags and marks them rendered, behind tracker.Middleware on a real HTTP
// server.
type benchApp struct {
	tracker *exposure.Tracker
	server  *httptest.Server
	client  *http.Client
	close   func()
}

func newBenchApp(b *testing.B, deduper exposure.Deduper, concurrency int) *benchApp {
	b.Helper()
	opts := []exposure.Option{
		exposure.WithExperiments(experiments...),
		exposure.WithSink(exposuretest.NewRecorder(), exposure.WithQueueSize(1<<20)),
		exposure.WithLogger(slog.New(slog.DiscardHandler)),
	}
	if deduper != nil {
		opts = append(opts, exposure.WithDeduper(deduper))
	}
	tr, err := exposure.NewTracker(opts...)
	require.NoError(b, err)
	api := isolated.NewAPI()
	require.NoError(b, api.SetProviderAndWait(context.Background(), newFlagProvider()))
	api.AddHooks(tr.Hook())
	flags := api.NewClient()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil)
		for _, e := range experiments {
			v, _ := flags.StringValue(r.Context(), e.FlagKey, "old", ec)
			_, _ = io.WriteString(w, v)
			if err := exposure.MarkRendered(r.Context(), e.FlagKey); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
	})
	srv := httptest.NewServer(tr.Middleware(handler))
	app := &benchApp{
		tracker: tr,
		server:  srv,
		client:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}},
	}
	app.close = func() {
		app.client.CloseIdleConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(b, tr.Close(ctx))
		assert.NoError(b, api.Shutdown(ctx))
	}
	return app
}

// get renders the page for user and reports a failure.
func (a *benchApp) get(b *testing.B, user string) {
	resp, err := a.client.Get(a.server.URL + "/?user=" + user)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// percentile is the p-th percentile (0 < p <= 100) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// BenchmarkMiddlewareLatency measures what a request costs, seen from an
// HTTP client, through tracker.Middleware with a handler that evaluates two
// flags and marks them rendered, every request a new user (so every
// request commits two new exposures), in one run:
//
//   - memory: the Tracker's in-memory deduper, claimed inline;
//   - redis: redisdedupe on a healthy redis-server;
//   - redis-sigstop: redisdedupe on a redis-server stopped with SIGSTOP
//     (connections open, nothing answers).
//
// It reports p50-ns and p99-ns per case, and for the Redis cases
// p50-vs-memory and p99-vs-memory: their ratios to the memory case of the
// same run. The request path never waits for Redis, so the ratios stay
// near 1, stopped Redis included. It starts its own redis-server, and
// skips when there is none in PATH.
func BenchmarkMiddlewareLatency(b *testing.B) {
	srv := startServer(b)
	var memP50, memP99 time.Duration
	cases := []struct {
		name  string
		redis bool
		stop  bool
	}{
		{"memory", false, false},
		{"redis", true, false},
		{"redis-sigstop", true, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var d *Deduper
			var deduper exposure.Deduper
			if c.redis {
				rdb := srv.Client(contextTimeouts)
				require.NoError(b, rdb.Ping(context.Background()).Err())
				d = newDeduper(b, rdb, WithKeyPrefix(testPrefix(b)), WithLogger(slog.New(slog.DiscardHandler)))
				deduper = d
			}
			app := newBenchApp(b, deduper, 1)
			app.get(b, "warm-up") // connections open
			require.NoError(b, app.tracker.Flush(context.Background()))
			if c.stop {
				srv.Pause()
			}
			lat := make([]time.Duration, 0, 1<<16)
			n := 0
			for b.Loop() {
				n++
				start := time.Now()
				app.get(b, c.name+"-"+strconv.Itoa(n))
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			if c.stop {
				st := d.Stats()
				srv.Resume()
				if st.Timeouts == 0 && st.Claims >= int64(2*n) {
					b.Errorf("Redis answered every claim while stopped (%+v): not measuring a stopped Redis", st)
				}
			}
			app.close()
			if d != nil && !c.stop && d.Stats().Fallbacks > 0 {
				b.Errorf("%d claims fell back on a healthy Redis", d.Stats().Fallbacks)
			}
			slices.Sort(lat)
			p50, p99 := percentile(lat, 50), percentile(lat, 99)
			b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
			if !c.redis {
				memP50, memP99 = p50, p99
				return
			}
			if memP50 > 0 {
				b.ReportMetric(float64(p50)/float64(memP50), "p50-vs-memory")
				b.ReportMetric(float64(p99)/float64(memP99), "p99-vs-memory")
			}
		})
	}
}

// BenchmarkClaimsPerRoundTrip sends requests from 64 concurrent clients
// through tracker.Middleware to an app on redisdedupe over a healthy
// redis-server, every request a new user with two experiments, and reports
// how many claims (and requests) shared one Redis round trip: the Tracker's
// claim stage gathers the claims of the requests that arrive while a round
// trip is in flight into the next one. ns/op is wall time per request.
func BenchmarkClaimsPerRoundTrip(b *testing.B) {
	srv := startServer(b)
	const concurrency = 64
	b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
		rdb := srv.Client(contextTimeouts)
		require.NoError(b, rdb.Ping(context.Background()).Err())
		d := newDeduper(b, rdb, WithKeyPrefix(testPrefix(b)), WithLogger(slog.New(slog.DiscardHandler)))
		app := newBenchApp(b, d, concurrency)
		app.get(b, "warm-up")
		require.NoError(b, app.tracker.Flush(context.Background()))
		before := d.Stats()
		b.ResetTimer()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
					app.get(b, "u-"+strconv.FormatInt(i, 10))
				}
			})
		}
		wg.Wait()
		require.NoError(b, app.tracker.Flush(context.Background()))
		b.StopTimer()
		after := d.Stats()
		app.close()
		claims := after.Claims - before.Claims
		trips := after.RoundTrips - before.RoundTrips
		if after.Fallbacks > 0 {
			b.Errorf("%d claims fell back on a healthy Redis", after.Fallbacks)
		}
		if claims != int64(2*b.N) {
			b.Errorf("%d claims for %d requests of two experiments", claims, b.N)
		}
		if trips > 0 {
			b.ReportMetric(float64(claims)/float64(trips), "claims/round-trip")
			b.ReportMetric(float64(b.N)/float64(trips), "requests/round-trip")
		}
	})
}
