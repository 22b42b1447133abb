package latency_test

import (
	"fmt"
	"time"

	"github.com/exposurekit/exposure/internal/latency"
)

func ExampleHistogram() {
	var toRender latency.Histogram
	for _, d := range []time.Duration{12 * time.Millisecond, 15 * time.Millisecond, 90 * time.Millisecond} {
		toRender.Observe(d)
	}
	ms, ok := toRender.Median()
	fmt.Printf("%.1f ms %v\n", ms, ok) // the true median is 15 ms
	// Output: 14.8 ms true
}
