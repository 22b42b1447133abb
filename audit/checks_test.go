package audit_test

// The checks of a report, fed events directly: an Auditor is an Observer,
// and these are the events the pipeline reports.

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
)

// feed feeds an Auditor the events of one experiment ("E", no weights:
// an equal split), each about a subject of its own.
type feed struct {
	aud  *audit.Auditor
	next int
}

func newEvents(t *testing.T, opts ...audit.Option) *feed {
	t.Helper()
	aud, err := audit.NewAuditor(opts...)
	require.NoError(t, err)
	return &feed{aud: aud}
}

// add reports n events of stage about variant, each about a new subject.
func (e *feed) add(variant string, stage exposure.Stage, n int) *feed {
	for range n {
		e.next++
		e.aud.Observe(exposure.Event{Stage: stage, Count: 1, Exposure: exposure.Exposure{Assignment: exposure.Assignment{
			FlagKey: "f", Experiment: "E", Variant: variant,
			Identity: exposure.Identity{DistinctID: fmt.Sprint("s", e.next)},
		}}})
	}
	return e
}

func (e *feed) experiment(t *testing.T) audit.Experiment {
	t.Helper()
	return findExperiment(t, e.aud.Report(nil), "E")
}

// variantCounts are the assignments and failures of one variant.
type variantCounts struct {
	name                          string
	assigned, failedRender, other int // other: failed_request
}

func TestFailureCheck(t *testing.T) {
	cases := []struct {
		name     string
		variants []variantCounts
		tested   bool
		flagged  bool
		chi2, p  float64 // when tested; p from erfc or e^(-x/2), computed apart
		note     string
	}{
		{"100 each, 20% of B failed", []variantCounts{{"A", 100, 0, 0}, {"B", 100, 15, 5}},
			true, true, 200.0 / 9, 2.4284674729758403e-06, ""},
		{"one variant at 99 assignments", []variantCounts{{"A", 99, 0, 0}, {"B", 100, 15, 5}},
			false, false, 0, 0, "100 assignments per variant"},
		// Three variants of 100, every failure in one: df=2, chi2 = 20 + 20/29.
		{"10 failures: tested", []variantCounts{{"A", 100, 0, 0}, {"B", 100, 0, 0}, {"C", 100, 10, 0}},
			true, true, 20 + 20.0/29, math.Exp(-(20 + 20.0/29) / 2), ""},
		{"9 failures: not yet", []variantCounts{{"A", 100, 0, 0}, {"B", 100, 0, 0}, {"C", 100, 9, 0}},
			false, false, 0, 0, "10 failed assignments"},
		// Two variants of 100, 10 failures in one: chi2 = 200/19, p = 0.0012.
		{"a difference short of the threshold", []variantCounts{{"A", 100, 0, 0}, {"B", 100, 5, 5}},
			true, false, 200.0 / 19, math.Erfc(math.Sqrt(100.0 / 19)), ""},
		{"equal rates", []variantCounts{{"A", 200, 5, 5}, {"B", 200, 10, 0}}, true, false, 0, 1, ""},
		{"every assignment failed", []variantCounts{{"A", 100, 100, 0}, {"B", 100, 0, 100}}, false, false, 0, 0, "every assignment failed"},
		{"one variant", []variantCounts{{"A", 500, 50, 0}}, false, false, 0, 0, "fewer than two variants"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := newEvents(t)
			for _, v := range c.variants {
				ev.add(v.name, exposure.StageAssigned, v.assigned).
					add(v.name, exposure.StageFailedRender, v.failedRender).
					add(v.name, exposure.StageFailedRequest, v.other)
			}
			exp := ev.experiment(t)
			f := exp.Failures
			assert.Equal(t, c.flagged, f.Flagged, "%+v", f)
			assert.Equal(t, c.flagged, f.Reason != "")
			if !c.tested {
				assert.Nil(t, f.PValue)
				assert.Contains(t, f.Note, c.note)
			} else {
				require.NotNil(t, f.PValue)
				assert.InDelta(t, c.chi2, *f.ChiSquare, 1e-9)
				assert.InDelta(t, c.p, *f.PValue, 1e-12)
				assert.Empty(t, f.Note)
			}
			var assigned, failed uint64
			for _, v := range c.variants {
				got := findVariant(t, exp, v.name)
				require.NotNil(t, got.FailureRate)
				assert.InDelta(t, float64(v.failedRender+v.other)/float64(v.assigned), *got.FailureRate, 1e-12)
				assert.Equal(t, uint64(v.failedRender), got.Counts[exposure.StageFailedRender])
				assert.Equal(t, uint64(v.other), got.Counts[exposure.StageFailedRequest])
				assigned += uint64(v.assigned)
				failed += uint64(v.failedRender + v.other)
			}
			assert.Equal(t, assigned, f.Assigned)
			assert.Equal(t, failed, f.Failed)
			if c.flagged {
				assert.Contains(t, f.Reason, "failure rates differ")
			}
		})
	}
}

