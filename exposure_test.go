package exposure_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvaluationWithoutRenderSendsNothing(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)

	status, body := get(t, srv, "/home?user=alice")
	require.Equal(t, http.StatusOK, status, body)
	e.settle(t)

	assert.Empty(t, e.recorder.Exposures())
	st := e.tracker.Stats()
	assert.Equal(t, uint64(1), st.Counts[exposure.StageAssigned])
	assert.Equal(t, uint64(0), st.Counts[exposure.StageCommitted])
}

func TestRenderSendsOneExposure(t *testing.T) {
	e := newEnv(t)
	e.rules.variantFor = func(string) string { return "b" }
	srv := e.server(t)

	status, body := get(t, srv, "/checkout?user=alice")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "checkout one-page", body)
	e.settle(t)

	got := e.recorder.Exposures()
	require.Len(t, got, 1)
	x := got[0]
	assert.Equal(t, "Checkout Redesign", x.Experiment)
	assert.Equal(t, "Variant B", x.Variant)
	assert.Equal(t, "b", x.ProviderVariant)
	assert.Equal(t, flagKey, x.FlagKey)
	assert.Equal(t, "alice", x.Identity.DistinctID)
	assert.Equal(t, string(openfeature.SplitReason), x.Reason)
	assert.Regexp(t, `^[0-9a-f]{32}$`, x.InsertID)
	assert.False(t, x.Time.IsZero())
	assert.False(t, x.Time.Before(x.EvaluatedAt))
	assert.Equal(t, "alice", x.Context.TargetingKey())
}

func TestRefreshIsDeduplicatedAndChangedVariantIsNew(t *testing.T) {
	e := newEnv(t)
	var variant atomic.Value
	variant.Store("a")
	e.rules.variantFor = func(string) string { return variant.Load().(string) }
	srv := e.server(t)

	for range 3 { // a visit and two refreshes
		status, body := get(t, srv, "/checkout?user=alice")
		require.Equal(t, http.StatusOK, status, body)
	}
	e.settle(t)
	require.Len(t, e.recorder.Exposures(), 1)
	assert.Equal(t, uint64(2), e.tracker.Stats().Counts[exposure.StageDuplicate])

	variant.Store("b") // the flag now serves alice another variant
	status, body := get(t, srv, "/checkout?user=alice")
	require.Equal(t, http.StatusOK, status, body)
	get(t, srv, "/checkout?user=alice")
	e.settle(t)

	got := e.recorder.Exposures()
	require.Len(t, got, 2)
	assert.Equal(t, []string{"Variant A", "Variant B"}, []string{got[0].Variant, got[1].Variant})
	assert.NotEqual(t, got[0].InsertID, got[1].InsertID)
}

func TestTwoMarksInOneRequestAreOneExposure(t *testing.T) {
	e := newEnv(t)
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("bob"))
	require.NoError(t, err)
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	require.NoError(t, scope.Commit(ctx))
	e.settle(t)

	assert.Len(t, e.recorder.Exposures(), 1)
	assert.Equal(t, uint64(2), e.tracker.Stats().Counts[exposure.StageMarked])
}

func TestMarkErrors(t *testing.T) {
	e := newEnv(t)

	err := exposure.MarkRendered(t.Context(), flagKey)
	assert.ErrorIs(t, err, exposure.ErrNoScope)

	ctx, scope := e.tracker.Scope(t.Context())
	err = exposure.MarkRendered(ctx, flagKey)
	assert.ErrorIs(t, err, exposure.ErrNotAssigned)
	assert.ErrorContains(t, err, flagKey)
	require.NoError(t, scope.Commit(ctx))
	e.settle(t)

	assert.Empty(t, e.recorder.Exposures())
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageUnassignedMark])
}

