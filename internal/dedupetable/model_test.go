package dedupetable

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// model is the reference a Table is checked against: a map with no bound,
// no hashing and no layout, only the documented semantics.
type model map[uint64]modelEntry

type modelEntry struct {
	tag uint16
	exp time.Time // the end of the window, rounded up to a Resolution
}

// roundUp returns the expiry of a claim at now for window: the first time
// at or after now+window whose Unix nanoseconds are a multiple of
// Resolution.
func roundUp(now time.Time, window time.Duration) time.Time {
	end := now.Add(window)
	ns := end.UnixNano()
	r := ns % int64(Resolution)
	if r < 0 {
		r += int64(Resolution)
	}
	if r != 0 {
		end = end.Add(Resolution - time.Duration(r))
	}
	return end
}

func (m model) holds(key uint64, tag uint16, now time.Time) bool {
	e, ok := m[key]
	return ok && e.exp.After(now) && e.tag == tag
}

func (m model) live(key uint64, now time.Time) (modelEntry, bool) {
	e, ok := m[key]
	return e, ok && e.exp.After(now)
}

// claim returns what a Claim should report, evictions aside, and records it.
func (m model) claim(key uint64, tag uint16, window time.Duration, now time.Time) (first, crossover bool) {
	e, ok := m.live(key, now)
	if ok && e.tag == tag {
		return false, false
	}
	m[key] = modelEntry{tag: tag, exp: roundUp(now, window)}
	return true, ok
}

// counts returns the entries of the model that are live, and all of them.
func (m model) counts(now time.Time) (live, total int) {
	for _, e := range m {
		if e.exp.After(now) {
			live++
		}
	}
	return live, len(m)
}

// randomOps drives tb and m with the same random operations on keys, and
// calls check after each, with a description of the operation.
type driver struct {
	rng   *rand.Rand
	keys  []uint64
	tb    *Table
	clock *fakeClock
	m     model
}

var (
	modelWindows  = []time.Duration{1, Resolution, 30 * time.Millisecond, 100 * time.Millisecond, time.Second, time.Hour}
	modelAdvances = []time.Duration{1, time.Microsecond, Resolution - 1, Resolution, 10 * time.Millisecond, 30 * time.Millisecond, time.Second}
)

func newDriver(t *testing.T, seed uint64, capacity, nkeys int) *driver {
	rng := rand.New(rand.NewPCG(seed, 7))
	tb, clock := newTable(t, capacity)
	keys := []uint64{0, 1, 2, 3, 1 << 63, 1<<63 + 1, ^uint64(0)}
	for len(keys) < nkeys {
		keys = append(keys, rng.Uint64())
	}
	return &driver{rng: rng, keys: keys[:nkeys], tb: tb, clock: clock, m: model{}}
}

// Without eviction, a table answers every operation as the model does.
func TestTableMatchesModel(t *testing.T) {
	for _, tc := range []struct{ capacity, keys int }{
		{1, 1},
		{8, 8},     // one shard, full: every probe path wraps around
		{15, 15},   // the largest single shard
		{1000, 60}, // many shards: no shard gets more than its 15
	} {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("capacity %d, %d keys, seed %d", tc.capacity, tc.keys, seed), func(t *testing.T) {
				d := newDriver(t, seed, tc.capacity, tc.keys)
				for step := range modelSteps() {
					key := d.keys[d.rng.IntN(len(d.keys))]
					tag := uint16(d.rng.IntN(3))
					now := d.clock.Now()
					var what string
					switch r := d.rng.IntN(20); {
					case r < 11:
						win := modelWindows[d.rng.IntN(len(modelWindows))]
						what = fmt.Sprintf("claim(%#x, %d, %v)", key, tag, win)
						first, crossover, evicted := d.tb.Claim(key, tag, win)
						wantFirst, wantCrossover := d.m.claim(key, tag, win, now)
						require.Equal(t, wantFirst, first, "step %d: %s: first", step, what)
						require.Equal(t, wantCrossover, crossover, "step %d: %s: crossover", step, what)
						require.False(t, evicted, "step %d: %s: evicted", step, what)
					case r < 14:
						what = fmt.Sprintf("holds(%#x, %d)", key, tag)
						require.Equal(t, d.m.holds(key, tag, now), d.tb.Holds(key, tag), "step %d: %s", step, what)
					case r < 16:
						what = fmt.Sprintf("release(%#x)", key)
						d.tb.Release(key)
						delete(d.m, key)
					default:
						adv := modelAdvances[d.rng.IntN(len(modelAdvances))]
						what = fmt.Sprintf("advance(%v)", adv)
						d.clock.Advance(adv)
						now = d.clock.Now()
					}
					// Every key and tag answers as in the model.
					for _, k := range d.keys {
						for tag := range uint16(3) {
							require.Equal(t, d.m.holds(k, tag, now), d.tb.Holds(k, tag),
								"step %d, after %s: holds(%#x, %d)", step, what, k, tag)
						}
					}
					// Expired entries may have been reused, so the table holds
					// at least the live entries and at most all the model's.
					live, total := d.m.counts(now)
					n := d.tb.Len()
					require.True(t, live <= n && n <= total,
						"step %d, after %s: Len %d, model %d live of %d", step, what, n, live, total)
					require.NoError(t, shardInvariantsAll(d.tb), "step %d, after %s", step, what)
				}
			})
		}
	}
}

