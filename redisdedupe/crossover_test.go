package redisdedupe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One key per (subject, experiment) holds the latest variant: a repeat is
// a duplicate; a move to another variant is a crossover, and a first claim
// unless the subject was exposed to that variant within the window; the
// key then holds the new variant for a new window.
func TestClaimCrossover(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	const window = time.Hour

	steps := []struct {
		variant          string
		first, crossover bool
	}{
		{"control", true, false},
		{"control", false, false},
		{"treatment", true, true},
		{"treatment", false, false},
		{"control", false, true}, // back to a variant exposed: not sent
		{"control", false, false},
	}
	for i, s := range steps {
		first, crossover, err := d.Claim(ctx, "k", s.variant, window)
		require.NoError(t, err)
		assert.Equal(t, s.first, first, "step %d (%s): first", i, s.variant)
		assert.Equal(t, s.crossover, crossover, "step %d (%s): crossover", i, s.variant)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	assert.Len(t, keys, 1, "one key per (subject, experiment), whatever the variants")
	assert.Equal(t, d.variantTag("control"), valueTag(rdb.Get(ctx, redisKey(prefix, "k")).Val()), "the key holds the latest variant")

	// Batches: a key repeated in one batch is decided by its occurrences
	// before it.
	tests := []struct {
		name             string
		keys, variants   []string
		first, crossover []bool
	}{
		{"new, repeat, move, repeat", []string{"x", "x", "x", "x"}, []string{"a", "a", "b", "b"},
			[]bool{true, false, true, false}, []bool{false, false, true, false}},
		{"moves back, among others", []string{"y", "x", "z"}, []string{"a", "a", "a"},
			[]bool{true, false, true}, []bool{false, true, false}},
		{"all held now", []string{"z", "y", "x"}, []string{"a", "a", "a"},
			[]bool{false, false, false}, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, crossover, err := d.ClaimBatch(ctx, tt.keys, tt.variants, window)
			require.NoError(t, err)
			assert.Equal(t, tt.first, first, "first")
			assert.Equal(t, tt.crossover, crossover, "crossover")
		})
	}
	_, _, err = d.ClaimBatch(ctx, []string{"a", "b"}, []string{"v"}, window)
	assert.Error(t, err, "keys and variants of different lengths")
	assert.Zero(t, d.Stats().Fallbacks)
}

// A duplicate does not refresh the window; a crossover starts a new one.
func TestCrossoverStartsANewWindow(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	key := redisKey(prefix, "k")

	first, _, err := d.Claim(ctx, "k", "a", 10*time.Second)
	require.NoError(t, err)
	require.True(t, first)
	first, _, _ = d.Claim(ctx, "k", "a", time.Hour)
	require.False(t, first)
	assert.LessOrEqual(t, rdb.PTTL(ctx, key).Val(), 10*time.Second, "a duplicate does not refresh the window")

	first, crossover, _ := d.Claim(ctx, "k", "b", time.Hour)
	require.True(t, first)
	require.True(t, crossover)
	assert.Greater(t, rdb.PTTL(ctx, key).Val(), 50*time.Minute, "a crossover starts a new window")
}

