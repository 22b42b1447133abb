package srm_test

import (
	"fmt"
	"testing"

	"github.com/exposurekit/exposure/internal/srm"
)

// BenchmarkUpdate is one look at a running test: one log-gamma per
// variant and one for the total.
func BenchmarkUpdate(b *testing.B) {
	for _, variants := range []int{2, 5} {
		b.Run(fmt.Sprintf("variants=%d", variants), func(b *testing.B) {
			weights := make([]float64, variants)
			for i := range weights {
				weights[i] = 1
			}
			s, err := srm.NewSequential(weights)
			if err != nil {
				b.Fatal(err)
			}
			counts := make([]uint64, variants)
			for i := range counts {
				counts[i] = 10_000
			}
			b.ReportAllocs()
			for b.Loop() {
				for i := range counts {
					counts[i] += uint64(i + 1)
				}
				if _, err := s.Update(counts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
