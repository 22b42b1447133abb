package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/hashicorp/golang-lru/v2"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// benchN is the number of events per pipeline and of keys in the dedupe
// benchmark: -args -n=N, else EXPOSURE_BENCH_N, else 1,000,000.
var benchN = flag.Int("n", 0, "events per pipeline and keys per deduper (default EXPOSURE_BENCH_N or 1000000)")

func eventsN(tb testing.TB) int {
	if *benchN > 0 {
		return *benchN
	}
	if s := os.Getenv("EXPOSURE_BENCH_N"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(tb, err, "EXPOSURE_BENCH_N")
		require.Positive(tb, n, "EXPOSURE_BENCH_N")
		return n
	}
	return 1_000_000
}

// TestPipelinesDeliverAll is the harness's own check, quick enough for
// -race: every pipeline delivers every one of a few thousand events, and
// the server counts exactly that many.
func TestPipelinesDeliverAll(t *testing.T) {
	const n = 6000 // above LaunchDarkly's window: its feeding waits and nudges
	for _, spec := range pipelines {
		t.Run(spec.name, func(t *testing.T) {
			r, err := run(spec, n)
			require.NoError(t, err)
			assert.Equal(t, int64(n), r.serverCount)
			assert.Positive(t, r.wireBytes)
			assert.Positive(t, r.allocBytes)
		})
	}
}

// TestLoopbackRejectsMalformedBodies guards the verifier: a body whose
// events cannot be counted is reported, not counted.
func TestLoopbackRejectsMalformedBodies(t *testing.T) {
	srv, err := startLoopback()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	for _, body := range []string{`[{"event":"x"},`, `{"api_key":"k"}`} {
		path := map[bool]string{true: "/import", false: "/batch/"}[body[0] == '[']
		resp, err := postJSON(srv.URL+path, body)
		require.NoError(t, err)
		assert.Equal(t, 400, resp)
	}
	resp, err := postJSON(srv.URL+"/import", `[{"event":"a"},{"event":"b"}]`)
	require.NoError(t, err)
	assert.Equal(t, 200, resp)
	assert.Equal(t, int64(2), srv.WaitEvents(2, 5*time.Second))
	assert.Len(t, srv.Errors(), 2)
}

