package exposure_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
)

// discardSink accepts everything, so benchmarks measure our side only.
type discardSink struct{}

func (discardSink) Send(context.Context, []exposure.Exposure) error { return nil }

// countingObserver is the least an Observer can do: count events.
type countingObserver struct{ n atomic.Uint64 }

func (o *countingObserver) Observe(exposure.Event) { o.n.Add(1) }

func benchTracker(b *testing.B, opts ...exposure.Option) *exposure.Tracker {
	tr, err := exposure.NewTracker(append([]exposure.Option{exposure.WithLogger(quietLogger), exposure.WithExperiments(checkout),
		exposure.WithSink(discardSink{}, exposure.WithQueueSize(1<<20))}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr
}

// BenchmarkEvaluation compares one flag evaluation through the real
// OpenFeature client with no hook, a no-op hook and the exposure hook. With
// scope=fresh every evaluation is the first of its request (a new Scope,
// created in all three cases alike); with scope=reused the flag is evaluated
// again in the same request.
func BenchmarkEvaluation(b *testing.B) {
	tr := benchTracker(b)
	cases := []struct {
		name  string
		hooks []openfeature.Hook
	}{
		{"hook=none", nil},
		{"hook=noop", []openfeature.Hook{openfeature.UnimplementedHook{}}},
		{"hook=exposure", []openfeature.Hook{tr.Hook()}},
	}
	for _, scope := range []string{"fresh", "reused"} {
		for _, c := range cases {
			b.Run("scope="+scope+"/"+c.name, func(b *testing.B) {
				client := newClient(b, newProvider(nil), c.hooks...)
				ctx, _ := tr.Scope(context.Background())
				ec := userCtx("bench-user")
				b.ReportAllocs()
				for b.Loop() {
					if scope == "fresh" {
						ctx, _ = tr.Scope(context.Background())
					}
					if _, err := client.StringValue(ctx, flagKey, "classic", ec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMarkToQueue measures MarkRendered plus Commit of one scope: for a
// new subject (dedupe claim, exposure built and queued) and for a subject
// already exposed (suppressed as a duplicate). Scopes with their assignment
// are prepared outside the timer.
//
// The observer=counting cases add an Observer that counts events: the cost
// of the observation contract when it is used. Without an observer it
// costs nothing (compare with the previous code, BENCHMARKS.md).
func BenchmarkMarkToQueue(b *testing.B) {
	for _, name := range []string{"new", "duplicate", "new/observer=counting", "duplicate/observer=counting"} {
		mode, _, observed := strings.Cut(name, "/")
		b.Run(name, func(b *testing.B) {
			var opts []exposure.Option
			if observed {
				opts = append(opts, exposure.WithObserver(&countingObserver{}))
			}
			tr := benchTracker(b, opts...)
			client := newClient(b, newProvider(nil), tr.Hook())
			// Small chunks, so the scopes are as warm in cache as in a request,
			// where the mark follows the evaluation that touched its scope.
			const chunk = 64
			ctxs := make([]context.Context, chunk)
			scopes := make([]*exposure.Scope, chunk)
			prepare := func(round int) {
				for i := range chunk {
					user := "dup-user"
					if mode == "new" {
						user = fmt.Sprintf("user-%d-%d", round, i)
					}
					ctxs[i], scopes[i] = tr.Scope(context.Background())
					if _, err := client.StringValue(ctxs[i], flagKey, "classic", userCtx(user)); err != nil {
						b.Fatal(err)
					}
				}
			}
			if mode == "duplicate" { // expose the subject once
				prepare(0)
				_ = exposure.MarkRendered(ctxs[0], flagKey)
				_ = scopes[0].Commit(ctxs[0])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done, round := 0, 0; done < b.N; round++ {
				b.StopTimer()
				prepare(round)
				b.StartTimer()
				for i := 0; i < chunk && done < b.N; i, done = i+1, done+1 {
					_ = exposure.MarkRendered(ctxs[i], flagKey)
					_ = scopes[i].Commit(ctxs[i])
				}
			}
			b.StopTimer()
			st := tr.Stats()
			if mode == "new" && st.Counts[exposure.StageDuplicate] > 0 || st.Sinks[0].Counts[exposure.StageDropped] > 0 {
				b.Fatalf("benchmark measured the wrong path: %+v", st)
			}
		})
	}
}

// BenchmarkBaselineKeyHash is the floor under a new exposure: the SHA-256
// of one dedupe key, for the ratio in BENCHMARKS.md.
func BenchmarkBaselineKeyHash(b *testing.B) {
	buf := []byte("user-123456\x00Checkout Redesign\x00Variant B")
	for b.Loop() {
		_ = sha256.Sum256(buf)
	}
}

// BenchmarkMemoryDeduperClaim measures one claim of a new key and of a
// known key.
func BenchmarkMemoryDeduperClaim(b *testing.B) {
	d, err := exposure.NewMemoryDeduper(1_000_000)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("%032x", i)
	}
	b.Run("known", func(b *testing.B) {
		for _, k := range keys {
			_, _, _ = d.Claim(context.Background(), k, "v", time.Hour)
		}
		i := 0
		for b.Loop() {
			_, _, _ = d.Claim(context.Background(), keys[i&(len(keys)-1)], "v", time.Hour)
			i++
		}
	})
}

// BenchmarkMemoryDeduper1M fills a deduper with 1,000,000 keys and reports
// the live heap it holds, in bytes per key and MiB.
func BenchmarkMemoryDeduper1M(b *testing.B) {
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%032x", i*7919)
	}
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		d, err := exposure.NewMemoryDeduper(n)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			_, _, _ = d.Claim(context.Background(), k, "v", time.Hour)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		// A held key claims as a duplicate: sample every 100th.
		held := 0
		for i := 0; i < n; i += 100 {
			if first, _, _ := d.Claim(context.Background(), keys[i], "v", time.Hour); !first {
				held++
			}
		}
		if held < n/100*9/10 {
			b.Fatalf("held %d of %d sampled keys", held, n/100)
		}
		runtime.KeepAlive(d)
	}
	held := float64(after.HeapAlloc - before.HeapAlloc)
	b.ReportMetric(held/n, "B/key")
	b.ReportMetric(held/(1<<20), "MiB")
}

// BenchmarkQueuedExposureMemory queues exposures whose every field is at
// the 255-byte limit to a sink that does not deliver, and reports the live
// heap per queued exposure: what a stalled sink costs per exposure, and so
// what WithQueueBytes bounds.
func BenchmarkQueuedExposureMemory(b *testing.B) {
	const n = 10_000
	long := func(c string) string { return strings.Repeat(c, 255) }
	for b.Loop() {
		stalled := make(chan struct{})
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr, err := exposure.NewTracker(exposure.WithLogger(quietLogger),
			exposure.WithSink(blockingSink{stalled}, exposure.WithQueueSize(2*n), exposure.WithFlushInterval(time.Hour)))
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			a := exposure.Assignment{FlagKey: long("f"), Experiment: long("e"), Variant: long("v"), ProviderVariant: long("p"),
				Identity: exposure.Identity{DistinctID: fmt.Sprintf("%0255d", i), UserID: long("u"), DeviceID: long("d")}, Reason: long("r"),
				Context: openfeature.NewEvaluationContext(fmt.Sprintf("%0255d", i), map[string]any{exposure.AttributeUserID: long("u")})}
			if err := tr.Confirm(context.Background(), a); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := tr.Stats().Counts[exposure.StageQueued]; got != n {
			b.Fatalf("queued %d of %d", got, n)
		}
		b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/n, "B/exposure")
		close(stalled)
		_ = tr.Close(context.Background())
	}
}

// blockingSink never delivers until its channel is closed.
type blockingSink struct{ release chan struct{} }

func (s blockingSink) Send(ctx context.Context, _ []exposure.Exposure) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
