package dedupetable

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/exposurekit/exposure/internal/options"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// op is one step of a scenario: advance the clock by after, then claim,
// release or ask.
type op struct {
	after time.Duration
	do    string // "claim", "release", "holds"
	key   uint64
	tag   uint16
	win   time.Duration
	// what claim reports, or (first only) what holds reports
	first, crossover bool
}

func claim(key uint64, tag uint16, win time.Duration, first, crossover bool) op {
	return op{do: "claim", key: key, tag: tag, win: win, first: first, crossover: crossover}
}

func holds(key uint64, tag uint16, want bool) op {
	return op{do: "holds", key: key, tag: tag, first: want}
}

func release(key uint64) op { return op{do: "release", key: key} }

func after(d time.Duration, o op) op { o.after = d; return o }

const (
	a, b = 0xa, 0xb // two variants' tags
	new  = true     // first
	dup  = false    // not first
	xo   = true     // crossover
)

func TestClaimSemantics(t *testing.T) {
	scenarios := []struct {
		name string
		ops  []op
	}{
		{"a first claim is first", []op{
			claim(1, a, time.Second, new, false),
		}},
		{"a second claim within the window is a duplicate", []op{
			claim(1, a, time.Second, new, false),
			after(999*time.Millisecond, claim(1, a, time.Second, dup, false)),
		}},
		{"a duplicate does not extend the window", []op{
			claim(1, a, time.Second, new, false),
			after(600*time.Millisecond, claim(1, a, time.Second, dup, false)),
			after(500*time.Millisecond, claim(1, a, time.Second, new, false)),
		}},
		{"another variant within the window is a crossover", []op{
			claim(1, a, time.Second, new, false),
			claim(1, b, time.Second, new, xo),
			holds(1, a, false),
			holds(1, b, true),
			claim(1, b, time.Second, dup, false),
			claim(1, a, time.Second, new, xo),
		}},
		{"a crossover renews the window", []op{
			claim(1, a, time.Second, new, false),
			after(900*time.Millisecond, claim(1, b, time.Second, new, xo)),
			after(900*time.Millisecond, holds(1, b, true)),
			after(200*time.Millisecond, holds(1, b, false)),
		}},
		{"another variant after the window is first, not a crossover", []op{
			claim(1, a, 30*time.Millisecond, new, false),
			after(31*time.Millisecond, claim(1, b, 30*time.Millisecond, new, false)),
		}},
		{"the same variant after the window is first again", []op{
			claim(1, a, 30*time.Millisecond, new, false),
			after(31*time.Millisecond, claim(1, a, 30*time.Millisecond, new, false)),
			claim(1, a, 30*time.Millisecond, dup, false),
		}},
		{"an entry lives its window, and at most one Resolution more", []op{
			claim(1, a, 30*time.Millisecond, new, false),
			after(30*time.Millisecond-1, holds(1, a, true)),
			after(Resolution+1, holds(1, a, false)),
		}},
		{"the smallest tag and the largest are different variants", []op{
			claim(1, 0, time.Second, new, false),
			claim(1, math.MaxUint16, time.Second, new, xo),
			claim(1, 0, time.Second, new, xo),
		}},
		{"keys are independent", []op{
			claim(1, a, time.Second, new, false),
			claim(2, a, time.Second, new, false),
			claim(2, b, time.Second, new, xo),
			holds(1, a, true),
		}},
		{"release makes the next claim first", []op{
			claim(1, a, time.Hour, new, false),
			release(1),
			holds(1, a, false),
			claim(1, a, time.Hour, new, false),
			claim(1, a, time.Hour, dup, false),
		}},
		{"release after a crossover forgets both variants", []op{
			claim(1, a, time.Hour, new, false),
			claim(1, b, time.Hour, new, xo),
			release(1),
			claim(1, a, time.Hour, new, false),
		}},
		{"release of a key not held changes nothing", []op{
			claim(1, a, time.Hour, new, false),
			release(2),
			release(2),
			claim(1, a, time.Hour, dup, false),
		}},
		{"holds does not claim", []op{
			holds(1, a, false),
			holds(1, a, false),
			claim(1, a, time.Hour, new, false),
			holds(1, a, true),
			holds(1, a, true),
		}},
		{"the key 0 is a key like any other", []op{
			holds(0, a, false),
			claim(0, a, time.Hour, new, false),
			claim(0, a, time.Hour, dup, false),
			holds(0, a, true),
			claim(0, b, time.Hour, new, xo),
			claim(1, a, time.Hour, new, false),
			release(0),
			holds(0, b, false),
			holds(1, a, true),
			claim(0, b, time.Hour, new, false),
		}},
		{"the key 0 shares its entry with zeroKey, as documented", []op{
			claim(0, a, time.Hour, new, false),
			claim(zeroKey, a, time.Hour, dup, false),
		}},
		{"the largest key is a key like any other", []op{
			claim(math.MaxUint64, a, time.Hour, new, false),
			claim(math.MaxUint64, a, time.Hour, dup, false),
			release(math.MaxUint64),
			claim(math.MaxUint64, a, time.Hour, new, false),
		}},
		{"a window that is not positive records nothing", []op{
			claim(1, a, 0, new, false),
			claim(1, a, 0, new, false),
			claim(1, a, -time.Second, new, false),
			holds(1, a, false),
		}},
		{"a window too long for the clock never ends", []op{
			claim(1, a, math.MaxInt64, new, false),
			after(100*365*24*time.Hour, holds(1, a, true)),
			claim(1, a, math.MaxInt64, dup, false),
		}},
	}
	clocks := map[string]time.Time{
		"now":         someTime,
		"before 1970": time.Date(1960, 5, 4, 3, 2, 1, 987_654_321, time.UTC),
		"at 1970":     time.Unix(0, 0),
	}
	for clockName, start := range clocks {
		for _, sc := range scenarios {
			t.Run(clockName+"/"+sc.name, func(t *testing.T) {
				clock := newFakeClock(start)
				tb, err := New(100, clock.Now)
				require.NoError(t, err)
				for i, o := range sc.ops {
					clock.Advance(o.after)
					switch o.do {
					case "claim":
						first, crossover, evicted := tb.Claim(o.key, o.tag, o.win)
						assert.Equal(t, o.first, first, "step %d: first", i)
						assert.Equal(t, o.crossover, crossover, "step %d: crossover", i)
						assert.False(t, evicted, "step %d: evicted", i)
					case "holds":
						assert.Equal(t, o.first, tb.Holds(o.key, o.tag), "step %d: holds", i)
					case "release":
						tb.Release(o.key)
					}
				}
				checkInvariants(t, tb)
			})
		}
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		now      func() time.Time
	}{
		{"zero capacity", 0, time.Now},
		{"negative capacity", -1, time.Now},
		{"nil clock", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := New(tc.capacity, tc.now)
			assert.ErrorIs(t, err, options.ErrInvalidConfig)
			assert.Nil(t, tb)
		})
	}
}

