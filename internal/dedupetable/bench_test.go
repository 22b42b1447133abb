package dedupetable

import (
	"testing"
	"time"
)

// The benchmarks read a clock that does not move: time.Now would cost as
// much as the claim itself, for both layouts alike.
func frozenClock() time.Time { return someTime }

// mix spreads a counter over 64 bits, as a real key hash would be.
func mix(i uint64) uint64 {
	i ^= i >> 33
	i *= 0xff51afd7ed558ccd
	i ^= i >> 33
	i *= 0xc4ceb9fe1a85ec53
	i ^= i >> 33
	return i
}

// Claims of keys never seen, in a table of the default capacity: it fills,
// and then every claim evicts.
func BenchmarkClaimNew(b *testing.B) {
	b.Run("table", func(b *testing.B) {
		tb, err := New(memoryCapacity, frozenClock)
		if err != nil {
			b.Fatal(err)
		}
		var i uint64
		for b.Loop() {
			i++
			tb.Claim(mix(i), 1, time.Hour)
		}
	})
	b.Run("map", func(b *testing.B) {
		tb := newMapTable(memoryCapacity, frozenClock)
		var i uint64
		for b.Loop() {
			i++
			tb.claim(mix(i), time.Hour)
		}
	})
}

// Claims of keys held: the common case of a page rendered again.
func BenchmarkClaimDuplicate(b *testing.B) {
	const held = 1 << 14
	b.Run("table", func(b *testing.B) {
		tb, err := New(memoryCapacity, frozenClock)
		if err != nil {
			b.Fatal(err)
		}
		for i := range uint64(held) {
			tb.Claim(mix(i), 1, time.Hour)
		}
		var i uint64
		for b.Loop() {
			i++
			if first, _, _ := tb.Claim(mix(i%held), 1, time.Hour); first {
				b.Fatal("a held key was claimed again")
			}
		}
	})
	b.Run("variant", func(b *testing.B) {
		tb, err := New(memoryCapacity, frozenClock)
		if err != nil {
			b.Fatal(err)
		}
		for i := range uint64(held) {
			tb.ClaimVariant(mix(i), 1, time.Hour)
		}
		var i uint64
		for b.Loop() {
			i++
			if first, _, _, _ := tb.ClaimVariant(mix(i%held), 1, time.Hour); first {
				b.Fatal("a held key was claimed again")
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		tb := newMapTable(memoryCapacity, frozenClock)
		for i := range uint64(held) {
			tb.claim(mix(i), time.Hour)
		}
		var i uint64
		for b.Loop() {
			i++
			if first, _ := tb.claim(mix(i%held), time.Hour); first {
				b.Fatal("a held key was claimed again")
			}
		}
	})
}

// Claims from every core at once, of new keys and of held ones.
func BenchmarkClaimParallel(b *testing.B) {
	tb, err := New(memoryCapacity, frozenClock)
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		var i uint64
		for pb.Next() {
			i++
			tb.Claim(mix(i), 1, time.Hour) // each goroutine repeats the others' keys
		}
	})
}

// The heap taken by a full table of the default capacity, per entry, for
// this layout and for the map it replaces. ns/op is the time to fill one.
func BenchmarkMemoryPerEntry(b *testing.B) {
	b.Run("table", func(b *testing.B) {
		var perEntry float64
		for b.Loop() {
			perEntry = tableBytesPerEntry()
		}
		b.ReportMetric(perEntry, "B/entry")
	})
	b.Run("map", func(b *testing.B) {
		var perEntry float64
		for b.Loop() {
			perEntry = mapBytesPerEntry()
		}
		b.ReportMetric(perEntry, "B/entry")
	})
}
