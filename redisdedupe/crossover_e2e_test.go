package redisdedupe

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

// newPinnedInstance is an app instance whose flag serves variant to every
// user of checkout-redesign: two instances pinned to different variants
// are an instance that saw a rollout's change and one that had not yet.
func newPinnedInstance(t *testing.T, rdb *redis.Client, prefix, variant string) *instance {
	t.Helper()
	in := &instance{recorder: exposuretest.NewRecorder()}
	in.deduper = newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout), WithLogger(slog.New(slog.DiscardHandler)))
	tr, err := exposure.NewTracker(
		exposure.WithExperiments(experiments[0]),
		exposure.WithSink(in.recorder, exposure.WithFlushInterval(10*time.Millisecond)),
		exposure.WithDeduper(in.deduper),
		exposure.WithDedupeWindow(time.Hour),
		exposure.WithLogger(slog.New(slog.DiscardHandler)),
	)
	require.NoError(t, err)
	in.tracker = tr
	pinned := func(f memprovider.InMemoryFlag, _ openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		return f.Variants[variant], openfeature.ProviderResolutionDetail{Variant: variant, Reason: openfeature.SplitReason}
	}
	flag := experiments[0].FlagKey
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flag: {Key: flag, State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "old", "b": "new"}, ContextEvaluator: &pinned},
	})))
	api.AddHooks(tr.Hook())
	client := api.NewClient()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkout", func(w http.ResponseWriter, r *http.Request) {
		ec := openfeature.NewEvaluationContext(r.URL.Query().Get("user"), nil)
		v, _ := client.StringValue(r.Context(), flag, "old", ec)
		_, _ = io.WriteString(w, v)
		if err := exposure.MarkRendered(r.Context(), flag); err != nil {
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

// A subject exposed to a on instance 1, then served b by instance 2, is a
// crossover, counted once across both instances; both exposures are sent;
// refreshes of b on either instance are duplicates.
func TestCrossoverAcrossInstances(t *testing.T) {
	sharedClient(t) // skips without REDIS_URL
	prefix := testPrefix(t)
	one := newPinnedInstance(t, sharedClient(t), prefix, "a")
	two := newPinnedInstance(t, sharedClient(t), prefix, "b")
	// A third instance on b, to refresh b on an instance that did not
	// move the subject.
	three := newPinnedInstance(t, sharedClient(t), prefix, "b")
	instances := []*instance{one, two, three}

	steps := []struct {
		at                               int
		committed, duplicate, crossovers uint64 // totals over all instances after the step
	}{
		{0, 1, 0, 0}, // a on instance 1: exposed
		{0, 1, 1, 0}, // a again: a duplicate
		{1, 2, 1, 1}, // b on instance 2: a crossover, exposed
		{1, 2, 2, 1}, // b again on instance 2: a duplicate
		{2, 2, 3, 1}, // b on instance 3: a duplicate
	}
	for i, s := range steps {
		require.Zero(t, visitAll(t, instances, []visit{{"mover", s.at}}, 1), "step %d", i)
		total, _ := flushAll(t, instances)
		var committed, duplicate, crossovers uint64
		for _, in := range instances {
			c := in.tracker.Stats().Counts
			committed += c[exposure.StageCommitted]
			duplicate += c[exposure.StageDuplicate]
			crossovers += c[exposure.StageCrossover]
		}
		assert.Equal(t, s.committed, committed, "step %d: committed", i)
		assert.Equal(t, s.duplicate, duplicate, "step %d: duplicates", i)
		assert.Equal(t, s.crossovers, crossovers, "step %d: crossovers", i)
		if i == len(steps)-1 {
			want := map[exposureKey]int{
				{"mover", experiments[0].Name, "a"}: 1,
				{"mover", experiments[0].Name, "b"}: 1,
			}
			assert.Equal(t, want, total, "both exposures sent, once each")
		}
	}
	assert.Equal(t, uint64(1), two.tracker.Stats().Counts[exposure.StageCrossover], "counted by the instance that moved the subject")
	for i, in := range instances {
		assert.Zero(t, in.deduper.Stats().Fallbacks, "instance %d fell back", i)
	}
}

// A subject served a and b in turn by two instances (a rollout that flaps,
// two browser tokens posted in turn) is sent each variant once: every
// change is a crossover, and the moves back are not sent again.
func TestFlipBackAcrossInstances(t *testing.T) {
	sharedClient(t) // skips without REDIS_URL
	prefix := testPrefix(t)
	one := newPinnedInstance(t, sharedClient(t), prefix, "a")
	two := newPinnedInstance(t, sharedClient(t), prefix, "b")
	instances := []*instance{one, two}
	for _, at := range []int{0, 1, 0, 1, 0} {
		require.Zero(t, visitAll(t, instances, []visit{{"flapper", at}}, 1))
		flushAll(t, instances) // each claim reaches Redis before the next visit
	}
	total, _ := flushAll(t, instances)
	var committed, duplicate, crossovers uint64
	for _, in := range instances {
		c := in.tracker.Stats().Counts
		committed += c[exposure.StageCommitted]
		duplicate += c[exposure.StageDuplicate]
		crossovers += c[exposure.StageCrossover]
	}
	assert.Equal(t, map[exposureKey]int{
		{"flapper", experiments[0].Name, "a"}: 1,
		{"flapper", experiments[0].Name, "b"}: 1,
	}, total, "each variant sent once")
	assert.Equal(t, uint64(2), committed)
	assert.Equal(t, uint64(4), crossovers, "a→b, b→a, a→b, b→a")
	assert.Equal(t, uint64(3), duplicate, "the three moves back")
}
