package tally

import (
	"sync/atomic"

	"github.com/exposurekit/exposure"
)

// numStages is the number of [exposure.Stage]s: StageClosed is the last.
const numStages = int(exposure.StageClosed) + 1

// Stages counts events by [exposure.Stage]. The zero value is ready to
// use; it is safe for concurrent use and must not be copied.
type Stages struct {
	n [numStages]atomic.Uint64
}

// Add counts n events of stage s. A stage unknown to this package (a
// newer pipeline) is ignored.
func (c *Stages) Add(s exposure.Stage, n int) {
	if int(s) < numStages && n > 0 {
		c.n[s].Add(uint64(n))
	}
}

// Load returns the count of stage s.
func (c *Stages) Load(s exposure.Stage) uint64 {
	if int(s) < numStages {
		return c.n[s].Load()
	}
	return 0
}

// Map returns the counts as [exposure.Stats] does: by stage, the stages
// never seen left out.
func (c *Stages) Map() map[exposure.Stage]uint64 {
	m := make(map[exposure.Stage]uint64)
	for i := range c.n {
		if v := c.n[i].Load(); v != 0 {
			m[exposure.Stage(i)] = v
		}
	}
	return m
}

// Pending returns the exposures a sink accepted and has not settled yet,
// from the sink's counts: queued minus delivered, failed and undelivered.
func Pending(count func(exposure.Stage) uint64) uint64 {
	settled := count(exposure.StageDelivered) + count(exposure.StageFailed) + count(exposure.StageUndelivered)
	if q := count(exposure.StageQueued); q > settled {
		return q - settled
	}
	return 0
}
