package audit

import (
	"slices"
	"sync"

	"github.com/exposurekit/exposure/internal/srm"
)

// sequentialTests are the live sample-ratio tests of the Auditor's
// experiments (see [SRMCheck]), one per experiment, fed the cumulative
// committed exposures per variant at every report. Their state lives
// between reports: that is what makes their p-value valid however often
// the page is read.
type sequentialTests struct {
	mu    sync.Mutex
	tests map[string]*sequentialTest // by experiment
}

// sequentialTest is one experiment's test and the split it tests.
type sequentialTest struct {
	variants []string
	weights  []float64
	test     *srm.Sequential
}

// update feeds the test of experiment, for the split of variants by
// weights (one each, in the same order), the committed exposures counts,
// and returns its p-value. A split unlike the one the test was made for (a
// variant appeared, weights changed) starts a new test. It returns nil
// when the split cannot be tested (fewer than two variants, a weight that
// is not positive).
func (s *sequentialTests) update(experiment string, variants []string, weights []float64, counts []uint64) *float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tests[experiment]
	if t == nil || !slices.Equal(t.variants, variants) || !slices.Equal(t.weights, weights) {
		test, err := srm.NewSequential(weights)
		if err != nil {
			delete(s.tests, experiment)
			return nil
		}
		t = &sequentialTest{variants: slices.Clone(variants), weights: slices.Clone(weights), test: test}
		if s.tests == nil {
			s.tests = make(map[string]*sequentialTest)
		}
		s.tests[experiment] = t
	}
	// Two reports made at once read their counts before taking the lock:
	// the later one may hold the lower counts. Update then refuses them
	// (ErrCountsDecreased) and keeps its state: the p-value stands.
	p, _ := t.test.Update(counts)
	return &p
}
