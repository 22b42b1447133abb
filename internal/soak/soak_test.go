package soak

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
	"github.com/exposurekit/exposure/redisdedupe"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Delivery settings of the soak: small batches and short flush intervals
// so that a run makes hundreds of requests to Mixpanel (each one a chance
// of a fault), and a retry schedule in milliseconds so that the faults
// cost seconds, not the hour of the default. The retry age is far longer
// than any run: an exposure that fails for good is a loss, and the test
// fails on it. The queues hold a whole round (without the race detector a
// round queues 200,000 exposures in about ten seconds while Mixpanel fails
// 30% of its requests): a full queue drops, as designed, and the test would
// count the drop as a loss. An application sizes its queues to its traffic
// and watches StageDropped.
var (
	soakRetry    = []exposure.SinkOption{exposure.WithBackoff(5*time.Millisecond, 250*time.Millisecond), exposure.WithMaxRetryAge(10 * time.Minute)}
	soakQueue    = []exposure.SinkOption{exposure.WithQueueSize(2_000_000), exposure.WithQueueBytes(2 << 30)}
	mixpanelOpts = slices.Concat([]exposure.SinkOption{exposure.WithBatchSize(500), exposure.WithFlushInterval(50 * time.Millisecond)}, soakRetry, soakQueue)
	slowOpts     = slices.Concat([]exposure.SinkOption{exposure.WithBatchSize(500), exposure.WithFlushInterval(100 * time.Millisecond), exposure.WithSenders(1)}, soakRetry, soakQueue)
)

const (
	slowSinkDelay = 40 * time.Millisecond // per Send of the slow sink
	tailUsers     = 1000                  // users visiting while Mixpanel is down and the slow sink stalls, before Close
	closeDeadline = 500 * time.Millisecond
	// closeSlack is how late Close may return after its deadline: the
	// scheduler's delay in waking it on two busy cores, not work.
	closeSlack  = 250 * time.Millisecond
	drainWithin = 3 * time.Minute // the Flush that ends the faulty phase
)

