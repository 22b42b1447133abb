// Package dedupetable is the storage of the default in-memory deduper: a
// bounded set of claims, each a 64-bit key (a hash of subject and
// experiment), a 16-bit tag (a hash of the variant) and an expiry, in at
// most 20 bytes a claim.
//
// Keeping the variant as a tag beside the key, rather than in the key,
// lets a claim see a crossover: the same subject shown another variant of
// the same experiment within the window, which a correct assignment never
// does and which therefore deserves to be counted.
//
// # Layout
//
// A [Table] is up to 64 shards, each a mutex and an open-addressing hash
// table whose slot is 16 bytes: the key, and one word holding the expiry
// rounded up to a multiple of [Resolution] with, in the 17 low bits that
// the rounding leaves free, the tag and a bit that marks a key that crossed
// over ([Table.ClaimVariant] keeps a record per variant sent for those). Key 0 marks an empty slot, so the key 0
// is stored as another value ([Table.Claim] says which).
//
// Probing is linear, in Robin Hood order: along a run of entries their
// home slots never go backwards, so a lookup of a key not held stops as
// soon as it meets an entry nearer its home than the key would be. At the
// load of 7/8 that the memory goal needs, plain linear probing would look
// at about 32 slots for each new key. A removal moves the entries after it
// back one slot, up to one in its home slot (backward-shift deletion), so
// there are no tombstones.
//
// A shard starts with 16 slots and doubles while it fills, up to the size
// its capacity needs at a load of 7/8 (which need not be a power of two:
// a key's first slot is found by multiplying, not masking). A table that
// holds few keys thus takes a few kilobytes, and a full one about 18.3
// bytes a claim, where a Go map of the same data takes 32 to 38.
//
// # Eviction
//
// A full shard makes room the way Redis approximates LRU: it looks at
// eight entries from a random slot on and removes an expired one if it
// sees one, else the one that expires first. An expired entry met on a
// key's probe path is reused in place, without eviction.
package dedupetable
