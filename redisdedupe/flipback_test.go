package redisdedupe

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A subject who flips between variants within the window (two beacon
// tokens replayed alternately, or targeting that flips) is sent each
// variant once; every change is still a crossover. Whether the claims come
// one at a time, from two instances in turn, or in one batch.
func TestFlipBackIsNotSentAgain(t *testing.T) {
	sharedClient(t) // skips without REDIS_URL
	variants := []string{"a", "b", "a", "b", "a", "c", "a", "c"}
	wantFirst := []bool{true, true, false, false, false, true, false, false}
	wantCrossover := []bool{false, true, true, true, true, true, true, true}

	tests := []struct {
		name      string
		instances int
		batch     bool
	}{
		{"one instance", 1, false},
		{"two instances in turn", 2, false},
		{"one batch", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := testPrefix(t)
			var ds []*Deduper
			for range tt.instances {
				ds = append(ds, newDeduper(t, sharedClient(t), WithKeyPrefix(prefix), WithTimeout(testTimeout)))
			}
			ctx := context.Background()
			first := make([]bool, len(variants))
			crossover := make([]bool, len(variants))
			if tt.batch {
				keys := make([]string, len(variants))
				for i := range keys {
					keys[i] = "flipper"
				}
				var err error
				first, crossover, err = ds[0].ClaimBatch(ctx, keys, variants, time.Hour)
				require.NoError(t, err)
			} else {
				for i, v := range variants {
					f, c, err := ds[i%len(ds)].Claim(ctx, "flipper", v, time.Hour)
					require.NoError(t, err)
					first[i], crossover[i] = f, c
				}
			}
			assert.Equal(t, wantFirst, first, "sent")
			assert.Equal(t, wantCrossover, crossover, "crossovers")
			assert.Equal(t, 3, count(first), "a, b and c sent once each")
			assert.Equal(t, 7, count(crossover), "every change counted")
			for i, d := range ds {
				assert.Zero(t, d.Stats().Fallbacks, "instance %d fell back", i)
			}
		})
	}

	// The brief's case, on its own: A, B, A, B is sent twice and counted as
	// three crossovers.
	d := newDeduper(t, sharedClient(t), WithKeyPrefix(testPrefix(t)), WithTimeout(testTimeout))
	var sent, crossed int
	for _, v := range []string{"A", "B", "A", "B"} {
		f, c, err := d.Claim(context.Background(), "s", v, time.Hour)
		require.NoError(t, err)
		if f {
			sent++
		}
		if c {
			crossed++
		}
	}
	assert.Equal(t, 2, sent)
	assert.Equal(t, 3, crossed)
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// The variants exposed before are remembered with the key, until the
// latest change's window ends: a move back starts a new window too, and
// when the key expires all of them are forgotten.
func TestFlipBackWindow(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	key := redisKey(prefix, "k")
	for _, v := range []string{"a", "b"} {
		first, _, err := d.Claim(ctx, "k", v, time.Hour)
		require.NoError(t, err)
		require.True(t, first)
	}
	first, crossover, err := d.Claim(ctx, "k", "a", 2*time.Hour)
	require.NoError(t, err)
	require.False(t, first)
	require.True(t, crossover)
	assert.Greater(t, rdb.PTTL(ctx, key).Val(), 110*time.Minute, "a move back starts a new window")

	require.NoError(t, rdb.PExpire(ctx, key, time.Millisecond).Err())
	require.Eventually(t, func() bool { return rdb.Exists(ctx, key).Val() == 0 }, 5*time.Second, time.Millisecond)
	for _, v := range []string{"b", "a"} {
		first, _, err := d.Claim(ctx, "k", v, time.Hour)
		require.NoError(t, err)
		assert.True(t, first, "%s forgotten with the key", v)
	}
}

// A flip-flopper among more variants than a key lists cannot grow it: the
// oldest are forgotten (and sent again), the recent ones are not.
func TestFlipFlopperCannotGrowAKey(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	key := redisKey(prefix, "k")
	const n = 3 * seenCap
	for i := range n {
		first, _, err := d.Claim(ctx, "k", "v"+strconv.Itoa(i), time.Hour)
		require.NoError(t, err)
		require.True(t, first, "v%d is new", i)
		assert.LessOrEqual(t, len(exposedTags(rdb.Get(ctx, key).Val())), seenCap+1, "after v%d", i)
	}
	value := rdb.Get(ctx, key).Val()
	t.Logf("a key after %d variants: %d bytes of value", n, len(value))
	assert.LessOrEqual(t, len(value), 16+1+seenCap*8)

	tests := []struct {
		variant          string
		first, crossover bool
	}{
		{"v" + strconv.Itoa(n-1), false, false},        // the current one
		{"v" + strconv.Itoa(n-1-seenCap), false, true}, // the oldest listed
		{"v" + strconv.Itoa(n-2), false, true},         // listed
		{"v0", true, true},                             // forgotten
		{"v" + strconv.Itoa(n-2), false, true},         // still listed
		{"v" + strconv.Itoa(n-1-seenCap), false, true}, // still listed
	}
	for _, tt := range tests {
		first, crossover, err := d.Claim(ctx, "k", tt.variant, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, tt.first, first, "%s: first", tt.variant)
		assert.Equal(t, tt.crossover, crossover, "%s: crossover", tt.variant)
		assert.LessOrEqual(t, len(exposedTags(rdb.Get(ctx, key).Val())), seenCap+1)
	}
}

// Instances flip the same subjects among three variants at once, with
// Claim and ClaimBatch (keys repeated in a batch) mixed: each (subject,
// variant) is sent by exactly one claim.
func TestFlipBackExactlyOneFirstPerVariant(t *testing.T) {
	sharedClient(t) // skips without REDIS_URL
	prefix := testPrefix(t)
	var instances []*Deduper
	for range 3 {
		instances = append(instances, newDeduper(t, sharedClient(t), WithKeyPrefix(prefix), WithTimeout(10*time.Second)))
	}
	ctx := context.Background()
	const subjects, workers, rounds = 50, 12, 40
	variants := []string{"a", "b", "c"}
	var wins [subjects][3]atomic.Int64
	var crossovers atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			d := instances[w%len(instances)]
			for range rounds {
				n := 1 + rng.IntN(6)
				keys, vs, idx := make([]string, n), make([]string, n), make([]int, n)
				for i := range n {
					s, v := rng.IntN(subjects), rng.IntN(3)
					keys[i], vs[i], idx[i] = strconv.Itoa(s), variants[v], s*3+v
				}
				var first, crossover []bool
				if w%2 == 0 {
					var err error
					first, crossover, err = d.ClaimBatch(ctx, keys, vs, time.Hour)
					assert.NoError(t, err)
				} else {
					for i := range n {
						f, c, err := d.Claim(ctx, keys[i], vs[i], time.Hour)
						assert.NoError(t, err)
						first, crossover = append(first, f), append(crossover, c)
					}
				}
				for i := range n {
					if first[i] {
						wins[idx[i]/3][idx[i]%3].Add(1)
					}
					if crossover[i] {
						crossovers.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	claimed := 0
	for s := range wins {
		for v := range wins[s] {
			if n := wins[s][v].Load(); n > 0 {
				claimed++
				assert.Equal(t, int64(1), n, "subject %d, variant %s: sent %d times", s, variants[v], n)
			}
		}
	}
	require.Greater(t, claimed, subjects*2, "most (subject, variant) pairs were claimed")
	assert.Positive(t, crossovers.Load())
	t.Logf("%d (subject, variant) pairs sent once each; %d crossovers", claimed, crossovers.Load())
	for i, d := range instances {
		assert.Zero(t, d.Stats().Fallbacks, "instance %d fell back", i)
	}
}

// A crossover whose answer was lost, from a key in the string form, is
// recognized by the retry as this call's, whether it was sent or a move
// back; a batch that moved one key several times answers each move.
func TestFlipBackRetryRecognizesItsLostAnswer(t *testing.T) {
	tests := []struct {
		name             string
		before           []string // the key's variants before, one claim each
		variants         []string // the lost batch, all of key k
		first, crossover []bool
	}{
		{"back to a variant exposed", []string{"a", "b"}, []string{"a"}, []bool{false}, []bool{true}},
		{"on to a new variant", []string{"a", "b"}, []string{"c"}, []bool{true}, []bool{true}},
		{"a batch moving the key three times", []string{"a"}, []string{"b", "a", "c"},
			[]bool{true, false, true}, []bool{true, true, true}},
		{"a batch moving the key back last", []string{"a"}, []string{"b", "a"},
			[]bool{true, false}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb := sharedClient(t, contextTimeouts)
			prefix := testPrefix(t)
			d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(200*time.Millisecond), WithRetries(1),
				WithLogger(slog.New(slog.DiscardHandler)))
			ctx := context.Background()
			for _, v := range tt.before {
				first, _, err := d.Claim(ctx, "k", v, time.Hour)
				require.NoError(t, err)
				require.True(t, first, "%s before", v)
			}

			rdb.AddHook(&answerLoser{key: redisKey(prefix, "k"), cmd: "eval"})
			keys := make([]string, len(tt.variants))
			for i := range keys {
				keys[i] = "k"
			}
			first, crossover, err := d.ClaimBatch(ctx, keys, tt.variants, time.Hour)
			require.NoError(t, err)
			st := d.Stats()
			require.Equal(t, int64(1), st.Timeouts, "the lost answer")
			assert.Equal(t, int64(1), st.Retries)
			assert.Zero(t, st.Fallbacks)
			assert.Equal(t, tt.first, first, "first")
			assert.Equal(t, tt.crossover, crossover, "crossover")

			last := tt.variants[len(tt.variants)-1]
			first1, crossover1, _ := d.Claim(ctx, "k", last, time.Hour)
			assert.False(t, first1, "moved once")
			assert.False(t, crossover1)
		})
	}
}

// The value forms: an integer until the key crosses over, then the
// integer and the tags exposed before.
func TestValueForms(t *testing.T) {
	v := claimValue(5, 0xdeadbeef)
	tests := []struct {
		value   string
		tag     int64
		exposed []int64
	}{
		{strconv.FormatInt(v, 10), 5, []int64{5}},
		{fmt.Sprintf("%d|7,9", v), 5, []int64{5, 7, 9}},
		{fmt.Sprintf("%d|5,7", v), 5, []int64{5, 7}}, // a move back: listed too
		{fmt.Sprintf("%d|", v), 5, []int64{5}},
		{"0123456789abcdef.1", -1, nil},       // not a claim's value
		{"x|7,junk,99999999", -1, []int64{7}}, // tags out of range skipped
		{strconv.FormatInt(1<<53, 10), -1, nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.tag, valueTag(tt.value), "%q: tag", tt.value)
		assert.Equal(t, tt.exposed, exposedTags(tt.value), "%q: exposed", tt.value)
	}
	// Every claim of a call has its own nonce, never the backfill's.
	seen := map[uint32]bool{0xabc ^ 1: true}
	for i := range 1000 {
		n := claimNonce(0xabc, i)
		assert.False(t, seen[n], "claim %d", i)
		seen[n] = true
	}
}

// A subject that crossed over during an outage is backfilled holding its
// latest variant and listing the earlier one: another instance does not
// send either again.
func TestBackfillListsTheVariantsOfTheOutage(t *testing.T) {
	srv := startOwnServer(t)
	clock := &fakeClock{t: time.Now()}
	prefix := testPrefix(t)
	quiet := WithLogger(slog.New(slog.DiscardHandler))
	da := newDeduper(t, srv.Client(), WithKeyPrefix(prefix), WithTimeout(testTimeout), WithCooldown(time.Second), quiet)
	da.now = clock.Now
	db := newDeduper(t, srv.Client(), WithKeyPrefix(prefix), WithTimeout(testTimeout), quiet)
	ctx := context.Background()

	srv.Stop()
	first, crossover, err := da.ClaimBatch(ctx, []string{"k", "k", "other"}, []string{"a", "b", "a"}, time.Hour)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true}, first, "granted by the fallback")
	require.Equal(t, []bool{false, true, false}, crossover)
	require.True(t, da.Stats().Down)

	srv.Start()
	clock.Advance(time.Second)
	after, _, err := da.Claim(ctx, "after", "a", time.Hour)
	require.NoError(t, err)
	require.True(t, after)
	require.Equal(t, int64(2), da.Stats().Backfilled)
	value := srv.Client().Get(ctx, redisKey(prefix, "k")).Val()
	assert.Equal(t, []int64{da.variantTag("b"), da.variantTag("a")}, exposedTags(value), "holds b, lists a")

	tests := []struct {
		variant          string
		first, crossover bool
	}{
		{"b", false, false},
		{"a", false, true},
		{"b", false, true},
		{"c", true, true},
	}
	for _, tt := range tests {
		first, crossover, err := db.Claim(ctx, "k", tt.variant, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, tt.first, first, "%s: first", tt.variant)
		assert.Equal(t, tt.crossover, crossover, "%s: crossover", tt.variant)
	}
}