// A table holds exactly its capacity, small ones included, and forgets
// none of the entries it holds until it is full.
func TestTableHoldsExactlyItsCapacity(t *testing.T) {
	for _, capacity := range []int{1, 7, 8, 15, 16, 100, 640, 1000, 4099} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			tb, _ := newTable(t, capacity)
			total := 0
			for i := range tb.shards {
				total += tb.shards[i].capacity
				assert.GreaterOrEqual(t, tb.shards[i].capacity, min(capacity, minShardEntries))
			}
			require.Equal(t, capacity, total, "the shards share the capacity out exactly")

			// Fill shard by shard to its own capacity: every key is held.
			var held []uint64
			for key := uint64(1); len(held) < capacity; key += 0x9e3779b97f4a7c15 {
				if s := tb.shard(key); s.count < s.capacity {
					first, crossover, evicted := tb.Claim(key, a, time.Hour)
					require.True(t, first)
					require.False(t, crossover)
					require.False(t, evicted, "claim %d of %d evicted", len(held)+1, capacity)
					held = append(held, key)
				}
			}
			assert.Equal(t, capacity, tb.Len())
			for _, key := range held {
				assert.True(t, tb.Holds(key, a), "a held key is remembered")
			}
			checkInvariants(t, tb)

			// One more key, in any shard, evicts one that is live.
			first, _, evicted := tb.Claim(0x5555_5555_5555_5555, a, time.Hour)
			assert.True(t, first)
			assert.True(t, evicted)
			assert.Equal(t, capacity, tb.Len())

			// Many more keep the table at its capacity.
			rng := rand.New(rand.NewPCG(1, uint64(capacity)))
			for range 10 * capacity {
				tb.Claim(rng.Uint64(), a, time.Hour)
			}
			assert.Equal(t, capacity, tb.Len())
			checkInvariants(t, tb)
		})
	}
}

