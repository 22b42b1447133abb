package exposure

import (
	"context"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/exposurekit/exposure/internal/dedupetable"
)

// defaultDedupeCapacity is the number of keys the Tracker's own
// memoryDeduper holds.
const defaultDedupeCapacity = 1_000_000

// memoryDeduper is the default Deduper: in process, bounded, with a TTL.
//
// Each entry is a 64-bit hash of (subject, experiment), keyed by a
// per-process random seed, with a 16-bit tag of the variant it holds and
// its expiry: about 18 bytes an entry when full (internal/dedupetable).
// When it is full, a claim evicts an expired entry if it finds one among a
// few sampled, else the sampled entry that expires first, the way Redis
// approximates its eviction: memory stays bounded and the entries about
// to expire anyway go first. Evicting an entry whose window had not ended
// means its subject may be exposed again: the Tracker counts those
// evictions (StageEvicted).
type memoryDeduper struct {
	seed  maphash.Seed
	now   func() time.Time
	table *dedupetable.Table
}

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
	d := &memoryDeduper{seed: maphash.MakeSeed(), now: clock.Now}
	t, err := dedupetable.New(capacity, func() time.Time { return d.now() })
	if err != nil {
		panic(err) // unreachable: capacity > 0 and the clock is set
	}
	d.table = t
	return d
}

// Claim claims variant for key (see [Deduper]). Exactly one of concurrent
// claims of a key and variant wins.
func (d *memoryDeduper) Claim(_ context.Context, key, variant string, window time.Duration) (first, crossover bool, err error) {
	if window <= 0 {
		return false, false, fmt.Errorf("exposure: dedupe window must be positive, got %v", window)
	}
	first, crossover, _, _ = d.claimHash(maphash.String(d.seed, key), d.variantTag(variant), window)
	return first, crossover, nil
}

// assignmentHash is the key of (subject, experiment) without building a
// string: the Tracker's fast path for its default deduper.
func (d *memoryDeduper) assignmentHash(a *Assignment) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(a.Identity.DistinctID)
	h.WriteByte(0)
	h.WriteString(a.Experiment)
	return h.Sum64()
}

// variantTag is the 16 bits of a variant that an entry keeps, to tell the
// variants of one experiment apart. Two variants share a tag with a chance
// of 1 in 65,536 (per pair, per process: the seed is random); a move
// between those two is then taken for a duplicate within the window.
func (d *memoryDeduper) variantTag(variant string) uint16 {
	return uint16(maphash.String(d.seed, variant))
}

// claimHash claims tag for h for window (see
// [dedupetable.Table.ClaimVariant]): first when the variant was not sent
// to h's subject within the window, crossover when the subject was last
// shown another variant, evicted the live entries the claim pushed out.
// If the exposure of a first claim cannot be sent, undo it with unclaim.
func (d *memoryDeduper) claimHash(h uint64, tag uint16, window time.Duration) (first, crossover bool, evicted int, undo dedupetable.Undo) {
	return d.table.ClaimVariant(h, tag, window)
}

// unclaim reverts a first claim whose exposure was not sent, so that the
// next render sends it, and keeps the variants sent before.
func (d *memoryDeduper) unclaim(u dedupetable.Undo) { d.table.Undo(u) }

// Release forgets key, so that its next claim wins. It cannot tell which
// variant's claim to take back, so it forgets the latest: the variants
// sent before may be sent again (a repeat rather than a loss). The
// Tracker takes back its own claims with unclaim, which keeps them.
func (d *memoryDeduper) Release(_ context.Context, key string) error {
	d.table.Release(maphash.String(d.seed, key))
	return nil
}

// size returns the number of keys held, expired ones included until they
// are evicted or claimed again.
func (d *memoryDeduper) size() int { return d.table.Len() }
