package audit

import (
	"fmt"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/gamma"
)

// Thresholds of the failure check of a [Report] ([FailureCheck]).
const (
	// FailurePValueThreshold is the p-value under which failure rates that
	// differ between variants are flagged.
	FailurePValueThreshold = 0.001
	// FailureMinAssignments is how many assignments every variant needs
	// before the failure rates are tested.
	FailureMinAssignments = 100
	// FailureMinFailures is how many failed assignments the experiment
	// needs, over all its variants, before the failure rates are tested.
	FailureMinFailures = 10
)

// FailureCheck compares the failure rates of an experiment's variants. A
// variant's failure rate is its assignments in failed requests (a status
// of 500 or more, or a panic), marked (failed_render) or not
// (failed_request), over its assignments (assigned). A variant that
// breaks the page, or slows it into timeouts, fails more often than the
// others: its results are then about the users who got through, and the
// variant itself needs fixing.
//
// The test is Pearson's chi-square test of homogeneity of the variants ×
// {failed, not failed} table, two-sided, with (variants - 1) degrees of
// freedom (for two variants it is the two-proportion z-test squared). It
// runs only when every variant has at least [FailureMinAssignments]
// assignments and the experiment at least [FailureMinFailures] failed
// ones, where the chi-square approximation holds, and flags below
// [FailurePValueThreshold]. It is a fixed-sample test read at every
// report, so the threshold is strict; a flag that comes and goes is worth
// a look at the failing variant's errors, not a verdict.
//
// By default the failed renders are exposed all the same (intent to
// treat; see exposure.WithDiscardFailedRenders), so a flag here does not
// bias the exposures: it says a variant hurts.
type FailureCheck struct {
	// Failed is failed_render plus failed_request, and Assigned is
	// assigned, summed over the variants.
	Failed   uint64 `json:"failed"`
	Assigned uint64 `json:"assigned"`
	// ChiSquare and PValue are the test's; null when it did not run (see
	// Note).
	ChiSquare *float64 `json:"chi_square"`
	PValue    *float64 `json:"p_value"`
	// DegreesOfFreedom is the number of variants minus one.
	DegreesOfFreedom int `json:"degrees_of_freedom"`
	// Flagged says the failure rates differ between variants; Reason says
	// how, in words.
	Flagged bool   `json:"flagged"`
	Reason  string `json:"reason,omitempty"`
	// Note says why the test did not run, if it did not.
	Note string `json:"note,omitempty"`
}

// failed returns the assignments of v in failed requests, at most its
// assignments (the counts are read one by one, not as a snapshot).
func failed(v *Variant) (failed, assigned uint64) {
	assigned = v.Counts[exposure.StageAssigned]
	return min(v.Counts[exposure.StageFailedRender]+v.Counts[exposure.StageFailedRequest], assigned), assigned
}

// checkFailures fills each variant's FailureRate and tests the rates.
func checkFailures(vs []Variant) FailureCheck {
	var c FailureCheck
	enough := len(vs) >= 2
	for i := range vs {
		f, n := failed(&vs[i])
		c.Failed += f
		c.Assigned += n
		vs[i].FailureRate = rate(f, n)
		if n < FailureMinAssignments {
			enough = false
		}
	}
	c.DegreesOfFreedom = max(len(vs)-1, 0)
	switch {
	case len(vs) < 2:
		c.Note = "fewer than two variants"
		return c
	case !enough:
		c.Note = fmt.Sprintf("tested only from %d assignments per variant", FailureMinAssignments)
		return c
	case c.Failed < FailureMinFailures:
		c.Note = fmt.Sprintf("tested only from %d failed assignments", FailureMinFailures)
		return c
	case c.Failed == c.Assigned:
		c.Note = "every assignment failed"
		return c
	}

	// Expected counts under equal rates: n_i·F/N failed, n_i·(N-F)/N not.
	total, bad := float64(c.Assigned), float64(c.Failed)
	chi2 := 0.0
	for i := range vs {
		f, n := failed(&vs[i])
		ef := float64(n) * bad / total
		eo := float64(n) * (total - bad) / total
		df, do := float64(f)-ef, float64(n-f)-eo
		chi2 += df*df/ef + do*do/eo
	}
	p, err := gamma.ChiSquareSurvival(chi2, len(vs)-1)
	if err != nil {
		c.Note = err.Error()
		return c
	}
	c.ChiSquare, c.PValue = &chi2, &p
	if p < FailurePValueThreshold {
		lo, hi := 0, 0
		for i := range vs {
			if *vs[i].FailureRate < *vs[lo].FailureRate {
				lo = i
			}
			if *vs[i].FailureRate > *vs[hi].FailureRate {
				hi = i
			}
		}
		c.Flagged = true
		c.Reason = fmt.Sprintf(
			"failure rates differ between variants (%s %.1f%%, %s %.1f%% of assignments in failed requests): chi-square %.2f, p = %.2g < %g. Does %s break the page? Its failed renders are still exposed, unless WithDiscardFailedRenders",
			vs[hi].Name, 100**vs[hi].FailureRate, vs[lo].Name, 100**vs[lo].FailureRate, chi2, p, FailurePValueThreshold, vs[hi].Name)
	}
	return c
}

// rate is n/d, or nil when d is 0.
func rate(n, d uint64) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}
