package redisdedupe

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The tests stop Redis on purpose; go-redis would log every refused dial.
	redis.SetLogger(quietRedisLog{})
	goleak.VerifyTestMain(m)
}

type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// roundTrips counts the SET and DEL commands a client sends to Redis, alone
// or in pipelines (not the handshake of new connections).
type roundTrips struct {
	singles, pipelines, pipelined atomic.Int64
}

func ours(cmd redis.Cmder) bool { return cmd.Name() == "set" || cmd.Name() == "del" }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ours(cmd) {
			h.singles.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		n := 0
		for _, c := range cmds {
			if ours(c) {
				n++
			}
		}
		if n > 0 {
			h.pipelines.Add(1)
			h.pipelined.Add(int64(n))
		}
		return next(ctx, cmds)
	}
}

// fakeClock is a settable clock for cool-down and log-interval tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestClaimAndRelease(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	const window = time.Hour

	first, err := claimV(d, ctx, "a", window)
	require.NoError(t, err)
	assert.True(t, first, "first claim of a key")

	first, err = claimV(d, ctx, "a", window)
	require.NoError(t, err)
	assert.False(t, first, "second claim of the same key")

	first, err = claimV(d, ctx, "b", window)
	require.NoError(t, err)
	assert.True(t, first, "another key")

	// The claim is SET prefix+key value NX GET PX window; the value is an
	// integer (Redis keeps it in its object header) carrying the variant's
	// tag.
	val, err := rdb.Get(ctx, redisKey(prefix, "a")).Result()
	require.NoError(t, err)
	assert.Equal(t, d.variantTag(testVariant), valueTag(val), "the value %q carries the variant's tag", val)
	enc, err := rdb.ObjectEncoding(ctx, redisKey(prefix, "a")).Result()
	require.NoError(t, err)
	assert.Equal(t, "int", enc, "stored as an integer")
	ttl, err := rdb.PTTL(ctx, redisKey(prefix, "a")).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, window-time.Minute)
	assert.LessOrEqual(t, ttl, window)

	require.NoError(t, d.Release(ctx, "a"))
	n, err := rdb.Exists(ctx, redisKey(prefix, "a")).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "Release deletes the key")

	first, err = claimV(d, ctx, "a", window)
	require.NoError(t, err)
	assert.True(t, first, "a released key can be claimed again")

	st := d.Stats()
	assert.Equal(t, int64(4), st.Claims)
	assert.Equal(t, int64(1), st.Releases)
	assert.Zero(t, st.Fallbacks)
	assert.Zero(t, st.Errors)
	assert.False(t, st.Down)
}

