package ring_test

import (
	"fmt"

	"github.com/exposurekit/exposure/internal/ring"
)

func ExampleRing() {
	recent := ring.New[string](3)
	for _, event := range []string{"a", "b", "c", "d", "e"} {
		recent.Push(&event)
	}
	items, total := recent.NewestFirst()
	fmt.Println(items, "of", total)
	// Output: [e d c] of 5
}