// Claims of one key granted during an outage merge into one backfill entry:
// the latest holds the key, the earlier ones are listed, at most seenCap.
func TestMergeBackfill(t *testing.T) {
	at := time.Now()
	e := func(tag int64, seen ...int64) backfillEntry {
		return backfillEntry{end: at.Add(time.Duration(tag) * time.Minute), tag: tag, seen: seen}
	}
	tests := []struct {
		name           string
		earlier, later backfillEntry
		want           []int64
	}{
		{"a new variant", e(1), e(2), []int64{1}},
		{"a chain", e(2, 1), e(3), []int64{1, 2}},
		{"back to a listed one", e(2, 1), e(1), []int64{2}},
		{"later listed its own", e(3, 1), e(4, 2), []int64{1, 3, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeBackfill(tt.earlier, tt.later)
			assert.Equal(t, tt.later.tag, got.tag)
			assert.Equal(t, tt.want, got.seen)
			wantEnd := tt.later.end
			if tt.earlier.end.After(wantEnd) {
				wantEnd = tt.earlier.end
			}
			assert.Equal(t, wantEnd, got.end, "the later of the two ends")
		})
	}
	long := e(0)
	for tag := int64(1); tag <= 3*seenCap; tag++ {
		long = mergeBackfill(long, e(tag))
	}
	assert.Len(t, long.seen, seenCap, "bounded")
	assert.Equal(t, int64(3*seenCap-1), long.seen[seenCap-1], "the latest kept")
}