func TestClaimBatchOneRoundTrip(t *testing.T) {
	rdb := sharedClient(t)
	rt := &roundTrips{}
	rdb.AddHook(rt)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	const window = time.Hour

	_, err := claimV(d, ctx, "old", window)
	require.NoError(t, err)
	singles, pipelines := rt.singles.Load(), rt.pipelines.Load()

	tests := []struct {
		name string
		keys []string
		want []bool
	}{
		{"new, claimed, new", []string{"x", "old", "y"}, []bool{true, false, true}},
		{"all claimed now", []string{"y", "x", "old"}, []bool{false, false, false}},
		{"a key twice in one batch wins once", []string{"z", "z"}, []bool{true, false}},
		{"empty batch", nil, []bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := claimBatchV(d, ctx, tt.keys, window)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, int64(1), singles, "a single claim is a single command: SET NX GET reads the old value back")
	assert.Equal(t, int64(3), rt.pipelines.Load()-pipelines, "one pipeline per non-empty batch")
	assert.Equal(t, int64(8), rt.pipelined.Load(), "the SETs of 3 + 3 + 2 keys")
	assert.Equal(t, singles, rt.singles.Load(), "no single commands for batches")
	assert.Equal(t, int64(9), d.Stats().Claims, "1 + 3 + 3 + 2 keys")
}

func TestWindowExpires(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	const window = 30 * time.Millisecond

	first, _ := claimV(d, ctx, "k", window)
	require.True(t, first)
	first, _ = claimV(d, ctx, "k", window)
	require.False(t, first, "claimed within the window")

	// Wait for Redis to expire the key, not for a wall-clock guess.
	require.Eventually(t, func() bool {
		return rdb.Exists(ctx, redisKey(prefix, "k")).Val() == 0
	}, 5*time.Second, 5*time.Millisecond)
	first, _ = claimV(d, ctx, "k", window)
	assert.True(t, first, "claimable again after the window")
}

func TestWindowMillis(t *testing.T) {
	tests := []struct {
		window time.Duration
		want   int64
	}{
		{90 * 24 * time.Hour, 90 * 24 * 3600 * 1000},
		{time.Second, 1000},
		{1500 * time.Microsecond, 2},
		{time.Nanosecond, 1},
		{0, 1},
		{-time.Second, 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, windowMillis(tt.window), "%v", tt.window)
	}
}

// Three instances (three clients) claim the same keys concurrently, with
// Claim and ClaimBatch mixed: every key has exactly one winner.
func TestExactlyOneWinnerAcrossInstances(t *testing.T) {
	sharedClient(t) // skips without REDIS_URL
	prefix := testPrefix(t)
	var instances []*Deduper
	for range 3 {
		// A generous timeout: this test is about Redis deciding, not about
		// falling back when 24 workers under -race make it slow.
		instances = append(instances, newDeduper(t, sharedClient(t), WithKeyPrefix(prefix), WithTimeout(10*time.Second)))
	}
	const keys, workers = 300, 24
	var wins [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			d := instances[w%len(instances)]
			ctx := context.Background()
			for k := 0; k < keys; k += 3 {
				if w%2 == 0 {
					batch := []string{fmt.Sprint(k), fmt.Sprint(k + 1), fmt.Sprint(k + 2)}
					first, err := claimBatchV(d, ctx, batch, time.Hour)
					assert.NoError(t, err)
					for i, f := range first {
						if f {
							wins[k+i].Add(1)
						}
					}
					continue
				}
				for i := range 3 {
					if f, err := claimV(d, ctx, fmt.Sprint(k+i), time.Hour); assert.NoError(t, err) && f {
						wins[k+i].Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	for k := range wins {
		assert.Equal(t, int64(1), wins[k].Load(), "winners of key %d", k)
	}
	for i, d := range instances {
		assert.Zero(t, d.Stats().Fallbacks, "instance %d fell back", i)
	}
}

func TestNewDeduperRefusesBadConfig(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	tests := []struct {
		name   string
		client redis.UniversalClient
		opts   []Option
		want   []string // every one must be in the error
	}{
		{"nil client", nil, nil, []string{"nil redis client"}},
		{"typed nil client", (*redis.Client)(nil), nil, []string{"nil redis client"}},
		{"nil option", rdb, []Option{WithTimeout(time.Second), nil}, []string{"option 1 is nil"}},
		{"zero timeout", rdb, []Option{WithTimeout(0)}, []string{"WithTimeout(0s)", "positive"}},
		{"negative timeout", rdb, []Option{WithTimeout(-time.Millisecond)}, []string{"WithTimeout(-1ms)"}},
		{"negative retries", rdb, []Option{WithRetries(-1)}, []string{"WithRetries(-1)", "negative"}},
		{"negative cooldown", rdb, []Option{WithCooldown(-time.Second)}, []string{"WithCooldown(-1s)", "negative"}},
		{"nil fallback", rdb, []Option{WithFallback(nil)}, []string{"WithFallback"}},
		{"nil logger", rdb, []Option{WithLogger(nil)}, []string{"WithLogger"}},
		{"zero log interval", rdb, []Option{WithLogInterval(0)}, []string{"WithLogInterval(0s)"}},
		{"negative backfill limit", rdb, []Option{WithBackfillLimit(-1)}, []string{"WithBackfillLimit(-1)"}},
		{"short key secret", rdb, []Option{WithKeySecret([]byte("0123456789"))}, []string{"WithKeySecret", "10 bytes"}},
		{"every error reported", nil, []Option{WithTimeout(0), nil, WithBackfillLimit(-5)},
			[]string{"nil redis client", "WithTimeout(0s)", "option 1 is nil", "WithBackfillLimit(-5)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDeduper(tt.client, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	// The edges that are allowed.
	d, err := NewDeduper(rdb, WithCooldown(0), WithBackfillLimit(0), WithKeyPrefix(""), WithRetries(0))
	require.NoError(t, err)
	assert.NotNil(t, d)
}

// memoryDeduper is exposure.NewMemoryDeduper for a test.
func memoryDeduper(t *testing.T, capacity int) exposure.Deduper {
	t.Helper()
	d, err := exposure.NewMemoryDeduper(capacity)
	require.NoError(t, err)
	return d
}

// newDeduper is NewDeduper for a test that gives valid options.
func newDeduper(tb testing.TB, client redis.UniversalClient, opts ...Option) *Deduper {
	tb.Helper()
	d, err := NewDeduper(client, opts...)
	require.NoError(tb, err)
	return d
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// With Redis unreachable, claims are answered by the fallback (deduped in
// this process), never fail, are counted, and are logged once per interval.
func TestUnreachableRedisFallsBack(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedPort(t), MaxRetries: -1})
	defer rdb.Close()
	logs := &lockedbuf.Buffer{}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	d := newDeduper(t, rdb, WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
		WithCooldown(time.Second), WithLogInterval(time.Minute))
	d.now = clock.Now
	ctx := context.Background()

	first, err := claimV(d, ctx, "k", time.Hour)
	require.NoError(t, err)
	assert.True(t, first, "the fallback grants the first claim")
	first, err = claimV(d, ctx, "k", time.Hour)
	require.NoError(t, err)
	assert.False(t, first, "the fallback dedupes in this process")
	got, err := claimBatchV(d, ctx, []string{"k", "j"}, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, got)

	st := d.Stats()
	assert.Equal(t, int64(4), st.Claims)
	assert.Equal(t, int64(4), st.Fallbacks)
	assert.Equal(t, int64(1), st.Errors, "one failed call; then the cool-down")
	// 1 + 1 + 2 fell back; the first was in the first warning.
	assert.Equal(t, int64(1), st.RoundTrips)
	assert.True(t, st.Down)
	assert.Equal(t, 1, logs.Count("Redis unavailable"))
	assert.NotContains(t, logs.String(), "level=ERROR")

	// Every cool-down, one call probes Redis; still down: no new warning
	// within the log interval.
	for range 10 {
		clock.Advance(time.Second)
		_, err := claimV(d, ctx, "k", time.Hour)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(11), d.Stats().RoundTrips)
	assert.Equal(t, 1, logs.Count("Redis unavailable"), "logged once per interval, not per failure")
	clock.Advance(time.Minute)
	_, _ = claimV(d, ctx, "k", time.Hour)
	assert.Equal(t, 2, logs.Count("Redis unavailable"), "and again after the interval")
	assert.Contains(t, logs.String(), "fallbacks=14", "the warning counts the claims that fell back since the last one")

	// Release while down: the fallback forgets the key.
	require.NoError(t, d.Release(ctx, "k"))
	first, _ = claimV(d, ctx, "k", time.Hour)
	assert.True(t, first)
}

// A Redis that accepts connections but does not answer costs a claim at
// most (1 + retries) × the timeout, then nothing during the cool-down; only
// one call at a time probes it, with a single attempt.
func TestHungRedisBoundedByTimeout(t *testing.T) {
	for _, ctxTimeouts := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxTimeouts), func(t *testing.T) {
			testHungRedis(t, ctxTimeouts)
		})
	}
}

func testHungRedis(t *testing.T, ctxTimeouts bool) {
	srv := startOwnServer(t)
	// With ContextTimeoutEnabled false, the client waits for its 3s read
	// timeout: the Deduper must bound the wait itself. With it, the client
	// ends the call at the Deduper's deadline.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, ContextTimeoutEnabled: ctxTimeouts})
	require.Equal(t, ctxTimeouts, newDeduper(t, rdb).inline)
	require.NoError(t, rdb.Ping(context.Background()).Err())
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	d := newDeduper(t, rdb, WithKeyPrefix(testPrefix(t)), WithTimeout(50*time.Millisecond), WithRetries(1),
		WithCooldown(time.Second), WithLogger(slog.New(slog.DiscardHandler)))
	d.now = clock.Now
	ctx := context.Background()

	srv.Pause()
	start := time.Now()
	first, err := claimV(d, ctx, "k", time.Hour)
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.True(t, first)
	assert.Less(t, elapsed, 2*time.Second, "waited for the client's read timeout, not ours")
	st := d.Stats()
	assert.Equal(t, int64(2), st.Timeouts, "the round trip and its retry")
	assert.Equal(t, int64(1), st.Retries)
	assert.Equal(t, int64(2), st.RoundTrips)
	assert.Equal(t, int64(1), st.Errors, "one call fell back")
	assert.Equal(t, int64(1), st.Fallbacks)
	assert.True(t, st.Down)

	// During the cool-down: no call at all.
	for range 20 {
		_, _ = claimV(d, ctx, "other", time.Hour)
	}
	assert.Equal(t, int64(2), d.Stats().RoundTrips)

	// After it, many concurrent claims: one probe, the others fall back.
	clock.Advance(time.Second)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := claimBatchV(d, ctx, []string{fmt.Sprint("c", i)}, time.Hour)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, int64(3), d.Stats().RoundTrips, "one probe after the cool-down, not retried")

	srv.Resume()
	clock.Advance(time.Second)
	first, err = claimV(d, ctx, "fresh", time.Hour)
	require.NoError(t, err)
	assert.True(t, first)
	assert.False(t, d.Stats().Down, "back to Redis once it answers")
	require.NoError(t, rdb.Close()) // ends the calls abandoned at the timeout
}

// Redis stopped, then started again (empty): claims fall back meanwhile, go
// back to Redis when it answers, and the claims granted during the outage
// are written to Redis so that other instances do not grant them again.
func TestRedisRestartBackfill(t *testing.T) {
	srv := startOwnServer(t)
	a := srv.Client()
	b := srv.Client()
	clock := &fakeClock{t: time.Now()}
	logs := &lockedbuf.Buffer{}
	prefix := testPrefix(t)
	da := newDeduper(t, a, WithKeyPrefix(prefix), WithTimeout(testTimeout), WithCooldown(time.Second), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	da.now = clock.Now
	db := newDeduper(t, b, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()

	first, _ := claimV(da, ctx, "before", time.Hour)
	require.True(t, first)

	srv.Stop()
	got, err := claimBatchV(da, ctx, []string{"before", "during1", "during2"}, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true, true}, got,
		"the fallback knows what Redis answered before the outage (write-through)")
	require.True(t, da.Stats().Down)

	srv.Start()
	clock.Advance(time.Second)
	first, _ = claimV(da, ctx, "after", time.Hour)
	assert.True(t, first)
	st := da.Stats()
	assert.False(t, st.Down)
	assert.Equal(t, int64(2), st.Backfilled)
	assert.Equal(t, 1, logs.Count("Redis answers again"))

	// Instance b never saw the outage's users, yet does not expose them again.
	got, err = claimBatchV(db, ctx, []string{"during1", "during2", "after", "new"}, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, false, false, true}, got)
	ttl := a.PTTL(ctx, redisKey(prefix, "during1")).Val()
	assert.Greater(t, ttl, 50*time.Minute, "backfilled with the rest of the window")
	assert.LessOrEqual(t, ttl, time.Hour)
}

// A released claim is not backfilled.
func TestReleaseDuringOutageIsNotBackfilled(t *testing.T) {
	srv := startOwnServer(t)
	a := srv.Client()
	clock := &fakeClock{t: time.Now()}
	prefix := testPrefix(t)
	d := newDeduper(t, a, WithKeyPrefix(prefix), WithTimeout(testTimeout), WithLogger(slog.New(slog.DiscardHandler)))
	d.now = clock.Now
	ctx := context.Background()

	srv.Stop()
	got, _ := claimBatchV(d, ctx, []string{"kept", "released"}, time.Hour)
	require.Equal(t, []bool{true, true}, got)
	require.NoError(t, d.Release(ctx, "released"))

	srv.Start()
	clock.Advance(defaultCooldown)
	_, _ = claimV(d, ctx, "probe", time.Hour)
	require.False(t, d.Stats().Down)
	assert.Equal(t, int64(1), a.Exists(ctx, redisKey(prefix, "kept")).Val())
	assert.Equal(t, int64(0), a.Exists(ctx, redisKey(prefix, "released")).Val())
}

// A Redis that answers with errors (out of memory) is treated like one that
// is down: the fallback answers and the request goes on.
func TestRedisErrorsFallBack(t *testing.T) {
	srv := startOwnServer(t)
	a := srv.Client()
	ctx := context.Background()
	d := newDeduper(t, a, WithKeyPrefix(testPrefix(t)), WithTimeout(testTimeout), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, a.ConfigSet(ctx, "maxmemory", "1").Err())
	require.NoError(t, a.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())

	got, err := claimBatchV(d, ctx, []string{"k", "k"}, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false}, got)
	st := d.Stats()
	assert.Equal(t, int64(2), st.Fallbacks)
	assert.Equal(t, int64(1), st.Errors)
	assert.Zero(t, st.Timeouts)
}

// The fallback's errors do not lose exposures: the claim is granted.
func TestFallbackErrorGrants(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedPort(t), MaxRetries: -1})
	defer rdb.Close()
	d := newDeduper(t, rdb, WithFallback(memoryDeduper(t, 10)), WithLogger(slog.New(slog.DiscardHandler)))
	first, err := claimV(d, context.Background(), "k", 0) // the memory deduper rejects a zero window
	require.NoError(t, err)
	assert.True(t, first)
}

