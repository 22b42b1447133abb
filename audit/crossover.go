package audit

import (
	"fmt"

	"github.com/exposurekit/exposure"
)

// Thresholds of the crossover check of a [Report] ([CrossoverCheck]).
const (
	// CrossoverMaxShare is the share of crossovers among an experiment's
	// exposures above which the check flags.
	CrossoverMaxShare = 0.01
	// CrossoverMinSubjects is how many crossovers an experiment needs
	// before the check flags.
	CrossoverMinSubjects = 10
)

// CrossoverCheck counts the subjects exposed to more than one variant of
// an experiment: a crossover (StageCrossover) is an exposure whose subject
// had been exposed to another variant within the dedupe window, because
// targeting or the split changed, identities were merged, or the flag was
// reconfigured while running. Such a subject is in both arms, and its
// behaviour cannot be attributed to either; a few are normal, many make
// the comparison unsound (GrowthBook warns of "multiple exposures" in the
// same way).
//
// Share is crossovers over the experiment's committed exposures. The
// denominator counts first exposures: an exposure is committed once per
// subject and variant within the dedupe window, so a crossed subject
// counts twice there (once for each variant), and a subject who saw one
// variant once. It flags a share above [CrossoverMaxShare] with at least
// [CrossoverMinSubjects] crossovers. Each variant's Counts say how many
// crossed into it.
type CrossoverCheck struct {
	// Crossovers is crossover and Committed is committed, summed over the
	// variants.
	Crossovers uint64 `json:"crossovers"`
	Committed  uint64 `json:"committed"`
	// Share is Crossovers / Committed; null before the first exposure.
	Share *float64 `json:"share"`
	// Flagged says too many subjects crossed over; Reason says how many.
	Flagged bool   `json:"flagged"`
	Reason  string `json:"reason,omitempty"`
}

// checkCrossovers counts the crossovers of the variants vs.
func checkCrossovers(vs []Variant) CrossoverCheck {
	var c CrossoverCheck
	for i := range vs {
		c.Crossovers += vs[i].Counts[exposure.StageCrossover]
		c.Committed += vs[i].Counts[exposure.StageCommitted]
	}
	c.Share = rate(c.Crossovers, c.Committed)
	if c.Share != nil && *c.Share > CrossoverMaxShare && c.Crossovers >= CrossoverMinSubjects {
		c.Flagged = true
		c.Reason = fmt.Sprintf(
			"%d exposures (%.1f%% of %d, more than %g%%) were of subjects who had seen another variant: did targeting, the split or identity merging change while the experiment ran?",
			c.Crossovers, 100**c.Share, c.Committed, 100*CrossoverMaxShare)
	}
	return c
}