// BenchmarkPipelines delivers N events through each pipeline once per
// iteration (run it with -benchtime=1x) and reports, per event: throughput,
// heap allocations and bytes allocated, the peak heap above the start, the
// bytes on the wire and the CPU time of this process (the server runs in
// another).
func BenchmarkPipelines(b *testing.B) {
	n := eventsN(b)
	for _, spec := range pipelines {
		b.Run(spec.name, func(b *testing.B) {
			var r result
			for b.Loop() {
				var err error
				if r, err = run(spec, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r.eventsPerSec(), "events/s")
			b.ReportMetric(r.allocsPerEvent(), "allocs/event")
			b.ReportMetric(r.bytesPerEvent(), "B/event")
			b.ReportMetric(float64(r.peakHeap)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(r.wirePerEvent(), "wire-B/event")
			b.ReportMetric(r.cpuPerEvent(), "cpu-us/event")
		})
	}
}

// BenchmarkDedupeMemory fills a deduper with N distinct keys (1,000,000 by
// default) and reports the heap it holds per key, measured as the live heap
// after the fill minus the live heap before it. Exposure's deduper is given
// room for twice N keys, so that none is evicted, and is checked after the
// measurement to still hold every one. Keys are 32 hexadecimal
// characters, the form exposure's Tracker claims with; each claim builds
// its key anew, as a caller would, so a cache that keeps its keys pays for
// them. The LRU is golang-lru/v2 with N entries and the smallest value
// (struct{}: no expiry kept, which flatters it) and with an int64 expiry (what
// a dedupe window needs).
func BenchmarkDedupeMemory(b *testing.B) {
	n := eventsN(b)
	key := func(i int) string { return fmt.Sprintf("%016x%016x", uint64(i)*0x9E3779B97F4A7C15, uint64(i)) }
	ctx := context.Background()
	cases := []struct {
		name string
		fill func() (held int, keep any)
	}{
		{"exposure", func() (int, any) {
			d, err := exposure.NewMemoryDeduper(2 * n)
			require.NoError(b, err)
			for i := range n {
				if first, _, err := d.Claim(ctx, key(i), "v", time.Hour); err != nil || !first {
					b.Fatalf("claim %d: first=%v err=%v", i, first, err)
				}
			}
			return n, d
		}},
		{"lru-struct", func() (int, any) {
			c, err := lru.New[string, struct{}](n)
			require.NoError(b, err)
			for i := range n {
				c.Add(key(i), struct{}{})
			}
			return c.Len(), c
		}},
		{"lru-expiry", func() (int, any) {
			c, err := lru.New[string, int64](n)
			require.NoError(b, err)
			exp := time.Now().Add(time.Hour).UnixNano()
			for i := range n {
				c.Add(key(i), exp)
			}
			return c.Len(), c
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var perKey float64
			var held int
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				var keep any
				held, keep = c.fill()
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(keep)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / float64(held)
				if d, ok := keep.(exposure.Deduper); ok {
					b.StopTimer()
					requireHoldsAll(b, d, n, key)
					b.StartTimer()
				}
			}
			b.ReportMetric(perKey, "B/key")
			b.ReportMetric(float64(held), "keys")
		})
	}
}

// requireHoldsAll fails b unless d still holds the keys 0 to n-1: a
// claim of each is refused. It reads what the heap measurement divides by,
// since a Deduper does not say how many keys it holds.
func requireHoldsAll(b *testing.B, d exposure.Deduper, n int, key func(int) string) {
	b.Helper()
	for i := range n {
		if first, _, err := d.Claim(context.Background(), key(i), "v", time.Hour); err != nil || first {
			b.Fatalf("key %d was evicted (first=%v, err=%v): B/key would be wrong", i, first, err)
		}
	}
}

// BenchmarkHook measures one flag evaluation through the real OpenFeature
// client and in-memory provider with no hook, a no-op hook and exposure's
// hook, each in a fresh Scope (opened in all three cases alike), as in a
// request that evaluates the flag once. The three run interleaved, in
// rounds of 2000 evaluations in a rotating order, so that a machine busy
// with other work slows them alike; each reports the median of its rounds
// (none-ns/op, noop-ns/op, exposure-ns/op), its allocations, and the hooks'
// overhead over no hook in percent.
func BenchmarkHook(b *testing.B) {
	tr, err := exposure.NewTracker(exposure.WithExperiments(checkout), exposure.WithLogger(quietLogger),
		exposure.WithSink(discardSink{}))
	require.NoError(b, err)
	b.Cleanup(func() { _ = tr.Close(context.Background()) })
	cases := []struct {
		name  string
		hooks []openfeature.Hook
	}{
		{"none", nil},
		{"noop", []openfeature.Hook{openfeature.UnimplementedHook{}}},
		{"exposure", []openfeature.Hook{tr.Hook()}},
	}
	ec := openfeature.NewEvaluationContext("user-12345", nil)
	evals := make([]func(), len(cases))
	for i, c := range cases {
		domain := fmt.Sprintf("bench-hook-%d", domainSeq.Add(1))
		require.NoError(b, openfeature.SetNamedProviderAndWait(domain, newProvider()))
		client := openfeature.NewClient(domain)
		client.AddHooks(c.hooks...)
		evals[i] = func() {
			ctx, _ := tr.Scope(context.Background())
			if v, err := client.StringValue(ctx, flagKey, "classic", ec); err != nil || v != "one-page" {
				b.Fatalf("%s: evaluated %q, %v", c.name, v, err)
			}
		}
	}
	const round = 2000
	samples := make([][]float64, len(cases))
	for r := 0; b.Loop(); r++ {
		for k := range cases {
			i := (r + k) % len(cases)
			start := time.Now()
			for range round {
				evals[i]()
			}
			samples[i] = append(samples[i], float64(time.Since(start).Nanoseconds())/round)
		}
	}
	b.StopTimer()
	med := make([]float64, len(cases))
	for i, c := range cases {
		med[i] = median(samples[i])
		b.ReportMetric(med[i], c.name+"-ns/op")
		b.ReportMetric(testing.AllocsPerRun(100, evals[i]), c.name+"-allocs/op")
	}
	b.ReportMetric(100*(med[1]/med[0]-1), "noop-overhead-%")
	b.ReportMetric(100*(med[2]/med[0]-1), "exposure-overhead-%")
	b.ReportMetric(0, "ns/op")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// discardSink accepts everything: the hook benchmark never commits.
type discardSink struct{}

func (discardSink) Send(context.Context, []exposure.Exposure) error { return nil }