// With eviction, a table holds a subset of the model's live entries, and
// loses a live one exactly when a claim reports an eviction.
func TestTableWithEvictionMatchesModel(t *testing.T) {
	for _, tc := range []struct{ capacity, keys int }{
		{1, 4},
		{5, 40},
		{12, 64},
		{40, 200}, // four shards
	} {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("capacity %d, %d keys, seed %d", tc.capacity, tc.keys, seed), func(t *testing.T) {
				d := newDriver(t, seed, tc.capacity, tc.keys)
				// lost counts the keys, other than skip, that the model has
				// live and the table no longer holds.
				lost := func(skip uint64, now time.Time) int {
					n := 0
					for _, k := range d.keys {
						if e, ok := d.m.live(k, now); ok && k != skip && !d.tb.Holds(k, e.tag) {
							n++
						}
					}
					return n
				}
				evictions := 0
				for step := range modelSteps() {
					key := d.keys[d.rng.IntN(len(d.keys))]
					tag := uint16(d.rng.IntN(3))
					now := d.clock.Now()
					var what string
					switch r := d.rng.IntN(20); {
					case r < 14:
						win := modelWindows[d.rng.IntN(len(modelWindows))]
						what = fmt.Sprintf("claim(%#x, %d, %v)", key, tag, win)
						e, wasLive := d.m.live(key, now)
						held := wasLive && d.tb.Holds(key, e.tag)
						lostBefore := lost(key, now)
						first, crossover, evicted := d.tb.Claim(key, tag, win)
						wantFirst, wantCrossover := d.m.claim(key, tag, win, now)
						if held {
							require.Equal(t, wantFirst, first, "step %d: %s: first", step, what)
							require.Equal(t, wantCrossover, crossover, "step %d: %s: crossover", step, what)
						} else {
							// Evicted earlier: the table no longer knows, claims
							// afresh, and the model follows.
							require.True(t, first, "step %d: %s: first", step, what)
							require.False(t, crossover, "step %d: %s: crossover", step, what)
							d.m[key] = modelEntry{tag: tag, exp: roundUp(now, win)}
						}
						require.True(t, d.tb.Holds(key, tag), "step %d: %s: held after the claim", step, what)
						wantLost := lostBefore
						if evicted {
							wantLost++
							evictions++
						}
						require.Equal(t, wantLost, lost(key, now), "step %d: %s (evicted %v): live keys lost", step, what, evicted)
					case r < 16:
						what = fmt.Sprintf("release(%#x)", key)
						d.tb.Release(key)
						delete(d.m, key)
					default:
						adv := modelAdvances[d.rng.IntN(len(modelAdvances))]
						what = fmt.Sprintf("advance(%v)", adv)
						d.clock.Advance(adv)
						now = d.clock.Now()
					}
					// The table holds nothing the model does not.
					for _, k := range d.keys {
						for tag := range uint16(3) {
							if d.tb.Holds(k, tag) {
								require.True(t, d.m.holds(k, tag, now), "step %d, after %s: holds(%#x, %d)", step, what, k, tag)
							}
						}
					}
					require.LessOrEqual(t, d.tb.Len(), tc.capacity, "step %d, after %s", step, what)
					require.NoError(t, shardInvariantsAll(d.tb), "step %d, after %s", step, what)
				}
				require.Positive(t, evictions, "the scenario evicts live entries")
			})
		}
	}
}

// modelSteps is the length of a random run: shorter under the race
// detector, where each step costs ten times as much.
func modelSteps() int {
	if raceEnabled {
		return 500
	}
	return 3000
}

func shardInvariantsAll(tb *Table) error {
	for si := range tb.shards {
		if err := shardInvariants(tb, si); err != nil {
			return fmt.Errorf("shard %d: %w", si, err)
		}
	}
	return nil
}
