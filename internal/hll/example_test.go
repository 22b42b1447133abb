package hll_test

import (
	"fmt"
	"hash/maphash"

	"github.com/exposurekit/exposure/internal/hll"
)

func ExampleCounter() {
	seed := maphash.MakeSeed() // one seed per process: hashes must be comparable
	var subjects hll.Counter
	for _, id := range []string{"user-1", "user-2", "user-1", "user-3"} {
		subjects.Add(maphash.String(seed, id))
	}
	fmt.Println(subjects.Estimate())
	// Output: 3
}