// A variant rendered in a request that then failed was seen: by default
// it is exposed (intent to treat), and the failure is counted.
func TestFailedRendersAreExposedByDefault(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)

	status, _ := get(t, srv, "/fail?user=alice")
	require.Equal(t, http.StatusInternalServerError, status)
	// POST: the client would retry an idempotent request on the aborted connection.
	resp, err := srv.Client().Post(srv.URL+"/panic?user=bob", "text/plain", nil)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the panicking handler aborts the response")
	status, _ = get(t, srv, "/error?user=carol")
	require.Equal(t, http.StatusInternalServerError, status)
	e.settle(t)

	got := map[string]bool{}
	for _, x := range e.recorder.Exposures() {
		got[x.Identity.DistinctID] = true
	}
	assert.Equal(t, map[string]bool{"alice": true, "bob": true}, got, "rendered, then failed: exposed; carol was never rendered")
	st := e.tracker.Stats()
	assert.Equal(t, uint64(2), st.Counts[exposure.StageFailedRender])
	assert.Equal(t, uint64(1), st.Counts[exposure.StageFailedRequest])
	assert.Zero(t, st.Counts[exposure.StageDiscarded])

	// A later successful render of alice is a duplicate.
	status, body := get(t, srv, "/checkout?user=alice")
	require.Equal(t, http.StatusOK, status, body)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 2)
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageDuplicate])
}

// WithDiscardFailedRenders keeps the old policy: a failed page was not
// seen. The failures are counted all the same.
func TestDiscardFailedRenders(t *testing.T) {
	e := newEnv(t, exposure.WithDiscardFailedRenders())
	srv := e.server(t)

	status, _ := get(t, srv, "/fail?user=alice")
	require.Equal(t, http.StatusInternalServerError, status)
	resp, err := srv.Client().Post(srv.URL+"/panic?user=alice", "text/plain", nil)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the panicking handler aborts the response")
	e.settle(t)

	assert.Empty(t, e.recorder.Exposures())
	st := e.tracker.Stats()
	assert.Equal(t, uint64(2), st.Counts[exposure.StageMarked])
	assert.Equal(t, uint64(2), st.Counts[exposure.StageDiscarded])
	assert.Equal(t, uint64(2), st.Counts[exposure.StageFailedRender])

	// The failed pages did not count: the first successful render is exposed.
	status, body := get(t, srv, "/checkout?user=alice")
	require.Equal(t, http.StatusOK, status, body)
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}

func TestMiddlewareRepanics(t *testing.T) {
	e := newEnv(t)
	h := e.tracker.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = e.client.StringValue(r.Context(), flagKey, "classic", userCtx("carol"))
		_ = exposure.MarkRendered(r.Context(), flagKey)
		panic("render crashed")
	}))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	require.NoError(t, err)
	assert.PanicsWithValue(t, "render crashed", func() { h.ServeHTTP(discardWriter{}, req) })
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1, "rendered before the panic: exposed")
	assert.Equal(t, uint64(1), e.tracker.Stats().Counts[exposure.StageFailedRender])
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

