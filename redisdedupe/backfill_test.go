package redisdedupe

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// More claims granted during an outage than fit in one pipeline chunk are
// all in Redis once the instance has made one round trip after the outage:
// another instance does not grant them again. (The backfill used to write
// 256 per round trip and left the rest for later claims, so a second
// instance exposed those users again meanwhile.)
func TestBackfillOfManyClaimsInOneRoundTrip(t *testing.T) {
	srv := startOwnServer(t)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)} // far from the real clock: the windows follow d.now
	prefix := testPrefix(t)
	a := newDeduper(t, srv.Client(), WithKeyPrefix(prefix), WithTimeout(testTimeout), WithLogger(slog.New(slog.DiscardHandler)))
	a.now = clock.Now
	b := newDeduper(t, srv.Client(), WithKeyPrefix(prefix), WithTimeout(testTimeout), WithLogger(slog.New(slog.DiscardHandler)))
	ctx := context.Background()

	const outage = 3*256 + 10 // several of the old chunks
	keys := make([]string, outage)
	for i := range keys {
		keys[i] = fmt.Sprint("during-", i)
	}
	srv.Stop()
	got, err := claimBatchV(a, ctx, keys, time.Hour)
	require.NoError(t, err)
	for i, f := range got {
		require.True(t, f, "the fallback grants %s", keys[i])
	}
	require.Equal(t, outage, a.Stats().BackfillPending)

	srv.Start()
	clock.Advance(defaultCooldown)
	first, _ := claimV(a, ctx, "after", time.Hour) // the one round trip after the outage
	require.True(t, first)
	st := a.Stats()
	require.False(t, st.Down)
	assert.Zero(t, st.BackfillPending, "backfill left for later round trips")
	assert.Equal(t, int64(outage), st.Backfilled)
	ttl := srv.Client().PTTL(ctx, redisKey(prefix, keys[outage-1])).Val()
	assert.Greater(t, ttl, 50*time.Minute, "backfilled with the rest of the window")

	got, err = claimBatchV(b, ctx, keys, time.Hour)
	require.NoError(t, err)
	dups := 0
	for _, f := range got {
		if f {
			dups++
		}
	}
	assert.Zero(t, dups, "claims the other instance granted again: duplicate exposures")
}

// pipelineGate holds, once, the pipeline that carries a SET of key, until
// open is closed: a slow network between the backfill and Redis.
type pipelineGate struct {
	key     string
	once    sync.Once
	entered chan struct{}
	open    chan struct{}
}

func (g *pipelineGate) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (g *pipelineGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *pipelineGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if args := c.Args(); c.Name() == "set" && len(args) > 1 && args[1] == g.key {
				g.once.Do(func() {
					close(g.entered)
					<-g.open
				})
				break
			}
		}
		return next(ctx, cmds)
	}
}

// A Release that runs while the backfill's SET NX of the same key is on its
// way to Redis wins: once Release has returned, the key is not claimed, so
// the next render sends the exposure. (Release used to delete the key
// before the backfill's SET arrived, which then claimed it again for the
// whole window: the exposure Release gave back was never sent.)
func TestReleaseRacingBackfillIsNotReclaimed(t *testing.T) {
	srv := startOwnServer(t)
	prefix := testPrefix(t)
	gate := &pipelineGate{key: redisKey(prefix, "released"), entered: make(chan struct{}), open: make(chan struct{})}
	rdb := srv.Client()
	rdb.AddHook(gate)
	clock := &fakeClock{t: time.Now()}
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout), WithLogger(slog.New(slog.DiscardHandler)))
	d.now = clock.Now
	ctx := context.Background()

	srv.Stop()
	got, _ := claimBatchV(d, ctx, []string{"released"}, time.Hour)
	require.Equal(t, []bool{true}, got, "granted by the fallback, to be backfilled")
	srv.Start()
	clock.Advance(defaultCooldown)

	claimed := make(chan struct{})
	go func() {
		defer close(claimed)
		first, _ := claimV(d, ctx, "probe", time.Hour) // carries the backfill
		assert.True(t, first)
	}()
	<-gate.entered // the backfill's SET NX is on its way
	released := make(chan struct{})
	go func() {
		defer close(released)
		assert.NoError(t, d.Release(ctx, "released"))
	}()
	// Let a Release that does not wait for the backfill finish first.
	select {
	case <-released:
	case <-time.After(300 * time.Millisecond):
	}
	close(gate.open)
	<-claimed
	<-released

	assert.Equal(t, int64(0), rdb.Exists(ctx, redisKey(prefix, "released")).Val(), "the released key was claimed again by the backfill")
	other := newDeduper(t, srv.Client(), WithKeyPrefix(prefix), WithTimeout(testTimeout))
	first, _ := claimV(other, ctx, "released", time.Hour)
	assert.True(t, first, "the next render, on any instance, sends the released exposure")
}
