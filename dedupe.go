package exposure

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// A Deduper remembers which exposures were already sent, across requests
// and refreshes, for a window of time.
//
// Keys are opaque strings derived from (distinct id, experiment, variant):
// a changed variant is a new key. Implementations must be safe for
// concurrent use, and exactly one of several concurrent claims of one key
// must win.
type Deduper interface {
	// Claim reports whether key was not claimed within the last window; if
	// so it is now claimed for window.
	Claim(ctx context.Context, key string, window time.Duration) (first bool, err error)
	// Release undoes a claim whose exposure could not be queued, so that the
	// next render sends it.
	Release(ctx context.Context, key string) error
}

// A BatchDeduper claims many keys in one round trip. The Tracker uses it,
// when a Deduper implements it, to claim all exposures of one commit at
// once (redisdedupe pipelines them).
type BatchDeduper interface {
	Deduper
	// ClaimBatch is Claim for each key; first[i] answers keys[i].
	ClaimBatch(ctx context.Context, keys []string, window time.Duration) (first []bool, err error)
}

// DefaultDedupeCapacity is the number of keys a [MemoryDeduper] holds by
// default.
const DefaultDedupeCapacity = 1_000_000

const memoryShards = 64

// MemoryDeduper is the default [Deduper]: in process, bounded, with a TTL.
//
// It stores a 64-bit hash of each key (keyed by a per-process random seed)
// with its expiry, about 40 bytes a key. When it is full, a claim evicts an
// expired key if it finds one among a few sampled, else the sampled key that
// expires first, the way Redis approximates its eviction: memory stays
// bounded and the keys about to expire anyway go first.
type MemoryDeduper struct {
	seed   maphash.Seed
	now    func() time.Time
	shards [memoryShards]memoryShard
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
// keys (at least one per shard); capacity <= 0 means
// [DefaultDedupeCapacity].
func NewMemoryDeduper(capacity int) *MemoryDeduper {
	if capacity <= 0 {
		capacity = DefaultDedupeCapacity
	}
	d := &MemoryDeduper{seed: maphash.MakeSeed(), now: clock.Now}
	per := max(capacity/memoryShards, 1)
	for i := range d.shards {
		d.shards[i].capacity = per
		d.shards[i].expiries = make(map[uint64]int64)
	}
	return d
}

func (d *MemoryDeduper) shard(h uint64) *memoryShard {
	return &d.shards[h>>58] // top 6 bits pick one of 64 shards
}

// Claim reports whether key was not claimed within the last window and, if
// so, claims it. Exactly one of concurrent claims of a key wins.
func (d *MemoryDeduper) Claim(_ context.Context, key string, window time.Duration) (bool, error) {
	if window <= 0 {
		return false, fmt.Errorf("exposure: dedupe window must be positive, got %v", window)
	}
	return d.claimHash(maphash.String(d.seed, key), window), nil
}

// assignmentHash is the key of (subject, experiment, variant) without
// building a string: the Tracker's fast path for its default deduper.
func (d *MemoryDeduper) assignmentHash(a *Assignment) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(a.Identity.DistinctID)
	h.WriteByte(0)
	h.WriteString(a.Experiment)
	h.WriteByte(0)
	h.WriteString(a.Variant)
	return h.Sum64()
}

func (d *MemoryDeduper) claimHash(h uint64, window time.Duration) bool {
	s := d.shard(h)
	now := d.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.expiries[h]; ok && exp > now {
		return false
	} else if !ok && len(s.expiries) >= s.capacity {
		s.evict(now)
	}
	s.expiries[h] = now + int64(window)
	return true
}

// evict removes one key: an expired one among those sampled, else the
// sampled key that expires first. Map iteration starts at a random place,
// so the samples are spread over the shard.
func (s *memoryShard) evict(now int64) {
	var victim uint64
	victimExp := int64(math.MaxInt64)
	n := 0
	for h, exp := range s.expiries {
		if exp <= now {
			delete(s.expiries, h)
			return
		}
		if exp < victimExp {
			victim, victimExp = h, exp
		}
		if n++; n == evictionSamples {
			break
		}
	}
	delete(s.expiries, victim)
}

// Release forgets key, so that its next claim wins.
func (d *MemoryDeduper) Release(_ context.Context, key string) error {
	d.releaseHash(maphash.String(d.seed, key))
	return nil
}

func (d *MemoryDeduper) releaseHash(h uint64) {
	s := d.shard(h)
	s.mu.Lock()
	delete(s.expiries, h)
	s.mu.Unlock()
}

// Len returns the number of keys held, expired ones included until they
// are evicted or claimed again.
func (d *MemoryDeduper) Len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.expiries)
		s.mu.Unlock()
	}
	return n
}
