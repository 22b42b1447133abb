package soak

// Redis restarts with an append-only file of 500,000 keys and answers
// -LOADING while it loads. A pipeline that starts while it loads and ends
// after: its backfill SETs (first) fail, its claims (after) succeed, and
// keys this instance granted from its fallback during the outage are
// granted again. Copy into internal/soak (it uses startRedis); ~40s.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/exposurekit/exposure/redisdedupe"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// While Redis loads its data after a restart it refuses the backfill's
// SETs (-LOADING) and may answer the claims behind them: a claim the
// fallback granted during the outage must not be granted again then (266
// exposures were sent twice before the fallback was asked; found by the
// soak).
func TestRedisLoadingDoesNotGrantAClaimAgain(t *testing.T) {
	rs := startRedis(t)
	c := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	for i := 0; i < 500; i++ {
		_, _ = c.Pipelined(context.Background(), func(p redis.Pipeliner) error {
			for j := 0; j < 1000; j++ {
				p.SetNX(context.Background(), fmt.Sprintf("filler-%d-%d", i, j), "tok", time.Hour)
			}
			return nil
		})
	}
	c.Close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer rdb.Close()
	d, err := redisdedupe.NewDeduper(rdb, redisdedupe.WithBackfillLimit(10_000_000), redisdedupe.WithCooldown(0))
	require.NoError(t, err)
	batch := func(from, n int) []string {
		var ks []string
		for i := from; i < from+n; i++ {
			ks = append(ks, fmt.Sprintf("key-%d", i))
		}
		return ks
	}
	d.ClaimBatch(context.Background(), batch(0, 10), variantsFor(batch(0, 10)), time.Hour)
	require.NoError(t, rs.Kill())
	for i := 0; i < 20; i++ {
		d.ClaimBatch(context.Background(), batch(i*1000, 1000), variantsFor(batch(i*1000, 1000)), time.Hour)
	}
	t.Logf("during %+v", d.Stats())
	go func() { _ = rs.Start() }()
	dups := 0
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for i := 0; i < 20; i++ {
			first, _, _ := d.ClaimBatch(context.Background(), batch(i*1000, 1000), variantsFor(batch(i*1000, 1000)), time.Hour)
			for j, f := range first {
				if f {
					dups++
					if dups < 3 {
						t.Logf("dup key-%d at %v %+v", i*1000+j, time.Now(), d.Stats())
					}
				}
			}
		}
	}
	t.Logf("after %+v", d.Stats())
	assert.Zero(t, dups, "keys this instance already exposed, granted again")
}