func TestBackfillLimit(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedPort(t), MaxRetries: -1})
	defer rdb.Close()
	d := newDeduper(t, rdb, WithBackfillLimit(2), WithLogger(slog.New(slog.DiscardHandler)))
	_, _ = claimBatchV(d, context.Background(), []string{"a", "b", "c", "d"}, time.Hour)
	assert.Equal(t, int64(2), d.Stats().BackfillDropped)
	d.mu.Lock()
	assert.Len(t, d.backfill, 2)
	d.mu.Unlock()
}

// A call abandoned at the timeout that Redis answers later ends the
// cool-down: Redis was slow once, not down.
func TestLateAnswerEndsCooldown(t *testing.T) {
	srv := startOwnServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	require.NoError(t, rdb.Ping(context.Background()).Err())
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(50*time.Millisecond), WithRetries(0),
		WithCooldown(time.Hour), WithLogger(slog.New(slog.DiscardHandler)))
	d.now = clock.Now
	ctx := context.Background()

	srv.Pause()
	first, _ := claimV(d, ctx, "slow", time.Hour)
	require.True(t, first)
	require.True(t, d.Stats().Down)
	first, _ = claimV(d, ctx, "cooling", time.Hour)
	require.True(t, first)
	require.Equal(t, int64(1), d.Stats().RoundTrips, "cooling down")

	srv.Resume() // the abandoned SET is answered now
	require.Eventually(t, func() bool {
		_, _ = claimV(d, ctx, "probe", time.Hour)
		return !d.Stats().Down
	}, 10*time.Second, 10*time.Millisecond, "the late answer did not end the cool-down (the clock never moved)")
	assert.Equal(t, int64(1), rdb.Exists(ctx, redisKey(prefix, "slow")).Val(), "the abandoned claim reached Redis")
	assert.Equal(t, int64(1), rdb.Exists(ctx, redisKey(prefix, "cooling")).Val(), "the cool-down's claim was backfilled")
	require.NoError(t, rdb.Close())
}

// testTimeout is a timeout longer than the default for tests that are not
// about timeouts: a fallback would change what those tests observe.
const testTimeout = 5 * time.Second

// testVariant is the variant of the claims of tests that are not about
// variants.
const testVariant = "a"

// claimV is d.Claim of key with testVariant: first only.
func claimV(d *Deduper, ctx context.Context, key string, window time.Duration) (bool, error) {
	first, _, err := d.Claim(ctx, key, testVariant, window)
	return first, err
}

// claimBatchV is d.ClaimBatch of keys, each with testVariant: first only.
func claimBatchV(d *Deduper, ctx context.Context, keys []string, window time.Duration) ([]bool, error) {
	variants := make([]string, len(keys))
	for i := range variants {
		variants[i] = testVariant
	}
	first, _, err := d.ClaimBatch(ctx, keys, variants, window)
	return first, err
}

// redisKey is the Redis key of a claim of key by a Deduper with prefix and
// no key secret.
func redisKey(prefix, key string) string {
	return prefix + (&Deduper{}).storedKey(key)
}
