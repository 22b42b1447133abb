package srm_test

import (
	"fmt"

	"github.com/exposurekit/exposure/internal/srm"
)

// A live check of a 50/50 experiment, fed the cumulative exposed subjects
// per variant each time the page is read. The p-value can be compared with
// 0.001 at every read: reading often does not raise false alarms.
func ExampleSequential() {
	test, err := srm.NewSequential([]float64{50, 50})
	if err != nil {
		panic(err)
	}
	for _, counts := range [][]uint64{
		{510, 490},   // noise
		{1040, 960},  // still noise
		{2090, 1910}, // the second variant's exposures are lost now and then
		{3180, 2820},
		{4270, 3730},
	} {
		p, err := test.Update(counts)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d/%d  p = %.2g  mismatch: %v\n", counts[0], counts[1], p, p < 0.001)
	}
	// Output:
	// 510/490  p = 1  mismatch: false
	// 1040/960  p = 1  mismatch: false
	// 2090/1910  p = 0.12  mismatch: false
	// 3180/2820  p = 0.00019  mismatch: true
	// 4270/3730  p = 1.4e-07  mismatch: true
}

// Weights in any unit, here a 10/30/60 split of three variants, and a
// wider prior for a check that should catch only gross mismatches.
func ExampleNewSequential() {
	test, err := srm.NewSequential([]float64{10, 30, 60}, srm.WithConcentration(10))
	if err != nil {
		panic(err)
	}
	for _, counts := range [][]uint64{{100, 300, 600}, {200, 500, 1300}} {
		p, err := test.Update(counts)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%v  p = %.2g\n", counts, p)
	}
	// Output:
	// [100 300 600]  p = 1
	// [200 500 1300]  p = 0.00057
}
