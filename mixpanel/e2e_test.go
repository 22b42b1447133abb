package mixpanel_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

const flagKey = "checkout-redesign"

var domainSeq atomic.Int64

// newFlagClient is OpenFeature's real in-memory provider with the
// checkout-redesign flag split 50/50 by user, under a fresh domain.
func newFlagClient(t testing.TB) *openfeature.Client {
	t.Helper()
	split := func(f memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[openfeature.TargetingKey].(string)
		h := fnv.New32a()
		_, _ = io.WriteString(h, user)
		v := []string{"classic", "one-page"}[h.Sum32()%2]
		return f.Variants[v], openfeature.ProviderResolutionDetail{Variant: v, Reason: openfeature.SplitReason}
	}
	provider := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flagKey: {Key: flagKey, State: memprovider.Enabled, DefaultVariant: "classic",
			Variants: map[string]any{"classic": "classic", "one-page": "one-page"}, ContextEvaluator: &split},
	})
	domain := fmt.Sprintf("mixpanel-e2e-%d", domainSeq.Add(1))
	require.NoError(t, openfeature.SetNamedProviderAndWait(domain, provider))
	return openfeature.NewClient(domain)
}

type harness struct {
	tr     *exposure.Tracker
	client *openfeature.Client
	srv    *mixpaneltest.Server
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fastRetries retries in milliseconds rather than Mixpanel's seconds.
var fastRetries = exposure.WithBackoff(time.Millisecond, 20*time.Millisecond)

// newHarness wires client -> Tracker -> mixpanel.Sink -> fake, with short
// backoffs so retries take milliseconds. sinkOpts configure the sink,
// deliveryOpts its delivery (after fastRetries, so they may replace it).
func newHarness(t testing.TB, client *openfeature.Client, srv *mixpaneltest.Server, sinkOpts []mixpanel.Option, deliveryOpts ...exposure.SinkOption) *harness {
	t.Helper()
	sink, err := mixpanel.NewSink(srv.Token(), append([]mixpanel.Option{mixpanel.WithEndpoint(srv.URL), mixpanel.WithLogger(quiet)}, sinkOpts...)...)
	require.NoError(t, err)
	tr, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: flagKey, Name: "Checkout Redesign"}),
		exposure.WithSink(sink, append([]exposure.SinkOption{fastRetries}, deliveryOpts...)...),
		exposure.WithLogger(quiet),
	)
	require.NoError(t, err)
	client.AddHooks(tr.Hook())
	return &harness{tr: tr, client: client, srv: srv}
}

// expose renders the experiment to user, as a request would: evaluate,
// mark, commit.
func (h *harness) expose(user string) error {
	ctx, scope := h.tr.Scope(context.Background())
	if _, err := h.client.StringValue(ctx, flagKey, "classic", openfeature.NewEvaluationContext(user, nil)); err != nil {
		return err
	}
	if err := exposure.MarkRendered(ctx, flagKey); err != nil {
		return err
	}
	return scope.Commit(ctx)
}

func (h *harness) exposeN(t testing.TB, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := h.expose(fmt.Sprintf("%s-%d", prefix, i)); err != nil {
			require.NoError(t, err)
		}
	}
}

