package redisdedupe

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A crossover whose exposure could not be queued is released: the key goes
// back to the variant sent before, with what was left of its window, so
// that variant is not sent again.
func TestReleaseOfCrossoverRestoresTheVariantSentBefore(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	const window = time.Hour
	key := redisKey(prefix, "k")

	f, _, err := d.Claim(ctx, "k", "control", window)
	require.NoError(t, err)
	require.True(t, f, "control sent")
	before, err := rdb.Get(ctx, key).Result()
	require.NoError(t, err)
	require.NoError(t, rdb.PExpire(ctx, key, 30*time.Minute).Err(), "half of control's window is gone")

	f, c, err := d.Claim(ctx, "k", "treatment", window)
	require.NoError(t, err)
	require.True(t, f && c, "treatment: a crossover, first")
	require.NoError(t, d.Release(ctx, "k")) // treatment's queue was full

	after, err := rdb.Get(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, before, after, "the key holds control's claim again")
	ttl, err := rdb.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.LessOrEqual(t, ttl, 30*time.Minute, "with what was left of control's window, not a new one")
	assert.Greater(t, ttl, 29*time.Minute)

	f, _, err = d.Claim(ctx, "k", "control", window)
	require.NoError(t, err)
	assert.False(t, f, "control was sent within the window: must not be first again")
	f, c, err = d.Claim(ctx, "k", "treatment", window)
	require.NoError(t, err)
	assert.True(t, f && c, "treatment was released: sent at its next render")
}

// Two instances: A claims control, B moves the subject to treatment (sent),
// A's queue was full and it releases its claim: B's claim stays.
func TestReleaseLeavesAnotherInstancesClaim(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	a := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	b := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	const window = time.Hour

	f, _, err := a.Claim(ctx, "k", "control", window)
	require.NoError(t, err)
	require.True(t, f)
	f, c, err := b.Claim(ctx, "k", "treatment", window)
	require.NoError(t, err)
	require.True(t, f && c, "B sends treatment")
	held, err := rdb.Get(ctx, redisKey(prefix, "k")).Result()
	require.NoError(t, err)
	require.NoError(t, a.Release(ctx, "k")) // A could not queue control

	now, err := rdb.Get(ctx, redisKey(prefix, "k")).Result()
	require.NoError(t, err)
	assert.Equal(t, held, now, "B's claim is untouched")
	f, _, err = b.Claim(ctx, "k", "treatment", window)
	require.NoError(t, err)
	assert.False(t, f, "treatment was sent by B within the window: must not be first again")
}

// Release undoes only what this Deduper's claim wrote, for each way a
// claim writes a key.
func TestReleaseUndoesOwnClaim(t *testing.T) {
	const window = time.Hour
	for _, tc := range []struct {
		name   string
		claims []string // variants claimed in turn by this Deduper; the last is released
		exists bool     // the key exists after the Release
		first  string   // a variant that is first after the Release
		dup    string   // a variant that is a duplicate (or crossover, not sent) after it
	}{
		{name: "first claim: deleted", claims: []string{"a"}, exists: false, first: "a"},
		{name: "duplicate: the first claim is undone", claims: []string{"a", "a"}, exists: false, first: "a"},
		{name: "crossover: restored", claims: []string{"a", "b"}, exists: true, first: "b", dup: "a"},
		{name: "second crossover: restored", claims: []string{"a", "b", "c"}, exists: true, first: "c", dup: "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := sharedClient(t)
			prefix := testPrefix(t)
			d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
			ctx := context.Background()
			for _, v := range tc.claims {
				_, _, err := d.Claim(ctx, "k", v, window)
				require.NoError(t, err)
			}
			require.NoError(t, d.Release(ctx, "k"))
			n, err := rdb.Exists(ctx, redisKey(prefix, "k")).Result()
			require.NoError(t, err)
			assert.Equal(t, tc.exists, n == 1, "the key exists after the Release")
			if tc.dup != "" {
				f, _, err := d.Claim(ctx, "k", tc.dup, window)
				require.NoError(t, err)
				assert.False(t, f, "%s was sent before the released claim", tc.dup)
			}
			f, _, err := d.Claim(ctx, "k", tc.first, window)
			require.NoError(t, err)
			assert.True(t, f, "%s is sent at its next render", tc.first)
		})
	}
}

// Two claims of one key in one ClaimBatch are undone together: the key is
// put back as the batch found it.
func TestReleaseOfBatchWithRepeatedKey(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	ctx := context.Background()
	const window = time.Hour

	f, _, err := d.Claim(ctx, "k", "a", window)
	require.NoError(t, err)
	require.True(t, f)
	held, err := rdb.Get(ctx, redisKey(prefix, "k")).Result()
	require.NoError(t, err)
	first, crossover, err := d.ClaimBatch(ctx, []string{"k", "k"}, []string{"b", "c"}, window)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true}, first)
	require.Equal(t, []bool{true, true}, crossover)
	require.NoError(t, d.Release(ctx, "k"))
	now, err := rdb.Get(ctx, redisKey(prefix, "k")).Result()
	require.NoError(t, err)
	assert.Equal(t, held, now, "the key holds a's claim again")
}

// A claim whose record was settled (forgotten) is left in Redis by
// Release: its exposure waits for the window (a loss, never a repeat).
func TestReleaseAfterRecordSettled(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	clock := &fakeClock{t: time.Now()}
	d.now = clock.Now
	ctx := context.Background()

	f, _, err := d.Claim(ctx, "k", "a", time.Hour)
	require.NoError(t, err)
	require.True(t, f)
	clock.Advance(releaseHorizon)
	require.NoError(t, d.Release(ctx, "k"))
	n, err := rdb.Exists(ctx, redisKey(prefix, "k")).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "a settled claim stays")
}

// The records of claims are bounded in number and freed once settled.
func TestReleaseRecordsBoundedAndFreed(t *testing.T) {
	rdb := sharedClient(t)
	prefix := testPrefix(t)
	d := newDeduper(t, rdb, WithKeyPrefix(prefix), WithTimeout(testTimeout))
	clock := &fakeClock{t: time.Now()}
	d.now = clock.Now
	d.records.max = 100
	ctx := context.Background()

	keys := make([]string, 250)
	variants := make([]string, len(keys))
	for i := range keys {
		keys[i], variants[i] = fmt.Sprint("k", i), "a"
	}
	first, _, err := d.ClaimBatch(ctx, keys, variants, time.Hour)
	require.NoError(t, err)
	require.Equal(t, len(keys), count(first))
	records, slots := d.records.size()
	assert.Equal(t, 100, records, "at most max records")
	assert.LessOrEqual(t, slots, 100)

	// The oldest were forgotten: their Release leaves the key; the latest
	// is still undone.
	require.NoError(t, d.Release(ctx, "k0"))
	require.NoError(t, d.Release(ctx, "k249"))
	n, err := rdb.Exists(ctx, redisKey(prefix, "k0"), redisKey(prefix, "k249")).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "k0 stays (settled), k249 is deleted")

	// A window shorter than the horizon settles them sooner.
	clock.Advance(time.Second)
	_, _, err = d.Claim(ctx, "short", "a", time.Second)
	require.NoError(t, err)
	clock.Advance(releaseHorizon)
	require.NoError(t, d.Release(ctx, "unclaimed"))
	records, slots = d.records.size()
	assert.Zero(t, records, "every record settled")
	assert.Zero(t, slots, "and their memory freed")
}
