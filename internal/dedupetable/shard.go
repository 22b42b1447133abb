package dedupetable

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
)

// slot is one entry of a shard: 16 bytes.
type slot struct {
	key  uint64 // 0: the slot is empty
	word uint64 // expiry and tag: see makeWord
}

// Sizing of a shard's slots.
const (
	// initialSlots is the size of a new shard (or its full size, if
	// smaller), so that a table holding few keys takes little memory.
	initialSlots = 16
	// A shard grows before an insertion would fill more than
	// loadNum/loadDen of its slots, and at its full size holds its
	// capacity at that load at most.
	loadNum, loadDen = 7, 8
	// evictionSamples is how many entries a full shard looks at to choose
	// one to evict.
	evictionSamples = 8
)

// shard is an open-addressing hash table with linear probing in Robin
// Hood order, guarded by its mutex. An entry's distance is how far it sits
// after its home slot (see home). Entries follow their home slot with no
// empty slot between, and along a run of entries the homes never go
// backwards: so a lookup stops at an empty slot or at an entry nearer its
// home than the key would be there, which keeps misses short at a load of
// 7/8 (plain linear probing would look at about 32 slots a miss).
type shard struct {
	mu       sync.Mutex
	slots    []slot
	count    int     // occupied slots
	capacity int     // most entries held
	maxSlots int     // slots when fully grown
	_        [8]byte // keep shards on their own cache lines (64 bytes)
}

// fullSize returns the number of slots that hold capacity entries at a
// load of at most loadNum/loadDen.
func fullSize(capacity int) int {
	return capacity + (capacity*(loadDen-loadNum)+loadNum-1)/loadNum
}

func (s *shard) init(capacity int) {
	s.capacity = capacity
	s.maxSlots = fullSize(capacity)
	s.slots = make([]slot, min(initialSlots, s.maxSlots))
}

// home returns the first slot to probe for key among n. The key's top bits
// pick its shard and are the same for the whole shard, so the key is mixed
// (a multiplication by an odd constant carries every bit upwards) and
// mapped onto [0, n) by the high half of a product, which needs no power
// of two.
func home(key uint64, n int) int {
	hi, _ := bits.Mul64(key*0x9e3779b97f4a7c15, uint64(n))
	return int(hi)
}

// dist returns how far slot i is after the home of key, among n slots.
func dist(i int, key uint64, n int) int {
	d := i - home(key, n)
	if d < 0 {
		d += n
	}
	return d
}

// find returns the slot of key, or -1.
func (s *shard) find(key uint64) int {
	n := len(s.slots)
	for i, d := home(key, n), 0; ; d++ {
		k := s.slots[i].key
		if k == key {
			return i
		}
		if k == 0 || dist(i, k, n) < d {
			return -1
		}
		if i++; i == n {
			i = 0
		}
	}
}

// claim records key with word (tag and expiry) at now. See [Table.Claim].
func (s *shard) claim(key, word, now uint64) (first, crossover, evicted bool) {
	i, found, expired := s.lookup(key, now)
	if !found {
		return true, false, s.add(slot{key, word}, i, expired, now)
	}
	sl := &s.slots[i]
	if live(sl.word, now) {
		if tagOf(sl.word) == tagOf(word) {
			return false, false, false
		}
		crossover = true
	}
	sl.word = word
	return true, crossover, false
}

// add puts e, whose key is not held, where its lookup stopped (i), making
// room first: in place of expired, an expired entry met on its path, if
// there is one (at no cost), else by eviction when the shard is full, else
// by growing when the load would pass 7/8. It reports whether it evicted a
// live entry.
func (s *shard) add(e slot, i, expired int, now uint64) (evicted bool) {
	n := len(s.slots)
	switch {
	case expired >= 0:
		s.remove(expired)
		s.insert(e) // the removal shifted the path back
	case s.count >= s.capacity:
		evicted = s.evict(now)
		s.insert(e)
	case (s.count+1)*loadDen > n*loadNum && n < s.maxSlots:
		s.grow()
		s.insert(e)
	default:
		s.place(i, e)
	}
	s.count++
	return evicted
}