func TestEndToEndFlakyMixpanelLosesNothing(t *testing.T) {
	const n = 100_000
	srv := mixpaneltest.Start(t, mixpaneltest.WithoutBodies(), mixpaneltest.WithSeed(42))
	// 30% of requests fail: rate limits, server errors, answers slower than
	// the client waits (processed anyway), and connections dropped before
	// or after the events were stored. Slow answers cost the client its
	// whole timeout, so they are rarer than the others.
	srv.SetFaultRate(0.30,
		mixpaneltest.Fault{Status: 429}, mixpaneltest.Fault{Status: 429},
		mixpaneltest.Fault{Status: 500}, mixpaneltest.Fault{Status: 500},
		mixpaneltest.Fault{Status: 502}, mixpaneltest.Fault{Status: 502},
		mixpaneltest.Fault{Status: 503}, mixpaneltest.Fault{Status: 503},
		mixpaneltest.Fault{Drop: true}, mixpaneltest.Fault{Drop: true},
		mixpaneltest.Fault{DropAfterStore: true}, mixpaneltest.Fault{DropAfterStore: true},
		mixpaneltest.Fault{Delay: 700 * time.Millisecond},
	)
	// Long enough for a request under -race on a loaded machine, shorter
	// than the slow answers.
	timeout := mixpanel.WithRequestTimeout(500 * time.Millisecond)
	h := newHarness(t, newFlagClient(t), srv, []mixpanel.Option{timeout}, exposure.WithQueueSize(n), exposure.WithBatchSize(500))
	start := time.Now()
	h.exposeN(t, "user", n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, h.tr.Flush(ctx))
	require.NoError(t, h.tr.Close(ctx))
	t.Logf("%d exposures in %v", n, time.Since(start))

	ids := srv.InsertIDs()
	require.Len(t, ids, n, "every exposure stored once")
	distinct := make(map[string]struct{}, n)
	for _, id := range ids {
		distinct[id] = struct{}{}
	}
	assert.Len(t, distinct, n, "no duplicate after Mixpanel's dedupe")

	stats := h.tr.Stats()
	assert.Equal(t, uint64(n), stats.Counts[exposure.StageCommitted])
	st := stats.Sinks[0].Counts
	assert.Equal(t, uint64(n), st[exposure.StageQueued])
	assert.Equal(t, uint64(n), st[exposure.StageDelivered])
	assert.Zero(t, st[exposure.StageFailed])
	assert.Zero(t, st[exposure.StageDropped])
	assert.Positive(t, st[exposure.StageRetried])

	faults := map[string]int{}
	for _, r := range srv.Requests() {
		faults[r.Fault]++
	}
	total := len(srv.Requests())
	t.Logf("requests %d, faults %v, resent duplicates %d", total, faults, srv.Duplicates())
	for _, f := range []string{"429", "500", "502", "503", "delay=700ms", "drop", "drop-after-store"} {
		assert.Positive(t, faults[f], "fault %s never happened", f)
	}
	assert.InDelta(t, 0.30, float64(total-faults[""])/float64(total), 0.08)
	assert.Positive(t, srv.Duplicates(), "stored-then-failed requests were resent and deduplicated")
}

func TestEndToEndOutageThenRecovery(t *testing.T) {
	const capacity = 3000
	srv := mixpaneltest.Start(t, mixpaneltest.WithoutBodies())
	h := newHarness(t, newFlagClient(t), srv, nil,
		exposure.WithQueueSize(capacity), exposure.WithBatchSize(250), exposure.WithFlushInterval(5*time.Millisecond))
	srv.SetFaultRate(1, mixpaneltest.Fault{Status: 503}, mixpaneltest.Fault{Drop: true})

	h.exposeN(t, "outage", capacity)
	require.Eventually(t, func() bool { return len(srv.Requests()) >= 20 }, 10*time.Second, 5*time.Millisecond, "delivery keeps retrying")
	assert.Zero(t, srv.Len())
	// More than the queue holds: the excess is dropped and counted, never
	// blocking the request path.
	h.exposeN(t, "excess", 500)

	srv.SetFaultRate(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, h.tr.Flush(ctx))
	require.NoError(t, h.tr.Close(ctx))

	stats := h.tr.Stats()
	st := stats.Sinks[0].Counts
	assert.Equal(t, uint64(capacity+500), st[exposure.StageQueued]+st[exposure.StageDropped])
	assert.Equal(t, st[exposure.StageQueued], stats.Counts[exposure.StageCommitted], "committed: queued to the one sink")
	assert.GreaterOrEqual(t, st[exposure.StageQueued], uint64(capacity), "the whole capacity was accepted")
	assert.Equal(t, int(st[exposure.StageQueued]), srv.Len(), "nothing accepted was lost")
	assert.Equal(t, st[exposure.StageQueued], st[exposure.StageDelivered])
	assert.Zero(t, st[exposure.StageFailed])
	seen := map[string]bool{}
	for _, e := range srv.Events() {
		seen[e.DistinctID] = true
	}
	for i := range capacity {
		require.True(t, seen[fmt.Sprintf("outage-%d", i)], "outage-%d lost", i)
	}
}