func TestCrossoverCheck(t *testing.T) {
	cases := []struct {
		name                      string
		committedA, committedB    int
		crossedIntoA, crossedIntB int
		share                     float64 // -1: null
		flagged                   bool
	}{
		{"none", 500, 500, 0, 0, 0, false},
		{"exactly 1%: not above", 500, 500, 5, 5, 0.01, false},
		{"just above 1% with 10", 500, 499, 5, 5, 10.0 / 999, true},
		{"above 1% with 9", 200, 200, 9, 0, 9.0 / 400, false},
		{"above 1% with 10", 200, 200, 9, 1, 10.0 / 400, true},
		{"no exposure yet", 0, 0, 0, 0, -1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := newEvents(t).
				add("A", exposure.StageCommitted, c.committedA).add("B", exposure.StageCommitted, c.committedB).
				add("A", exposure.StageCrossover, c.crossedIntoA).add("B", exposure.StageCrossover, c.crossedIntB).
				add("A", exposure.StageAssigned, 1).add("B", exposure.StageAssigned, 1)
			exp := ev.experiment(t)
			x := exp.Crossovers
			assert.Equal(t, uint64(c.crossedIntoA+c.crossedIntB), x.Crossovers)
			assert.Equal(t, uint64(c.committedA+c.committedB), x.Committed)
			if c.share < 0 {
				assert.Nil(t, x.Share)
			} else {
				require.NotNil(t, x.Share)
				assert.InDelta(t, c.share, *x.Share, 1e-12)
			}
			assert.Equal(t, c.flagged, x.Flagged, "%+v", x)
			assert.Equal(t, c.flagged, strings.Contains(x.Reason, "another variant"))
			assert.Equal(t, uint64(c.crossedIntoA), findVariant(t, exp, "A").Counts[exposure.StageCrossover], "crossed into A")
			assert.Equal(t, uint64(c.crossedIntB), findVariant(t, exp, "B").Counts[exposure.StageCrossover], "crossed into B")
		})
	}
}

func TestBotMarksAreCountedPerVariant(t *testing.T) {
	ev := newEvents(t).
		add("A", exposure.StageMarked, 100).add("A", exposure.StageBot, 10).
		add("B", exposure.StageMarked, 100).add("B", exposure.StageBot, 30)
	exp := ev.experiment(t)
	assert.Equal(t, uint64(40), exp.Bots)
	for name, share := range map[string]float64{"A": 0.1, "B": 0.3} {
		v := findVariant(t, exp, name)
		require.NotNil(t, v.BotShare)
		assert.InDelta(t, share, *v.BotShare, 1e-12)
	}
	assert.Nil(t, findVariant(t, newEvents(t).add("A", exposure.StageAssigned, 1).experiment(t), "A").BotShare, "no mark yet")
}

