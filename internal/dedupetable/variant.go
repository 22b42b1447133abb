package dedupetable

import "time"

// ClaimVariant claims that key's subject is shown the variant of tag, and
// reports whether that variant must be sent:
//
//   - first: the variant was not sent to key's subject within the window
//     (whatever the subject was shown since), so it must be sent now;
//   - crossover: the subject was last shown another variant within the
//     window. A crossover is first unless it moves back to a variant
//     already sent within the window (a flip-back);
//   - evicted: how many live entries the claim pushed out.
//
// An entry that holds only the latest variant would send a subject who
// flips between variants (two browser tokens posted in turn, targeting
// that flips) at every flip. So the first crossover of a key marks its
// entry as crossed and records, in entries of their own, each variant sent
// with the expiry of its exposure; the claims of a crossed key consult
// those records. Keys that never cross over pay nothing for it: one entry,
// and a duplicate is one lookup. The records live in the key's shard, so
// that a claim is one critical section: of concurrent claims of one key,
// each variant is first exactly once, in every order.
//
// The key's entry lives as long as the latest exposure of any of its
// variants, so an expired entry means nothing was sent within the window.
//
// If the exposure that a first claim stands for cannot be sent, pass the
// returned Undo to [Table.Undo], so that the next claim is first again
// and the variants sent before stay recorded. A window that is not
// positive records nothing and reports first.
func (t *Table) ClaimVariant(key uint64, tag uint16, window time.Duration) (first, crossover bool, evicted int, undo Undo) {
	if window <= 0 {
		return true, false, 0, Undo{}
	}
	if key == 0 {
		key = zeroKey
	}
	now := instant(t.now())
	s := t.shard(key)
	s.mu.Lock()
	i, ok, expired := s.lookup(key, now)
	if !ok {
		// The common cases take one lookup: a new subject,
		word := makeWord(now, window, tag)
		e := s.add(slot{key, word}, i, expired, now)
		s.mu.Unlock()
		if e {
			evicted = 1
		}
		return true, false, evicted, Undo{key: key}
	}
	held := s.slots[i].word
	if live(held, now) && !crossed(held) && tagOf(held) == tag {
		// and a page rendered again.
		s.mu.Unlock()
		return false, false, 0, Undo{}
	}
	first, crossover, evicted, undo = t.claimVariant(s, key, tag, makeWord(now, window, tag), now, held)
	s.mu.Unlock()
	return first, crossover, evicted, undo
}

// claimVariant is ClaimVariant past its common cases, under s.mu: key is
// held, with the word held; word is the claim's.
func (t *Table) claimVariant(s *shard, key uint64, tag uint16, word, now, held uint64) (first, crossover bool, evicted int, undo Undo) {
	count := func(e bool) {
		if e {
			evicted++
		}
	}
	undo = Undo{key: key, main: held, hadMain: true}
	switch {
	case !live(held, now):
		// Nothing sent within the window.
		count(s.put(key, word, now))
		return true, false, evicted, undo

	case !crossed(held):
		// The first crossover (the same tag returned above): the variant
		// held was sent, and its exposure ends with the entry. Records of
		// an earlier crossover, if any survive, ended before the entry
		// began: overwritten.
		crossover = true

	default:
		crossover = tagOf(held) != tag
		if rec, ok := s.get(t.recordKey(key, tag)); ok && live(rec, now) {
			// Sent within the window: a duplicate, and the subject's
			// latest variant.
			if crossover {
				s.put(key, expiry(held)|crossedBit|uint64(tag), now)
			}
			return false, crossover, 0, Undo{}
		}
	}
	// The key is held: its entry is written in place, before the records
	// that may need room (an eviction prefers the entries expiring first,
	// not the one just renewed).
	count(s.put(key, max(expiry(held), expiry(word))|crossedBit|uint64(tag), now))
	if !crossed(held) {
		count(s.put(t.recordKey(key, tagOf(held)), expiry(held), now))
	}
	rk := t.recordKey(key, tag)
	undo.record = rk
	undo.rec, undo.hadRec = s.get(rk)
	count(s.put(rk, expiry(word), now))
	return true, crossover, evicted, undo
}

// Undo puts back what a first [Table.ClaimVariant] changed, so that the
// next claim of its variant is first. The zero Undo does nothing.
type Undo struct {
	key, record uint64 // record is 0 when the claim wrote no record
	main, rec   uint64 // the words before the claim
	hadMain     bool
	hadRec      bool
}

// Undo reverts the claim u came from (see [Undo]). A claim of the key
// made since is reverted with it: the next claims are first, a repeat
// rather than a loss.
func (t *Table) Undo(u Undo) {
	if u.key == 0 {
		return
	}
	now := instant(t.now())
	s := t.shard(u.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.record != 0 {
		if u.hadRec {
			s.put(u.record, u.rec, now)
		} else {
			s.delete(u.record)
		}
	}
	if u.hadMain {
		s.put(u.key, u.main, now)
	} else {
		s.delete(u.key)
	}
}

// recordKey is the key of the record that key's subject was sent the
// variant of tag: in key's shard (the same top bits), the other bits
// mixed from key and tag with a 64-bit finalizer, as unlikely as any hash
// to meet another key. It is never 0 and never key.
func (t *Table) recordKey(key uint64, tag uint16) uint64 {
	x := key ^ (uint64(tag)+1)*0x9e3779b97f4a7c15
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	top := ^uint64(0) << t.shift // 0 for a single shard (a shift of 64)
	low, keyLow := x&^top, key&^top
	if low == keyLow {
		low = ^low &^ top // at least 58 low bits: it differs
	}
	if low == 0 {
		low = 1 // keyLow was all ones, so it differs still
	}
	return key&top | low
}