func TestEndToEndPartialFailureIsNotRetried(t *testing.T) {
	srv := mixpaneltest.Start(t)
	h := newHarness(t, newFlagClient(t), srv, nil, exposure.WithFlushInterval(time.Hour))
	users := []string{"u1", "anon", "u2", "u3", "null", "u4"} // Mixpanel refuses the placeholders
	for _, u := range users {
		require.NoError(t, h.expose(u))
	}
	err := h.tr.Flush(context.Background())
	require.ErrorIs(t, err, exposure.ErrUndelivered)
	assert.Contains(t, err.Error(), "2 exposure(s) failed for good")
	st := h.tr.Stats().Sinks[0]
	assert.Equal(t, uint64(4), st.Counts[exposure.StageDelivered])
	assert.Equal(t, uint64(2), st.Counts[exposure.StageFailed])
	assert.Zero(t, st.Counts[exposure.StageRetried], "a 400 is never retried")
	assert.Contains(t, st.LastError, "distinct_id")
	require.Len(t, srv.Requests(), 1)
	assert.Equal(t, 400, srv.Requests()[0].Status)
	var stored []string
	for _, e := range srv.Events() {
		stored = append(stored, e.DistinctID)
	}
	assert.ElementsMatch(t, []string{"u1", "u2", "u3", "u4"}, stored)
	require.NoError(t, h.tr.Close(context.Background()))
}

func TestEndToEndCloseDuringOutage(t *testing.T) {
	client := newFlagClient(t) // OpenFeature's own goroutines predate the check
	ignore := goleak.IgnoreCurrent()
	srv, err := mixpaneltest.NewServer()
	require.NoError(t, err)
	h := newHarness(t, client, srv, nil, exposure.WithBatchSize(100), exposure.WithFlushInterval(5*time.Millisecond))
	srv.SetFaultRate(1, mixpaneltest.Fault{Status: 503}, mixpaneltest.Fault{Delay: 50 * time.Millisecond, Status: 502})
	h.exposeN(t, "closing", 1000)
	require.Eventually(t, func() bool { return len(srv.Requests()) >= 3 }, 5*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = h.tr.Close(ctx)
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.True(t, errors.Is(err, exposure.ErrUndelivered), "%v", err)
	assert.Contains(t, err.Error(), "1000 exposure(s)")
	assert.Less(t, elapsed, 3*time.Second, "Close returns once its context ends")
	st := h.tr.Stats().Sinks[0]
	assert.Equal(t, "mixpanel", st.Name)
	assert.Equal(t, uint64(1000), st.Counts[exposure.StageUndelivered])
	assert.Zero(t, st.Counts[exposure.StageDelivered])
	assert.Zero(t, srv.Len())

	srv.Close()
	goleak.VerifyNone(t, ignore)
}

// BenchmarkEndToEnd is exposures through the whole path (OpenFeature
// evaluation, mark, commit, dedupe, queue, batching, the Mixpanel sink,
// HTTP over loopback, the fake's parsing and validation), per second.
func BenchmarkEndToEnd(b *testing.B) {
	srv := mixpaneltest.Start(b, mixpaneltest.WithoutBodies())
	h := newHarness(b, newFlagClient(b), srv, nil, exposure.WithQueueSize(max(b.N, 1000)))
	prefix := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := h.expose(prefix + "-" + fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := h.tr.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if d := h.tr.Stats().Sinks[0].Counts[exposure.StageDelivered]; d != uint64(b.N) {
		b.Fatalf("delivered %d of %d", d, b.N)
	}
	_ = h.tr.Close(context.Background())
}

// BenchmarkEndToEndRecorder is the baseline for BenchmarkEndToEnd: the same
// path into an in-memory recording sink, without encoding or HTTP.
func BenchmarkEndToEndRecorder(b *testing.B) {
	rec := exposuretest.NewRecorder()
	tr, err := exposure.NewTracker(
		exposure.WithExperiments(exposure.Experiment{FlagKey: flagKey, Name: "Checkout Redesign"}),
		exposure.WithSink(rec, exposure.WithQueueSize(max(b.N, 1000))),
		exposure.WithLogger(quiet),
	)
	require.NoError(b, err)
	client := newFlagClient(b)
	client.AddHooks(tr.Hook())
	h := &harness{tr: tr, client: client}
	prefix := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := h.expose(prefix + "-" + fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tr.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if rec.Len() != b.N {
		b.Fatalf("recorded %d of %d", rec.Len(), b.N)
	}
	_ = tr.Close(context.Background())
}

// BenchmarkSendToFake is the sink alone: full batches of 2000 exposures
// over loopback into the fake, per event.
func BenchmarkSendToFake(b *testing.B) {
	srv := mixpaneltest.Start(b, mixpaneltest.WithoutBodies())
	s, err := mixpanel.NewSink(srv.Token(), mixpanel.WithEndpoint(srv.URL))
	require.NoError(b, err)
	batch := exps(2000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			batch[j].InsertID = fmt.Sprintf("%016x%016x", i, j)
		}
		if err := s.Send(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}
