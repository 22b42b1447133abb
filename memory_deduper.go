package exposure

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// defaultDedupeCapacity is the number of keys the Tracker's own
// memoryDeduper holds.
const defaultDedupeCapacity = 1_000_000

// maxMemoryShards bounds the shards of a memoryDeduper; each shard holds
// at least minShardKeys keys, so that a small deduper does not forget a
// recent key because its shard holds one or two.
const (
	maxMemoryShards = 64
	minShardKeys    = 8
)

// memoryDeduper is the default Deduper: in process, bounded, with a TTL.
//
// It stores a 64-bit hash of each key (keyed by a per-process random seed)
// with its expiry, about 40 bytes a key. When it is full, a claim evicts an
// expired key if it finds one among a few sampled, else the sampled key that
// expires first, the way Redis approximates its eviction: memory stays
// bounded and the keys about to expire anyway go first. Evicting a key
// whose window had not ended means its subject may be exposed again: the
// Tracker counts those evictions (StageEvicted).
type memoryDeduper struct {
	seed   maphash.Seed
	now    func() time.Time
	shift  uint // a hash's top bits pick its shard: h >> shift
	shards []memoryShard
}

type memoryShard struct {
	mu       sync.Mutex
	expiries map[uint64]int64 // hash -> expiry, unix nanoseconds
	capacity int
	_        [40]byte // keep shards on their own cache lines
}

// evictionSamples is how many keys a full shard looks at to choose one to evict.
const evictionSamples = 8

// NewMemoryDeduper returns an in-memory Deduper holding at most capacity
// keys. The Tracker's default holds 1,000,000. It fails with an error
// wrapping [ErrInvalidConfig] when capacity is not positive.
func NewMemoryDeduper(capacity int) (Deduper, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("%w: NewMemoryDeduper capacity must be positive, got %d", ErrInvalidConfig, capacity)
	}
	return newMemoryDeduper(capacity), nil
}

func newMemoryDeduper(capacity int) *memoryDeduper {
	n, bits := 1, uint(0)
	for n*2 <= maxMemoryShards && capacity/(n*2) >= minShardKeys {
		n, bits = n*2, bits+1
	}
	d := &memoryDeduper{seed: maphash.MakeSeed(), now: clock.Now, shift: 64 - bits, shards: make([]memoryShard, n)}
	// The capacity is shared out exactly: the first capacity%n shards hold
	// one key more.
	for i := range d.shards {
		d.shards[i].capacity = capacity / n
		if i < capacity%n {
			d.shards[i].capacity++
		}
		d.shards[i].expiries = make(map[uint64]int64)
	}
	return d
}

func (d *memoryDeduper) shard(h uint64) *memoryShard {
	return &d.shards[h>>d.shift] // a shift of 64 gives 0: one shard
}

// Claim reports whether key was not claimed within the last window and, if
// so, claims it. Exactly one of concurrent claims of a key wins.
func (d *memoryDeduper) Claim(_ context.Context, key string, window time.Duration) (bool, error) {
	if window <= 0 {
		return false, fmt.Errorf("exposure: dedupe window must be positive, got %v", window)
	}
	first, _ := d.claimHash(maphash.String(d.seed, key), window)
	return first, nil
}

// assignmentHash is the key of (subject, experiment, variant) without
// building a string: the Tracker's fast path for its default deduper.
func (d *memoryDeduper) assignmentHash(a *Assignment) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(a.Identity.DistinctID)
	h.WriteByte(0)
	h.WriteString(a.Experiment)
	h.WriteByte(0)
	h.WriteString(a.Variant)
	return h.Sum64()
}

// claimHash claims h for window. evicted reports that the claim evicted a
// key whose window had not ended.
func (d *memoryDeduper) claimHash(h uint64, window time.Duration) (first, evicted bool) {
	s := d.shard(h)
	now := d.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.expiries[h]; ok && exp > now {
		return false, false
	} else if !ok && len(s.expiries) >= s.capacity {
		evicted = s.evict(now)
	}
	s.expiries[h] = now + int64(window)
	return true, evicted
}

// evict removes one key: an expired one among those sampled, else the
// sampled key that expires first. Map iteration starts at a random place,
// so the samples are spread over the shard. It reports whether the key it
// removed was still live.
func (s *memoryShard) evict(now int64) (live bool) {
	var victim uint64
	victimExp := int64(math.MaxInt64)
	n := 0
	for h, exp := range s.expiries {
		if exp <= now {
			delete(s.expiries, h)
			return false
		}
		if exp < victimExp {
			victim, victimExp = h, exp
		}
		if n++; n == evictionSamples {
			break
		}
	}
	delete(s.expiries, victim)
	return true
}

// Release forgets key, so that its next claim wins.
func (d *memoryDeduper) Release(_ context.Context, key string) error {
	d.releaseHash(maphash.String(d.seed, key))
	return nil
}

func (d *memoryDeduper) releaseHash(h uint64) {
	s := d.shard(h)
	s.mu.Lock()
	delete(s.expiries, h)
	s.mu.Unlock()
}

// size returns the number of keys held, expired ones included until they
// are evicted or claimed again.
func (d *memoryDeduper) size() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.expiries)
		s.mu.Unlock()
	}
	return n
}

// holds reports whether h is claimed and its window has not ended, without
// claiming it.
func (d *memoryDeduper) holds(h uint64) bool {
	s := d.shard(h)
	now := d.now().UnixNano()
	s.mu.Lock()
	exp, ok := s.expiries[h]
	s.mu.Unlock()
	return ok && exp > now
}