// The live alarm is the sequential p-value: a split the fixed-sample
// chi-square calls a mismatch on one look is not flagged until the
// sequential test says so; its p-value never rises while the split is
// the same, and starts over when a variant appears. The reference values
// are ln BF of Lindon and Malek's test (k = 100), computed apart in
// Python with math.lgamma.
func TestSRMFlagsByTheSequentialPValue(t *testing.T) {
	cases := []struct {
		name       string
		a, b       int
		chiP, seqP float64
		flagged    bool
	}{
		{"60/20: chi-square below 0.001, sequential not", 60, 20, 7.744216431044074e-06, 0.01481403589912928, false},
		{"150/50: both", 150, 50, 1.5374597944280351e-12, 6.839532833163351e-08, true},
		{"100/100: neither", 100, 100, 1, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			exp := newEvents(t).add("A", exposure.StageCommitted, c.a).add("B", exposure.StageCommitted, c.b).experiment(t)
			require.NotNil(t, exp.SRM.PValue)
			require.NotNil(t, exp.SRM.SequentialPValue)
			assert.InEpsilon(t, c.chiP, *exp.SRM.PValue, 1e-6)
			assert.InEpsilon(t, c.seqP, *exp.SRM.SequentialPValue, 1e-6)
			assert.Equal(t, c.flagged, exp.SRM.Flagged, "%v", exp.SRM.Reasons)
			if c.flagged {
				assert.Contains(t, strings.Join(exp.SRM.Reasons, " "), "sequential p")
			}
		})
	}

	t.Run("state kept between reports", func(t *testing.T) {
		ev := newEvents(t).add("A", exposure.StageCommitted, 150).add("B", exposure.StageCommitted, 50)
		first := *ev.experiment(t).SRM.SequentialPValue
		assert.InEpsilon(t, 6.839532833163351e-08, first, 1e-6)
		// B catches up: the counts alone would say 1, the test remembers.
		ev.add("B", exposure.StageCommitted, 100)
		again := ev.experiment(t).SRM
		assert.InEpsilon(t, first, *again.SequentialPValue, 1e-12)
		assert.InDelta(t, 1, *again.PValue, 1e-12, "chi-square of 150/150")
		assert.True(t, again.Flagged, "a mismatch seen stays flagged")
		// A third variant: a new split, a new test (of 150/150/100).
		ev.add("C", exposure.StageCommitted, 100)
		three := ev.experiment(t).SRM
		fresh := newEvents(t).add("A", exposure.StageCommitted, 150).add("B", exposure.StageCommitted, 150).
			add("C", exposure.StageCommitted, 100).experiment(t).SRM
		assert.InEpsilon(t, *fresh.SequentialPValue, *three.SequentialPValue, 1e-12)
	})
}

// An exposure-rate gap on an experiment whose exposures the browser
// confirms (handed off) names the beacon's usual cause.
func TestRateSpreadNamesTheLikelyCause(t *testing.T) {
	for _, handedOff := range []bool{false, true} {
		t.Run(fmt.Sprint("handed off ", handedOff), func(t *testing.T) {
			aud, err := audit.NewAuditor()
			require.NoError(t, err)
			// 20 subjects per variant; all of A's exposed, 5 of B's.
			for i := range 40 {
				a := exposure.Assignment{FlagKey: "f", Experiment: "E", Variant: []string{"A", "B"}[i%2],
					Identity: exposure.Identity{DistinctID: fmt.Sprint("s", i)}}
				stages := []exposure.Stage{exposure.StageAssigned}
				if handedOff {
					stages = append(stages, exposure.StageHandedOff)
				}
				if a.Variant == "A" || i%8 == 1 {
					stages = append(stages, exposure.StageCommitted)
				}
				for _, s := range stages {
					aud.Observe(exposure.Event{Stage: s, Count: 1, Exposure: exposure.Exposure{Assignment: a}})
				}
			}
			srm := findExperiment(t, aud.Report(nil), "E").SRM
			require.True(t, srm.Flagged)
			require.NotNil(t, srm.RateSpread)
			assert.InDelta(t, 0.75, *srm.RateSpread, 1e-12)
			reasons := strings.Join(srm.Reasons, " ")
			assert.Contains(t, reasons, "exposure rates differ")
			assert.Equal(t, handedOff, strings.Contains(reasons, "slot element that is the same in every variant"), reasons)
			assert.Equal(t, !handedOff, strings.Contains(reasons, "marked at every render site"), reasons)
		})
	}
}