func TestEvictionReportsLiveVictimsOnly(t *testing.T) {
	tb, clock := newTable(t, 1)
	_, _, evicted := tb.Claim(1, a, time.Hour)
	assert.False(t, evicted, "the table had room")
	_, _, evicted = tb.Claim(2, a, time.Hour)
	assert.True(t, evicted, "the live key 1 was pushed out")
	assert.False(t, tb.Holds(1, a))
	_, _, evicted = tb.Claim(3, a, 30*time.Millisecond)
	assert.True(t, evicted, "the live key 2 was pushed out")
	clock.Advance(31 * time.Millisecond)
	_, _, evicted = tb.Claim(4, a, time.Hour)
	assert.False(t, evicted, "an expired key's eviction costs nothing")
	assert.True(t, tb.Holds(4, a))
	assert.Equal(t, 1, tb.Len())
}

// A full shard evicts an expired entry if it has one.
func TestEvictionPrefersAnExpiredEntry(t *testing.T) {
	for seed := range uint64(20) {
		tb, clock := newTable(t, minShardEntries) // one shard: every entry is sampled
		require.Len(t, tb.shards, 1)
		rng := rand.New(rand.NewPCG(seed, 2))
		keys := make([]uint64, minShardEntries)
		for i := range keys {
			keys[i] = rng.Uint64()
			win := time.Hour
			if i == int(seed)%len(keys) {
				win = 30 * time.Millisecond
			}
			tb.Claim(keys[i], a, win)
		}
		clock.Advance(31 * time.Millisecond)
		first, _, evicted := tb.Claim(rng.Uint64(), a, time.Hour)
		require.True(t, first)
		assert.False(t, evicted, "seed %d", seed)
		for i, key := range keys {
			if i != int(seed)%len(keys) {
				assert.True(t, tb.Holds(key, a), "seed %d: live key %d was evicted", seed, i)
			}
		}
		assert.Equal(t, minShardEntries, tb.Len())
	}
}

// Among live entries, a full shard evicts the one that expires first.
func TestEvictionPicksTheEntryExpiringFirst(t *testing.T) {
	for seed := range uint64(20) {
		tb, _ := newTable(t, minShardEntries)
		rng := rand.New(rand.NewPCG(seed, 3))
		keys := make([]uint64, minShardEntries)
		soonest := rng.IntN(len(keys))
		for i := range keys {
			keys[i] = rng.Uint64()
			win := time.Duration(2+rng.IntN(100)) * time.Minute
			if i == soonest {
				win = time.Minute
			}
			tb.Claim(keys[i], a, win)
		}
		first, _, evicted := tb.Claim(rng.Uint64(), a, time.Hour)
		require.True(t, first)
		assert.True(t, evicted)
		for i, key := range keys {
			assert.Equal(t, i != soonest, tb.Holds(key, a), "seed %d, key %d", seed, i)
		}
		checkInvariants(t, tb)
	}
}

func TestConcurrentIdenticalClaimsHaveOneWinner(t *testing.T) {
	const goroutines, keys = 8, 2000
	tb, _ := newTable(t, 100_000)
	wins := make([][keys]int, goroutines)
	var start, done sync.WaitGroup
	start.Add(1)
	for g := range goroutines {
		done.Go(func() {
			start.Wait()
			order := rand.New(rand.NewPCG(uint64(g), 4)).Perm(keys)
			for _, k := range order {
				if first, _, _ := tb.Claim(uint64(k)*0x9e3779b97f4a7c15, a, time.Hour); first {
					wins[g][k]++
				}
			}
		})
	}
	start.Done()
	done.Wait()
	for k := range keys {
		total := 0
		for g := range goroutines {
			total += wins[g][k]
		}
		assert.Equal(t, 1, total, "key %d", k)
	}
	assert.Equal(t, keys, tb.Len())
	checkInvariants(t, tb)
}

