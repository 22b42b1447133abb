package dedupetable

import (
	"math"
	"sync"
	"time"
)

// mapTable is the layout this package replaces, copied from the root's
// memoryDeduper as the baseline of the benchmarks: a map from key to expiry
// (Unix nanoseconds) in up to 64 shards, with the same sampled eviction.
// It keeps no tag.
type mapTable struct {
	now    func() time.Time
	shift  uint
	shards []mapShard
}

type mapShard struct {
	mu       sync.Mutex
	expiries map[uint64]int64
	capacity int
	_        [40]byte
}

func newMapTable(capacity int, now func() time.Time) *mapTable {
	n, bits := 1, uint(0)
	for n*2 <= maxShards && capacity/(n*2) >= minShardEntries {
		n, bits = n*2, bits+1
	}
	d := &mapTable{now: now, shift: 64 - bits, shards: make([]mapShard, n)}
	for i := range d.shards {
		d.shards[i].capacity = capacity / n
		if i < capacity%n {
			d.shards[i].capacity++
		}
		d.shards[i].expiries = make(map[uint64]int64)
	}
	return d
}

func (d *mapTable) claim(h uint64, window time.Duration) (first, evicted bool) {
	s := &d.shards[h>>d.shift]
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

func (s *mapShard) evict(now int64) (live bool) {
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

func (d *mapTable) len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.expiries)
		s.mu.Unlock()
	}
	return n
}