// TestSoak runs the whole pipeline under faults; see the package doc. It
// has three phases:
//
//  1. Rounds of traffic: new users, two experiments per page, random
//     refreshes, from many concurrent clients, while 30% of Mixpanel's
//     requests fail, Redis is frozen and later killed and restarted, and
//     Flush is called with short deadlines. The slow sink takes 40 ms per
//     batch. Then one Flush, with a long deadline, delivers everything.
//     Check: every (user, experiment, variant) a page showed was queued
//     once to each sink and is stored exactly once in the fake Mixpanel
//     (after its $insert_id dedupe) and recorded once by the slow sink,
//     with the $insert_id it was queued with.
//  2. The tail: Mixpanel answers 503 to everything and the slow sink
//     stalls; 1,000 more users visit. Then Close with a 500 ms deadline.
//     Check: Close returns by its deadline and reports what Stats counts
//     undelivered; no tail exposure is stored or recorded; each sink's
//     undelivered count equals the tail exposures queued to it; every tail
//     assignment was committed, a duplicate, or counted undelivered by the
//     claim stage, and every view of a tail exposure queued to no sink is
//     among the latter.
//  3. Check: no goroutine is left.
//
// Together: each exposure shown is delivered once or counted undelivered
// by Close, never both and never neither; phase 1 exposures are all
// delivered, phase 2 exposures all undelivered, so the per-exposure answer
// is known without the pipeline naming the undelivered ones.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak test takes minutes; run it without -short")
	}
	cfg := configFromEnv(t)
	rs := startRedis(t) // skips without redis-server
	ignore := goleak.IgnoreCurrent()
	began := time.Now()

	logs := new(lockedbuf.Buffer) // errors only: retries would be thousands of warnings
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))
	quiet := slog.New(slog.DiscardHandler)
	t.Cleanup(func() {
		if t.Failed() && logs.String() != "" {
			t.Logf("pipeline errors logged:\n%s", logs.String())
		}
	})

	srv, err := mixpaneltest.NewServer(mixpaneltest.WithSeed(cfg.seed))
	require.NoError(t, err)
	defer srv.Close()
	// Redis and the deduper as the README configures them: only the
	// client's ContextTimeoutEnabled, the deduper's defaults.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	dedupe, err := redisdedupe.NewDeduper(rdb, redisdedupe.WithKeyPrefix("soak:"), redisdedupe.WithLogger(quiet))
	require.NoError(t, err)
	mp, err := mixpanel.NewSink(srv.Token(), mixpanel.WithEndpoint(srv.URL), mixpanel.WithLogger(logger))
	require.NoError(t, err)
	slow := newSlowSink(slowSinkDelay)
	bk := newBook()
	tr, err := exposure.NewTracker(
		exposure.WithExperiments(experiments...),
		exposure.WithDeduper(dedupe),
		exposure.WithSink(mp, mixpanelOpts...),
		exposure.WithSink(slow, slowOpts...),
		exposure.WithObserver(bk),
		exposure.WithLogger(logger),
	)
	require.NoError(t, err)
	t.Cleanup(func() { // when the test stops early; a no-op after the Close below
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = tr.Close(ctx)
	})
	st := startSite(t, tr)
	vs := newVisitors(st.server.URL, cfg.clients)
	t.Logf("soak: %d users per round, %d clients, seed %d (EXPOSURE_SOAK_SEED), race detector %v", cfg.users, cfg.clients, cfg.seed, raceEnabled)

	// Phase 1: rounds of traffic under faults.
	rng := rand.New(rand.NewPCG(cfg.seed, 1))
	schedule := &redisSchedule{redis: rs, start: began}
	fl := &flusher{}
	srv.SetFaultRate(mixpanelFaultRate, mixpanelFaults...)
	rounds := 0
	for rounds == 0 || time.Since(began) < cfg.duration {
		visits := planVisits(rng, fmt.Sprintf("r%d-u", rounds), cfg.users)
		var done atomic.Int64
		finished := make(chan struct{})
		scheduleErr := make(chan error, 1)
		go func() {
			scheduleErr <- schedule.run(func() float64 { return float64(done.Load()) / float64(len(visits)) }, finished)
		}()
		flushed := make(chan struct{})
		go func() {
			defer close(flushed)
			fl.run(tr, rand.New(rand.NewPCG(cfg.seed, uint64(rounds)+2)), finished)
		}()
		vs.run(visits, cfg.clients, &done)
		close(finished)
		require.NoError(t, <-scheduleErr)
		<-flushed
		rounds++
	}
	trafficEnded := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), drainWithin)
	require.NoError(t, tr.Flush(ctx), "the Flush ending the faulty phase")
	cancel()
	drained := time.Now()
	beforeTail := tr.Stats()

	// Phase 2: the tail, then Close with a deadline.
	srv.SetFaultRate(1, mixpaneltest.Fault{Status: 503})
	slow.stall()
	vs.run(planVisits(rng, "tail-u", tailUsers), cfg.clients, new(atomic.Int64))
	closeCtx, cancelClose := context.WithTimeout(context.Background(), closeDeadline)
	closeStart := time.Now()
	closeErr := tr.Close(closeCtx)
	closeTook := time.Since(closeStart)
	cancelClose()
	after := tr.Stats()

	// Stop everything else, then look for goroutines left behind.
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 10*time.Second)
	require.NoError(t, st.stop(stopCtx))
	cancelStop()
	vs.httpc.CloseIdleConnections()
	srv.Close()
	require.NoError(t, rdb.Close())
	mp.CloseIdleConnections()
	goleak.VerifyNone(t, append([]goleak.Option{ignore}, openFeatureGoroutines...)...)

	// Every page was answered, with a 200.
	assert.Zero(t, vs.failed.Load(), "requests not answered 200: %v", vs.failures)
	assert.Zero(t, st.markErrors.Load(), "MarkRendered failed")

	// Phase 1: exactly once, everywhere.
	events := srv.Events()
	stored := storedByKey(t, events)
	recorded := map[key][]string{}
	for _, e := range slow.rec.Exposures() {
		recorded[keyOf(&e)] = append(recorded[keyOf(&e)], e.InsertID)
	}
	shown := vs.shownWith("r")
	queuedMP, queuedSlow := bk.queuedTo(mp.Name()), bk.queuedTo(slow.Name())
	at := func(id string) string { return fmt.Sprintf("%s at %.3fs", id, bk.timeOf(id).Sub(began).Seconds()) }
	checkExactlyOnce(t, "mixpanel", shown, queuedMP, stored, at)
	checkExactlyOnce(t, "slow", shown, queuedSlow, recorded, at)
	for _, s := range beforeTail.Sinks {
		for _, stage := range []exposure.Stage{exposure.StageFailed, exposure.StageDropped, exposure.StageUndelivered} {
			assert.Zero(t, s.Counts[stage], "sink %s: %s before the tail", s.Name, stage)
		}
	}
	assert.Zero(t, beforeTail.Counts[exposure.StageDropped], "dropped by the claim stage or a queue")
	assert.Zero(t, beforeTail.Counts[exposure.StageDiscarded], "discarded: a request failed")

	// Phase 2: Close by its deadline, the tail reported undelivered.
	assert.Less(t, closeTook, closeDeadline+closeSlack, "Close returns by its deadline")
	require.ErrorIs(t, closeErr, exposure.ErrUndelivered)
	reported := undeliveredIn(t, closeErr)
	shownTail := vs.shownWith("tail-")
	tailMP, tailSlow := keysWith(queuedMP, "tail-"), keysWith(queuedSlow, "tail-")
	undelivered := func(name string) uint64 {
		for _, s := range after.Sinks {
			if s.Name == name {
				return s.Counts[exposure.StageUndelivered]
			}
		}
		t.Fatalf("no sink %s in Stats", name)
		return 0
	}
	uMP, uSlow := undelivered(mp.Name()), undelivered(slow.Name())
	uClaim := after.Counts[exposure.StageUndelivered] - uMP - uSlow
	assert.Equal(t, after.Counts[exposure.StageUndelivered], uint64(reported), "Close reports the undelivered Stats counts")
	assert.Equal(t, uint64(tailMP), uMP, "mixpanel: undelivered = the tail's exposures queued to it")
	assert.Equal(t, uint64(tailSlow), uSlow, "slow: undelivered = the tail's exposures queued to it")
	// The claim stage counts, when Close gives up on it, the assignments
	// still waiting for their claim: one per marked view, not per exposure
	// and not per sink (a refresh waiting there counts although its
	// exposure may already be queued). So for the tail:
	//  - every marked assignment was committed, a duplicate, or counted by
	//    the claim stage;
	//  - an exposure queued to no sink had every view waiting in the claim
	//    stage: their views are at most what the claim stage counted.
	delta := func(stage exposure.Stage) uint64 { return after.Counts[stage] - beforeTail.Counts[stage] }
	assert.Equal(t, delta(exposure.StageMarked), delta(exposure.StageCommitted)+delta(exposure.StageDuplicate)+uClaim,
		"tail: every marked assignment committed, a duplicate, or undelivered in the claim stage")
	for _, queued := range []map[key][]string{queuedMP, queuedSlow} {
		waiting := 0
		for k, views := range shownTail {
			if len(queued[k]) == 0 {
				waiting += views
			}
		}
		assert.LessOrEqual(t, uint64(waiting), uClaim, "tail: views of exposures queued to no sink, all counted by the claim stage")
	}
	assert.Zero(t, keysWith(stored, "tail-"), "tail exposures stored while Mixpanel answered 503")
	assert.Zero(t, keysWith(recorded, "tail-"), "tail exposures recorded while the slow sink stalled")
	for k, ids := range queuedMP {
		if strings.HasPrefix(k.user, "tail-") {
			assert.Len(t, ids, 1, "tail %v queued to mixpanel more than once", k)
		}
	}
	for _, s := range after.Sinks {
		assert.Zero(t, s.Counts[exposure.StageFailed], "sink %s: failed for good", s.Name)
		assert.Zero(t, s.Counts[exposure.StageDropped], "sink %s: dropped", s.Name)
	}

	// The figures.
	ds := dedupe.Stats()
	faults := faultsSeen(srv.Requests())
	lat := vs.latency(schedule.windows)
	sinkCounts := func(s exposure.Stats, name string, stage exposure.Stage) uint64 {
		for _, ss := range s.Sinks {
			if ss.Name == name {
				return ss.Counts[stage]
			}
		}
		return 0
	}
	t.Logf("soak figures (%d round(s), race detector %v):", rounds, raceEnabled)
	t.Logf("  traffic: %d users, %d page views (%d refreshes), %d clients, %.0f views/s; non-200 answers %d",
		rounds*cfg.users+tailUsers, vs.requests.Load(), vs.requests.Load()-int64(rounds*cfg.users+tailUsers), cfg.clients,
		float64(vs.requests.Load())/trafficEnded.Sub(began).Seconds(), vs.failed.Load())
	t.Logf("  page latency while Redis was down: %v; otherwise: %v", lat.outage, lat.normal)
	t.Logf("  exposures: %d (user, experiment, variant) shown in phase 1; the fake holds %d events, the slow sink %d; %d duplicates suppressed by the Tracker; %d resent events dropped by the fake's $insert_id dedupe",
		len(shown), len(events), slow.rec.Len(), after.Counts[exposure.StageDuplicate], srv.Duplicates())
	t.Logf("  mixpanel: %d requests, %d faults injected (%s); %d exposures retried; delivered %d",
		len(srv.Requests()), faults.total, faults, sinkCounts(after, "mixpanel", exposure.StageRetried), sinkCounts(after, "mixpanel", exposure.StageDelivered))
	t.Logf("  slow sink: %d sends of %v each; delivered %d", slow.sends.Load(), slowSinkDelay, sinkCounts(after, "slow", exposure.StageDelivered))
	t.Logf("  redis: down %v in all; %d claims in %d round trips, %d answered by the fallback, %d errors (%d timeouts), %d backfilled, %d backfill dropped",
		time.Duration(schedule.down.Load()).Round(time.Millisecond),
		ds.Claims, ds.RoundTrips, ds.Fallbacks, ds.Errors, ds.Timeouts, ds.Backfilled, ds.BackfillDropped)
	for _, e := range schedule.events {
		t.Logf("    %s", e)
	}
	t.Logf("  flush: %d calls with 1-50ms deadlines during traffic: %d done in time, %d at their deadline; the final Flush took %v",
		fl.calls.Load(), fl.ok.Load(), fl.deadline.Load(), drained.Sub(trafficEnded).Round(time.Millisecond))
	t.Logf("  close: deadline %v, returned after %v, reported %d undelivered (tail: %d exposures shown in %d marked views; queued %d to mixpanel, %d to slow, each counted undelivered there; %d assignments still waiting for their claim)",
		closeDeadline, closeTook.Round(time.Millisecond), reported, len(shownTail), delta(exposure.StageMarked), tailMP, tailSlow, uClaim)
	t.Logf("  wall time %v", time.Since(began).Round(time.Millisecond))
	assert.Empty(t, fl.unexpected, "Flush errors other than its deadline")
	for _, o := range redisOutages {
		assert.Positive(t, schedule.counts[o.name], "Redis was never %s: the round ended first", o.name)
	}
	assert.Positive(t, faults.total, "no fault injected")
}

