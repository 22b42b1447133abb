package redisdedupe

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// BenchmarkClaims compares claims per second over loopback to a real
// redis-server: one round trip per claim (Claim, key after key) against the
// claims of one commit pipelined in one round trip (ClaimBatch). Every claim
// is of a new key, so every SET writes. Compare the claims/s metrics of the
// sub-benchmarks of one run.
func BenchmarkClaims(b *testing.B) {
	rdb := sharedClient(b, contextTimeouts) // as recommended: no goroutine per call
	ctx := context.Background()
	const window = 30 * time.Second // the keys clean themselves up
	// The client alone, for the Deduper's own cost (timeout goroutine,
	// write-through to the fallback).
	b.Run("raw-client-SET-NX", func(b *testing.B) {
		prefix := testPrefix(b)
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			if err := rdb.SetNX(ctx, prefix+strconv.Itoa(n), 1, window).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
	})
	for _, batch := range []int{2, 8, 32} {
		prefix := testPrefix(b)
		b.Run(fmt.Sprintf("one-round-trip-per-claim/keys=%d", batch), func(b *testing.B) {
			d := newDeduper(b, rdb, WithKeyPrefix(prefix+"single:"), WithTimeout(time.Second))
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				for range batch {
					n++
					if _, err := d.Claim(ctx, strconv.Itoa(n), window); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
			if d.Stats().Fallbacks > 0 {
				b.Fatalf("%d claims fell back: not measuring Redis", d.Stats().Fallbacks)
			}
		})
		b.Run(fmt.Sprintf("pipelined/keys=%d", batch), func(b *testing.B) {
			d := newDeduper(b, rdb, WithKeyPrefix(prefix+"pipelined:"), WithTimeout(time.Second))
			keys := make([]string, batch)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				for i := range keys {
					n++
					keys[i] = strconv.Itoa(n)
				}
				if _, err := d.ClaimBatch(ctx, keys, window); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "claims/s")
			if d.Stats().Fallbacks > 0 {
				b.Fatalf("%d claims fell back: not measuring Redis", d.Stats().Fallbacks)
			}
		})
	}
}