// put sets key's word, adding the key if it is not held, and reports
// whether that evicted a live entry.
func (s *shard) put(key, word, now uint64) (evicted bool) {
	i, found, expired := s.lookup(key, now)
	if found {
		s.slots[i].word = word
		return false
	}
	return s.add(slot{key, word}, i, expired, now)
}

// lookup finds key: its slot if found, else the slot where its lookup
// stopped and the first expired entry on its path (-1 if none), which is
// what add needs to add it.
func (s *shard) lookup(key, now uint64) (i int, found bool, expired int) {
	n := len(s.slots)
	expired = -1
	i = home(key, n)
	for d := 0; ; d++ {
		sl := &s.slots[i]
		if sl.key == key {
			return i, true, expired
		}
		if sl.key == 0 || dist(i, sl.key, n) < d {
			return i, false, expired
		}
		if expired < 0 && !live(sl.word, now) {
			expired = i
		}
		if i++; i == n {
			i = 0
		}
	}
}

// get returns key's word, live or not, and whether key is held.
func (s *shard) get(key uint64) (word uint64, ok bool) {
	if i := s.find(key); i >= 0 {
		return s.slots[i].word, true
	}
	return 0, false
}

// delete removes key if it is held.
func (s *shard) delete(key uint64) {
	if i := s.find(key); i >= 0 {
		s.remove(i)
	}
}

// insert puts e, whose key is not held, in its place.
func (s *shard) insert(e slot) {
	n := len(s.slots)
	i := home(e.key, n)
	for d := 0; ; d++ {
		if k := s.slots[i].key; k == 0 || dist(i, k, n) < d {
			break
		}
		if i++; i == n {
			i = 0
		}
	}
	s.place(i, e)
}

// place puts e in slot i, where its lookup would stop, and moves the rest
// of the run one slot on: the entries keep their order, and each stays
// reachable, one slot further from its home. (That is Robin Hood
// insertion, where an entry swaps with any resident as near its home as
// the entry in hand, done as one copy.)
func (s *shard) place(i int, e slot) {
	n := len(s.slots)
	j := i // the empty slot that ends the run
	for s.slots[j].key != 0 {
		if j++; j == n {
			j = 0
		}
	}
	if j < i { // the run wraps around
		copy(s.slots[1:j+1], s.slots[:j])
		s.slots[0] = s.slots[n-1]
		j = n - 1
	}
	copy(s.slots[i+1:j+1], s.slots[i:j])
	s.slots[i] = e
}

// grow doubles the slots, up to maxSlots, and puts every entry back,
// expired ones included.
func (s *shard) grow() {
	old := s.slots
	n := min(2*len(old), s.maxSlots)
	s.slots = make([]slot, n)
	for _, sl := range old {
		if sl.key != 0 {
			s.insert(sl)
		}
	}
}

// evict removes one entry: the first expired one among evictionSamples
// entries from a random slot on, else the one of them that expires first.
// It reports whether the entry it removed was live. The shard must hold
// at least one entry.
func (s *shard) evict(now uint64) (wasLive bool) {
	n := len(s.slots)
	victim, victimExp := -1, uint64(math.MaxUint64)
	i := int(rand.Uint64N(uint64(n)))
	for seen, step := 0, 0; seen < evictionSamples && step < n; step++ {
		if sl := s.slots[i]; sl.key != 0 {
			if !live(sl.word, now) {
				s.remove(i)
				return false
			}
			if e := expiry(sl.word); e < victimExp {
				victim, victimExp = i, e
			}
			seen++
		}
		if i++; i == n {
			i = 0
		}
	}
	s.remove(victim)
	return true
}

// remove empties slot i and moves each following entry of the run one
// slot back, up to an empty slot or an entry in its home slot
// (backward-shift deletion): no tombstones, and the order kept.
func (s *shard) remove(i int) {
	n := len(s.slots)
	for {
		j := i + 1
		if j == n {
			j = 0
		}
		r := s.slots[j]
		if r.key == 0 || home(r.key, n) == j {
			break
		}
		s.slots[i] = r
		i = j
	}
	s.slots[i] = slot{}
	s.count--
}