// openFeatureGoroutines are the SDK's own, which outlive its Shutdown: an
// event goroutine per provider domain, and one listener per process.
var openFeatureGoroutines = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/open-feature/go-sdk/openfeature.(*eventExecutor).startListeningAndShutdownOld.func1"),
	goleak.IgnoreTopFunction("github.com/open-feature/go-sdk/openfeature.(*eventExecutor).startListeningAndShutdownOld.(*eventExecutor).startEventListener.func3.1"),
	goleak.IgnoreTopFunction("github.com/open-feature/go-sdk/openfeature.(*eventExecutor).startEventListener.func1.1"),
}

// storedByKey indexes the fake's events by (user, experiment, variant),
// read from the events themselves: distinct_id, "Experiment name" and
// "Variant name".
func storedByKey(t *testing.T, events []mixpaneltest.Event) map[key][]string {
	t.Helper()
	out := make(map[key][]string, len(events))
	for _, e := range events {
		exp, _ := e.Properties[mixpanel.PropExperiment].(string)
		variant, _ := e.Properties[mixpanel.PropVariant].(string)
		if e.Name != mixpanel.EventName || exp == "" || variant == "" {
			t.Errorf("the fake stored an event that is no exposure: %s", e.Raw)
			continue
		}
		k := key{e.DistinctID, exp, variant}
		out[k] = append(out[k], e.InsertID)
	}
	return out
}

