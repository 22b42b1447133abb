package dedupetable

import (
	"fmt"
	"time"

	"github.com/exposurekit/exposure/internal/options"
)

// Sharding: a key's top bits pick its shard. There are at most maxShards,
// and each holds at least minShardEntries, so that a small table does not
// forget a recent key because its shard holds one or two.
const (
	maxShards       = 64
	minShardEntries = 8
)

// zeroKey is where the key 0 is stored, since 0 marks an empty slot.
const zeroKey = 0xd6e8feb86659fd93

// Table is a bounded set of claims, each a key, a tag and an expiry. It
// never holds more entries than its capacity, and is safe for concurrent
// use: each shard has its own mutex, and every method takes one.
type Table struct {
	now    func() time.Time
	shift  uint // a key's shard is key >> shift
	shards []shard
}

// New returns a table holding at most capacity entries, reading the time
// from now. It fails with an error wrapping [options.ErrInvalidConfig]
// when capacity is not positive or now is nil.
//
// Memory grows with the entries held: about 20 KB at first, about 18.3
// bytes an entry when full.
func New(capacity int, now func() time.Time) (*Table, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("%w: dedupetable.New: capacity must be positive, got %d", options.ErrInvalidConfig, capacity)
	}
	if now == nil {
		return nil, fmt.Errorf("%w: dedupetable.New: the clock is nil", options.ErrInvalidConfig)
	}
	n, bits := 1, uint(0)
	for n*2 <= maxShards && capacity/(n*2) >= minShardEntries {
		n, bits = n*2, bits+1
	}
	t := &Table{now: now, shift: 64 - bits, shards: make([]shard, n)}
	// The capacity is shared out exactly: the first capacity%n shards
	// hold one entry more.
	for i := range t.shards {
		c := capacity / n
		if i < capacity%n {
			c++
		}
		t.shards[i].init(c)
	}
	return t, nil
}

// shard returns the shard of key, which must not be 0.
func (t *Table) shard(key uint64) *shard {
	return &t.shards[key>>t.shift] // a shift of 64 gives 0: one shard
}

// Claim records (key, tag) for window in key's one entry, with no record
// of the variants sent before: the table's primitive, which its model
// tests drive (the in-memory deduper uses [Table.ClaimVariant], built on
// the same lookup and insertion). It reports what it found:
//
//   - first: no live entry of key had this tag, so the exposure is new and
//     must be sent. Otherwise (a live entry with the same tag) Claim
//     changes nothing.
//   - crossover: a live entry of key had a different tag: its subject saw
//     another variant within the window. The entry now holds the new tag
//     and a new expiry. A crossover is also first.
//   - evicted: recording key pushed out another entry whose window had
//     not ended, so its subject may be exposed again.
//
// Exactly one of concurrent identical claims is first. A window that is
// not positive records nothing and reports first: there is nothing to
// deduplicate against. The key 0 shares its entry with the key
// 0xd6e8feb86659fd93.
func (t *Table) Claim(key uint64, tag uint16, window time.Duration) (first, crossover, evicted bool) {
	if window <= 0 {
		return true, false, false
	}
	if key == 0 {
		key = zeroKey
	}
	now := instant(t.now())
	word := makeWord(now, window, tag)
	s := t.shard(key)
	s.mu.Lock()
	first, crossover, evicted = s.claim(key, word, now)
	s.mu.Unlock()
	return first, crossover, evicted
}

// Release forgets key, whatever its tag, so that its next claim is first.
func (t *Table) Release(key uint64) {
	if key == 0 {
		key = zeroKey
	}
	s := t.shard(key)
	s.mu.Lock()
	if i := s.find(key); i >= 0 {
		s.remove(i)
	}
	s.mu.Unlock()
}

// Holds reports whether key has a live entry with tag, without claiming
// it: whether Claim(key, tag, …) would now report a duplicate.
func (t *Table) Holds(key uint64, tag uint16) bool {
	if key == 0 {
		key = zeroKey
	}
	now := instant(t.now())
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(key)
	return i >= 0 && live(s.slots[i].word, now) && tagOf(s.slots[i].word) == tag
}

// Len returns the number of entries held, expired ones included until
// they are reused, evicted or released.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.count
		s.mu.Unlock()
	}
	return n
}