func TestEvaluationsThatAreNotAssignments(t *testing.T) {
	tests := []struct {
		name     string
		evaluate func(ctx context.Context, c *openfeature.Client)
	}{
		{"flag not found", func(ctx context.Context, c *openfeature.Client) {
			_, err := c.StringValue(ctx, "no-such-flag", "x", userCtx("u1"))
			require.Error(t, err)
		}},
		{"type mismatch", func(ctx context.Context, c *openfeature.Client) {
			_, err := c.BooleanValue(ctx, flagKey, false, userCtx("u1"))
			require.Error(t, err)
		}},
		{"provider error", func(ctx context.Context, c *openfeature.Client) {
			_, err := c.StringValue(ctx, "broken-exp", "x", userCtx("u1"))
			require.Error(t, err)
		}},
		{"disabled", func(ctx context.Context, c *openfeature.Client) {
			d, err := c.BooleanValueDetails(ctx, "disabled-exp", false, userCtx("u1"))
			require.NoError(t, err)
			require.Equal(t, openfeature.DisabledReason, d.Reason)
		}},
		{"no subject", func(ctx context.Context, c *openfeature.Client) {
			_, err := c.StringValue(ctx, flagKey, "x", openfeature.NewTargetlessEvaluationContext(nil))
			require.NoError(t, err)
		}},
		{"not an experiment", func(ctx context.Context, c *openfeature.Client) {
			_, err := c.BooleanValue(ctx, "plain-flag", false, userCtx("u1"))
			require.NoError(t, err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx, scope := e.tracker.Scope(t.Context())
			tt.evaluate(ctx, e.client)
			for _, f := range []string{flagKey, "broken-exp", "disabled-exp", "plain-flag", "no-such-flag"} {
				assert.ErrorIs(t, exposure.MarkRendered(ctx, f), exposure.ErrNotAssigned, f)
			}
			require.NoError(t, scope.Commit(ctx))
			e.settle(t)
			assert.Empty(t, e.recorder.Exposures())
			assert.Zero(t, e.tracker.Stats().Counts[exposure.StageAssigned])
		})
	}
}

// failingAfterHook fails every evaluation after the exposure hook ran:
// the SDK then hands the caller the default value.
type failingAfterHook struct{ openfeature.UnimplementedHook }

func (failingAfterHook) After(context.Context, openfeature.HookContext, openfeature.InterfaceEvaluationDetails, openfeature.HookHints) error {
	return errors.New("policy hook rejected the value")
}

func TestAssignmentUndoneWhenALaterHookFails(t *testing.T) {
	tr, err := exposure.NewTracker(exposure.WithExperiments(checkout), exposure.WithSink(exposuretest.NewRecorder()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(t.Context()) })
	// Client hooks run their After before the invocation's (reverse order):
	// ours first, then the failing one.
	c := newClient(t, newProvider(nil), failingAfterHook{})
	ctx, _ := tr.Scope(t.Context())
	v, err := c.StringValue(ctx, flagKey, "default", userCtx("dan"), openfeature.WithHooks(tr.Hook()))
	require.Error(t, err)
	require.Equal(t, "default", v)
	assert.ErrorIs(t, exposure.MarkRendered(ctx, flagKey), exposure.ErrNotAssigned)
}

func TestUnscopedEvaluationIsCountedAndWarnedOnce(t *testing.T) {
	logs := &lockedbuf.Buffer{}
	events := &eventLog{}
	e := newEnv(t, exposure.WithLogger(newTextLogger(logs)), exposure.WithObserver(events))
	for range 3 {
		_, err := e.client.StringValue(t.Context(), flagKey, "classic", userCtx("erin"))
		require.NoError(t, err)
	}
	assert.Equal(t, uint64(3), e.tracker.Stats().Counts[exposure.StageSkipped])
	skipped := events.of(exposure.StageSkipped)
	require.Len(t, skipped, 3)
	for _, ev := range skipped {
		assert.ErrorIs(t, ev.Err, exposure.ErrNoScope)
		assert.Equal(t, flagKey, ev.Exposure.FlagKey)
	}
	assert.Equal(t, 1, countLines(logs.String(), "outside any scope"))
	assert.Contains(t, logs.String(), "Tracker.Middleware")
}

func TestScopeDiscard(t *testing.T) {
	e := newEnv(t)
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("fay"))
	require.NoError(t, err)
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	scope.Discard()
	require.NoError(t, scope.Commit(ctx))
	e.settle(t)
	assert.Empty(t, e.recorder.Exposures())
}

func TestMarkAfterCommitIsDeliveredAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx, scope := e.tracker.Scope(t.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", userCtx("gus"))
	require.NoError(t, err)
	require.NoError(t, scope.Commit(ctx)) // a streaming handler commits early
	e.settle(t)
	require.Empty(t, e.recorder.Exposures())

	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	require.NoError(t, exposure.MarkRendered(ctx, flagKey))
	e.settle(t)
	assert.Len(t, e.recorder.Exposures(), 1)
}

func TestConcurrentUsersExactlyOnce(t *testing.T) {
	const users, workers = 10_000, 200
	e := newEnv(t)
	e.rules.variantFor = func(user string) string {
		if len(user)%2 == 0 {
			return "b"
		}
		return "a"
	}
	srv := e.server(t)
	srv.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = workers

	// Every user is rendered twice, by random workers at once.
	work := make(chan string, users*2)
	for range 2 {
		for u := range users {
			work <- fmt.Sprintf("user-%d", u)
		}
	}
	close(work)
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for u := range work {
				if status, _ := get(t, srv, "/checkout?user="+u); status != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load())
	e.settle(t)

	seen := map[string]int{}
	for _, x := range e.recorder.Exposures() {
		seen[x.Identity.DistinctID+"|"+x.Experiment+"|"+x.Variant]++
	}
	assert.Len(t, seen, users)
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s exposed %d times", k, n)
		}
	}
	st := e.tracker.Stats()
	assert.Equal(t, uint64(users), st.Counts[exposure.StageCommitted])
	assert.Equal(t, uint64(users), st.Counts[exposure.StageDuplicate])
}