// Claims, releases and questions from many goroutines leave a sound table
// (and give the race detector something to look at).
func TestConcurrentMixedOperations(t *testing.T) {
	tb, clock := newTable(t, 200)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 5))
			for range 20_000 {
				key := rng.Uint64N(300)
				switch r := rng.IntN(10); {
				case r < 6:
					tb.Claim(key, uint16(rng.IntN(2)), time.Duration(1+rng.IntN(50))*time.Millisecond)
				case r < 8:
					tb.Holds(key, 0)
				case r < 9:
					tb.Release(key)
				default:
					clock.Advance(time.Millisecond)
					assert.LessOrEqual(t, tb.Len(), 200)
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, tb)
}

// A shard starts small and grows, keeping every entry.
func TestGrowthKeepsEveryEntry(t *testing.T) {
	const capacity = 1_000_000
	tb, clock := newTable(t, capacity)
	assert.Equal(t, maxShards*initialSlots, totalSlots(tb),
		"an empty table takes %d slots, not its full size", maxShards*initialSlots)
	n := 300_000
	if raceEnabled {
		n = 60_000
	}
	rng := rand.New(rand.NewPCG(6, 6))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = rng.Uint64()
		win := time.Hour
		if i%3 == 0 {
			win = 30 * time.Millisecond // expired ones are kept too
		}
		first, _, evicted := tb.Claim(keys[i], uint16(i), win)
		require.True(t, first)
		require.False(t, evicted)
	}
	assert.Equal(t, n, tb.Len())
	assert.Greater(t, totalSlots(tb), n)
	checkInvariants(t, tb)
	for i, key := range keys {
		if !assert.True(t, tb.Holds(key, uint16(i)), "key %d", i) {
			break
		}
	}
	clock.Advance(31 * time.Millisecond)
	for i, key := range keys {
		if !assert.Equal(t, i%3 != 0, tb.Holds(key, uint16(i)), "key %d", i) {
			break
		}
	}
}

// Fully grown, a shard has its capacity at a load of 7/8 at most, and
// never more slots than that.
func TestFullSize(t *testing.T) {
	for capacity := 1; capacity < 100_000; capacity = capacity*3 + 1 {
		n := fullSize(capacity)
		assert.GreaterOrEqual(t, n*loadNum, capacity*loadDen, "capacity %d", capacity)
		assert.Less(t, (n-1)*loadNum, capacity*loadDen, "capacity %d", capacity)
		assert.Greater(t, n, capacity, "capacity %d: a full shard keeps an empty slot", capacity)
	}
}

// An expired entry on a new key's probe path is reused in place: the table
// does not grow for it.
func TestExpiredEntriesAreReused(t *testing.T) {
	tb, clock := newTable(t, minShardEntries)
	for key := range uint64(minShardEntries) {
		tb.Claim(key+1, a, 30*time.Millisecond)
	}
	require.Equal(t, minShardEntries, tb.Len())
	clock.Advance(31 * time.Millisecond)
	for key := range uint64(minShardEntries) {
		first, _, evicted := tb.Claim(key+100, a, time.Hour)
		require.True(t, first)
		require.False(t, evicted)
		assert.LessOrEqual(t, tb.Len(), minShardEntries)
	}
	for key := range uint64(minShardEntries) {
		assert.True(t, tb.Holds(key+100, a))
	}
	checkInvariants(t, tb)
}

// An entry ends at its expiry: live one nanosecond before, not at it.
func TestEntryEndsAtItsExpiry(t *testing.T) {
	clock := newFakeClock(time.Unix(0, 0).Add(1000 * Resolution)) // a multiple of Resolution
	tb, err := New(10, clock.Now)
	require.NoError(t, err)
	tb.Claim(1, a, 100*Resolution) // ends exactly then: no rounding
	clock.Advance(100*Resolution - 1)
	assert.True(t, tb.Holds(1, a))
	first, _, _ := tb.Claim(1, a, time.Hour)
	assert.False(t, first)
	clock.Advance(1)
	assert.False(t, tb.Holds(1, a))
	first, crossover, _ := tb.Claim(1, b, time.Hour)
	assert.True(t, first)
	assert.False(t, crossover, "the entry of a had ended")
}