// Three instances move the same subjects from variant a to b at once, with
// Claim and ClaimBatch mixed: for every key exactly one claim wins, and it
// is the crossover.
func TestCrossoverExactlyOneWinnerAcrossInstances(t *testing.T) {
	sharedClient(t) // skips without REDIS_URL
	prefix := testPrefix(t)
	var instances []*Deduper
	for range 3 {
		instances = append(instances, newDeduper(t, sharedClient(t), WithKeyPrefix(prefix), WithTimeout(10*time.Second)))
	}
	ctx := context.Background()
	const keys, workers = 300, 24
	all := make([]string, keys)
	for k := range all {
		all[k] = strconv.Itoa(k)
	}
	as := make([]string, keys)
	for i := range as {
		as[i] = "a"
	}
	first, _, err := instances[0].ClaimBatch(ctx, all, as, time.Hour)
	require.NoError(t, err)
	require.NotContains(t, first, false, "every subject starts on a")

	var wins, crossovers [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			d := instances[w%len(instances)]
			for k := 0; k < keys; k += 3 {
				var first, crossover []bool
				if w%2 == 0 {
					f, c, err := d.ClaimBatch(ctx, all[k:k+3], []string{"b", "b", "b"}, time.Hour)
					assert.NoError(t, err)
					first, crossover = f, c
				} else {
					for i := range 3 {
						f, c, err := d.Claim(ctx, all[k+i], "b", time.Hour)
						assert.NoError(t, err)
						first, crossover = append(first, f), append(crossover, c)
					}
				}
				for i := range 3 {
					if first[i] {
						wins[k+i].Add(1)
					}
					if crossover[i] {
						crossovers[k+i].Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	for k := range wins {
		assert.Equal(t, int64(1), wins[k].Load(), "winners of key %d", k)
		assert.Equal(t, int64(1), crossovers[k].Load(), "crossovers of key %d", k)
	}
	for i, d := range instances {
		assert.Zero(t, d.Stats().Fallbacks, "instance %d fell back", i)
	}
}

// A crossover whose answer was lost is recognized by the retry as this
// call's: first and crossover, once.
func TestCrossoverRetryRecognizesItsLostAnswer(t *testing.T) {
	rdb := sharedClient(t, contextTimeouts)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(200*time.Millisecond), WithRetries(1),
		WithLogger(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	first, _, err := d.Claim(ctx, "k", "a", time.Hour)
	require.NoError(t, err)
	require.True(t, first)

	rdb.AddHook(&answerLoser{key: redisKey(prefix, "k"), cmd: "eval"})
	first, crossover, err := d.Claim(ctx, "k", "b", time.Hour)
	require.NoError(t, err)
	assert.True(t, first, "the lost crossover was this call's")
	assert.True(t, crossover)
	st := d.Stats()
	require.Equal(t, int64(1), st.Timeouts, "the lost answer")
	assert.Equal(t, int64(1), st.Retries)
	assert.Zero(t, st.Fallbacks)

	first, crossover, _ = d.Claim(ctx, "k", "b", time.Hour)
	assert.False(t, first, "moved once")
	assert.False(t, crossover)
}

// While Redis is down, the fallback sees crossovers too: it holds the
// variant Redis answered last (write-through).
func TestFallbackKnowsTheVariant(t *testing.T) {
	srv := startOwnServer(t)
	d := newDeduper(t, srv.Client(), WithKeyPrefix(testPrefix(t)), WithTimeout(testTimeout),
		WithLogger(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	first, _, _ := d.Claim(ctx, "k", "a", time.Hour)
	require.True(t, first)

	srv.Stop()
	firsts, crossovers, err := d.ClaimBatch(ctx, []string{"k", "k"}, []string{"a", "b"}, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, firsts)
	assert.Equal(t, []bool{false, true}, crossovers)
	assert.True(t, d.Stats().Down)
}

// usedMemory is INFO memory's used_memory.
func usedMemory(t testing.TB, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	require.NoError(t, err)
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// trackerKey is a dedupe key as the Tracker makes it: 32 hex characters.
func trackerKey(i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("user-%d\x00Checkout Redesign", i)))
	return hex.EncodeToString(sum[:16])
}

// What a claim costs Redis, in used_memory per key over 200,000 claims of
// new subjects, against the layout before crossovers (one key per subject,
// experiment and variant: "exposure:" and 32 hex characters, holding a
// 20-character token, SET NX PX), written here with the raw client as
// that version wrote it.
func TestMemoryPerClaim(t *testing.T) {
	srv := startOwnServer(t)
	rdb := srv.Client(contextTimeouts)
	ctx := context.Background()
	const claims, chunk = 200_000, 1000
	measure := func(write func(from, to int)) float64 {
		require.NoError(t, rdb.FlushAll(ctx).Err())
		before := usedMemory(t, rdb)
		for from := 0; from < claims; from += chunk {
			write(from, from+chunk)
		}
		require.Equal(t, int64(claims), rdb.DBSize(ctx).Val())
		return float64(usedMemory(t, rdb)-before) / claims
	}

	old := measure(func(from, to int) {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := from; i < to; i++ {
				token := "0123456789abcdef." + strconv.FormatUint(uint64(1_000_000+i), 36)
				p.SetNX(ctx, defaultKeyPrefix+trackerKey(i), token, time.Hour)
			}
			return nil
		})
		require.NoError(t, err)
	})

	d := newDeduper(t, rdb, WithTimeout(testTimeout))
	keys := make([]string, chunk)
	variants := make([]string, chunk)
	for i := range variants {
		variants[i] = "treatment"
	}
	now := measure(func(from, to int) {
		for i := from; i < to; i++ {
			keys[i-from] = trackerKey(i)
		}
		first, _, err := d.ClaimBatch(ctx, keys, variants, time.Hour)
		require.NoError(t, err)
		require.NotContains(t, first, false)
	})
	require.Zero(t, d.Stats().Fallbacks)

	t.Logf("Redis used_memory per claim over %d claims: %.1f bytes (one key per subject, experiment and variant, hex key, string token: %.1f bytes)", claims, now, old)
	assert.Less(t, now, old*0.75, "the new layout saves at least a quarter")
}

// The variants of one experiment get different tags, short names included
// (a hash whose top bits barely depend on a short input would take a move
// from "a" to "b" for a duplicate).
func TestVariantTagsDiffer(t *testing.T) {
	for _, secret := range [][]byte{nil, []byte("a secret of at least thirty-two bytes!")} {
		d := &Deduper{keySecret: secret}
		seen := map[int64]string{}
		for _, v := range []string{"a", "b", "c", "A", "B", "0", "1", "2", "on", "off", "true", "false",
			"control", "treatment", "variant-1", "variant-2", "v1", "v2", ""} {
			tag := d.variantTag(v)
			assert.GreaterOrEqual(t, tag, int64(0))
			assert.Less(t, tag, int64(1)<<tagBits)
			if other, ok := seen[tag]; ok {
				t.Errorf("secret=%v: %q and %q share tag %d", secret != nil, v, other, tag)
			}
			seen[tag] = v
			assert.Equal(t, tag, valueTag(strconv.FormatInt(claimValue(tag, 0xffffffff), 10)))
		}
	}
	assert.Equal(t, int64(-1), valueTag("0123456789abcdef.1"), "not a claim's value")
}
