package audit

import (
	"encoding/json"
	"slices"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/tally"
)

// StageCounts are counts of events by [exposure.Stage], as in
// [exposure.Stats]. In JSON they are an object keyed by the stage's name
// ([exposure.Stage.String], such as "unassigned_mark"); names this version
// does not know are skipped when decoding.
type StageCounts map[exposure.Stage]uint64

// MarshalJSON encodes the counts keyed by stage name.
func (c StageCounts) MarshalJSON() ([]byte, error) {
	m := make(map[string]uint64, len(c))
	for s, n := range c {
		m[s.String()] = n
	}
	return json.Marshal(m)
}

// UnmarshalJSON decodes counts keyed by stage name.
func (c *StageCounts) UnmarshalJSON(b []byte) error {
	var m map[string]uint64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*c = make(StageCounts, len(m))
	for s := range exposure.StageClosed + 1 {
		if n, ok := m[s.String()]; ok {
			(*c)[s] = n
		}
	}
	return nil
}

// countsOf returns the counts of the given stages, zeros included, so that
// the JSON report names every stage a reader may look for.
func countsOf(stages []exposure.Stage, count func(exposure.Stage) uint64) StageCounts {
	c := make(StageCounts, len(stages))
	for _, s := range stages {
		c[s] = count(s)
	}
	return c
}

// Stages by what they concern, in pipeline order.
var (
	allStages = func() []exposure.Stage {
		var all []exposure.Stage
		for s := range exposure.StageClosed + 1 {
			all = append(all, s)
		}
		return all
	}()
	// variantStages are the stages counted per variant.
	variantStages = slices.DeleteFunc(slices.Clone(allStages), func(s exposure.Stage) bool { return !tally.AboutVariant(s) })
	sinkStages    = []exposure.Stage{
		exposure.StageQueued, exposure.StageDropped, exposure.StageDelivered,
		exposure.StageRetried, exposure.StageFailed, exposure.StageUndelivered,
	}
)
