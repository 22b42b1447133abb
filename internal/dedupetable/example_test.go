package dedupetable_test

import (
	"fmt"
	"time"

	"github.com/exposurekit/exposure/internal/dedupetable"
)

func ExampleTable_Claim() {
	table, err := dedupetable.New(1_000_000, time.Now)
	if err != nil {
		panic(err)
	}
	const subjectInExperiment = 0x5eed // a hash of (subject, experiment)
	const control, treatment = 1, 2    // hashes of the variants

	first, crossover, _ := table.Claim(subjectInExperiment, control, time.Hour)
	fmt.Println("first render:", first, crossover)
	first, crossover, _ = table.Claim(subjectInExperiment, control, time.Hour)
	fmt.Println("render again:", first, crossover)
	first, crossover, _ = table.Claim(subjectInExperiment, treatment, time.Hour)
	fmt.Println("other variant:", first, crossover)

	table.Release(subjectInExperiment) // say the exposure could not be queued
	first, crossover, _ = table.Claim(subjectInExperiment, treatment, time.Hour)
	fmt.Println("after release:", first, crossover)
	// Output:
	// first render: true false
	// render again: false false
	// other variant: true true
	// after release: true false
}
