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

// A Redis slower than one timeout but not gone is waited for: the retry
// gets its answer, and the claim is decided by Redis, not by the fallback.
// (With one attempt, this claim fell back, and an instance that had not
// seen the user exposed them a second time.)
func TestSlowRedisIsWaitedForNotFallenBack(t *testing.T) {
	for _, ctxTimeouts := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxTimeouts), func(t *testing.T) {
			srv := startOwnServer(t)
			rdb := srv.Client(func(o *redis.Options) {
				o.ContextTimeoutEnabled = ctxTimeouts
				o.MaxRetries = -1
			})
			require.NoError(t, rdb.Ping(context.Background()).Err())
			prefix := testPrefix(t)
			const timeout = time.Second
			d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(timeout), WithRetries(1),
				WithLogger(slog.New(slog.DiscardHandler)))
			ctx := context.Background()

			srv.Pause()
			resumed := time.AfterFunc(timeout*3/2, srv.Resume) // during the retry
			defer resumed.Stop()
			got, err := claimBatchV(d, ctx, []string{"k", "j", "k"}, time.Hour)
			require.NoError(t, err)
			assert.Equal(t, []bool{true, true, false}, got)
			st := d.Stats()
			assert.Equal(t, int64(1), st.Timeouts)
			assert.Equal(t, int64(1), st.Retries)
			assert.Zero(t, st.Fallbacks, "Redis answered the retry: no fallback")
			assert.Zero(t, st.Errors)
			assert.False(t, st.Down)

			// Redis decided: another instance finds the keys claimed.
			other := newDeduper(t, srv.Client(), WithKeyPrefix(prefix), WithTimeout(testTimeout))
			got, _ = claimBatchV(other, ctx, []string{"k", "j"}, time.Hour)
			assert.Equal(t, []bool{false, false}, got)
		})
	}
}

// answerLoser lets Redis execute the first call that sets key, then loses
// the answer: the call waits for its deadline and reports a timeout.
type answerLoser struct {
	key  string
	cmd  string // the command whose answer is lost; "" is "set"
	once sync.Once
}

func (l *answerLoser) lose(ctx context.Context, cmds []redis.Cmder, next func() error) error {
	hit := false
	for _, c := range cmds {
		name := l.cmd
		if name == "" {
			name = "set"
		}
		if c.Name() != name {
			continue
		}
		for _, a := range c.Args()[1:] {
			if a == l.key {
				hit = true
			}
		}
	}
	if !hit {
		return next()
	}
	lost := false
	l.once.Do(func() { lost = true })
	err := next()
	if !lost {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

func (l *answerLoser) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l *answerLoser) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return l.lose(ctx, []redis.Cmder{cmd}, func() error { return next(ctx, cmd) })
	}
}
func (l *answerLoser) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return l.lose(ctx, cmds, func() error { return next(ctx, cmds) })
	}
}

// A retry after a round trip whose answer was lost finds the key already
// claimed, by that round trip: it recognizes its own token, and the claim
// is still won. A plain SET NX retry would answer "already claimed" and the
// exposure would be sent by no one.
func TestRetryRecognizesTheClaimOfALostAnswer(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want []bool
	}{
		{"one key", []string{"k"}, []bool{true}},
		{"a batch with a repeated key", []string{"k", "other", "k"}, []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb := sharedClient(t, contextTimeouts)
			prefix := testPrefix(t)
			rdb.AddHook(&answerLoser{key: redisKey(prefix, "k")})
			d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(200*time.Millisecond), WithRetries(1),
				WithLogger(slog.New(slog.DiscardHandler)))
			ctx := context.Background()

			got, err := claimBatchV(d, ctx, tt.keys, time.Hour)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			st := d.Stats()
			require.Equal(t, int64(1), st.Timeouts, "the lost answer")
			assert.Equal(t, int64(1), st.Retries)
			assert.Zero(t, st.Fallbacks)
			assert.False(t, st.Down)

			first, _ := claimV(d, ctx, "k", time.Hour)
			assert.False(t, first, "claimed once, by the lost round trip")
		})
	}
}

// A caller that stops waiting (its context ends) gets the fallback's answer
// at once, and Redis is not counted unavailable: the Tracker cancels the
// claims in flight when Close gives up.
func TestCanceledClaimFallsBackWithoutCoolDown(t *testing.T) {
	srv := startOwnServer(t)
	rdb := srv.Client(contextTimeouts)
	require.NoError(t, rdb.Ping(context.Background()).Err())
	d := newDeduper(t, rdb, WithKeyPrefix(testPrefix(t)), WithTimeout(testTimeout),
		WithLogger(slog.New(slog.DiscardHandler)))

	srv.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	first, err := claimV(d, ctx, "k", time.Hour)
	require.NoError(t, err)
	assert.True(t, first, "the fallback grants it")
	assert.Less(t, time.Since(start), testTimeout/2, "waited for the timeout, not for the caller")
	st := d.Stats()
	assert.Equal(t, int64(1), st.Fallbacks)
	assert.Zero(t, st.Errors)
	assert.Zero(t, st.Retries)
	assert.False(t, st.Down, "the caller gave up; Redis did not fail")
	srv.Resume()

	first, _ = claimV(d, context.Background(), "j", time.Hour)
	assert.True(t, first)
	assert.Equal(t, int64(1), d.Stats().Fallbacks, "asked Redis again at once")
}