// checkExactlyOnce checks one sink against what pages showed: every key
// shown was queued to the sink once (the Tracker's dedupe, across
// refreshes, concurrent visits and Redis outages), and the destination
// holds it once, with the $insert_id it was queued with; the destination
// holds nothing else of these users.
func checkExactlyOnce(t *testing.T, sink string, shown map[key]int, queued, held map[key][]string, describe func(insertID string) string) {
	t.Helper()
	var lost, doubled, missing, heldTwice, wrongID, unshown []string
	note := func(list *[]string, k key, format string, args ...any) {
		if len(*list) < 5 {
			*list = append(*list, fmt.Sprintf("%v: ", k)+fmt.Sprintf(format, args...))
		} else {
			*list = append(*list, "")
		}
	}
	for k, views := range shown {
		q, h := queued[k], held[k]
		switch {
		case len(q) == 0:
			note(&lost, k, "shown in %d view(s), never queued", views)
		case len(q) > 1:
			var ids []string
			for _, id := range q {
				ids = append(ids, describe(id))
			}
			note(&doubled, k, "shown in %d view(s), queued %d times: %s", views, len(q), strings.Join(ids, ", "))
		}
		switch {
		case len(h) == 0:
			note(&missing, k, "queued as %v, not at the destination", q)
		case len(h) > 1:
			note(&heldTwice, k, "held %d times: %v", len(h), h)
		case len(q) == 1 && h[0] != q[0]:
			note(&wrongID, k, "held with insert id %s, queued with %s", h[0], q[0])
		}
	}
	for k, h := range held {
		if _, ok := shown[k]; !ok && !strings.HasPrefix(k.user, "tail-") {
			note(&unshown, k, "held %v, never shown", h)
		}
	}
	for _, c := range []struct {
		what string
		list []string
	}{
		{"shown but never queued (lost before the sink)", lost},
		{"queued more than once (a duplicate exposure)", doubled},
		{"queued but not at the destination (lost)", missing},
		{"held more than once by the destination", heldTwice},
		{"held with another $insert_id than queued", wrongID},
		{"held but never shown", unshown},
	} {
		if len(c.list) > 0 {
			t.Errorf("%s: %d exposure(s) %s, such as:\n\t%s", sink, len(c.list), c.what, strings.Join(nonEmpty(c.list), "\n\t"))
		}
	}
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// keysWith counts the keys of users whose name starts with prefix.
func keysWith(m map[key][]string, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k.user, prefix) {
			n++
		}
	}
	return n
}

var undeliveredCount = regexp.MustCompile(`(\d+) exposure\(s\) still pending`)

// undeliveredIn reads how many exposures Close's error reports undelivered.
func undeliveredIn(t *testing.T, err error) int {
	t.Helper()
	m := undeliveredCount.FindStringSubmatch(err.Error())
	require.NotNil(t, m, "Close's error does not say how many are undelivered: %v", err)
	n, convErr := strconv.Atoi(m[1])
	require.NoError(t, convErr)
	return n
}

// faultCounts are the faults the fake injected, by kind.
type faultCounts struct {
	total  int
	byKind map[string]int
}

func faultsSeen(reqs []mixpaneltest.Request) faultCounts {
	c := faultCounts{byKind: map[string]int{}}
	for _, r := range reqs {
		if r.Fault != "" {
			c.total++
			c.byKind[r.Fault]++
		}
	}
	return c
}

func (c faultCounts) String() string {
	kinds := make([]string, 0, len(c.byKind))
	for k := range c.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s: %d", k, c.byKind[k])
	}
	return strings.Join(parts, ", ")
}
