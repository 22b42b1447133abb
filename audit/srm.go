package audit

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/gamma"
)

// Thresholds of the sample-ratio check of a [Report].
const (
	// SRMPValueThreshold is the p-value under which a split is flagged as
	// a sample-ratio mismatch: the sequential p-value of the report
	// (SRMCheck.SequentialPValue), or the p-value of a one-off
	// [SampleRatio].
	SRMPValueThreshold = 0.001
	// SRMMinSubjects is how many exposed subjects every variant needs
	// before a chi-square p-value means much (SRMCheck.EnoughSubjects),
	// and how many assigned subjects a variant needs for its exposure rate
	// to be compared.
	SRMMinSubjects = 8
)

// ErrSampleRatio is wrapped by every error of [SampleRatio]: its input
// cannot be tested. The errors below it say why; test for them with
// [errors.Is].
var ErrSampleRatio = errors.New("audit: sample ratio cannot be tested")

// Why a sample ratio cannot be tested. Each error of [SampleRatio] wraps
// one of these and [ErrSampleRatio].
var (
	// ErrTooFewVariants: fewer than two variants, nothing to compare.
	ErrTooFewVariants = errors.New("fewer than two variants")
	// ErrNoObservations: every count is zero.
	ErrNoObservations = errors.New("no observations")
	// ErrNegativeCount: a count is negative.
	ErrNegativeCount = errors.New("negative count")
	// ErrInvalidWeight: a weight is not a positive finite number.
	ErrInvalidWeight = errors.New("invalid weight")
	// ErrMissingWeight: weights are given, but not for every observed
	// variant. Unlike the others this is a finding, not a lack of data:
	// exposures of a variant nobody planned.
	ErrMissingWeight = errors.New("variant has no weight")
)

// sampleRatioError is an error of SampleRatio: one of the reasons above
// and the sentence that says it for the input at hand.
type sampleRatioError struct {
	reason error
	detail string
}

func (e *sampleRatioError) Error() string   { return ErrSampleRatio.Error() + ": " + e.detail }
func (e *sampleRatioError) Unwrap() []error { return []error{ErrSampleRatio, e.reason} }

func cannotTest(reason error, format string, args ...any) error {
	return &sampleRatioError{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// SampleRatio tests observed counts per variant against the expected split
// (a sample-ratio-mismatch check): it returns Pearson's chi-square statistic
// and its p-value, the probability of a split at least this uneven if the
// variants were really assigned by weights. A p-value below
// [SRMPValueThreshold] on a reasonable sample means the split is broken:
// the assignment, the render site or the exposure logging favours a
// variant, and the experiment's results cannot be trusted.
//
// weights maps each variant to its expected share, in any unit (50/50,
// 0.5/0.5 and 1/1 are the same split); nil or empty expects an equal split.
// A variant in weights that is absent from observed counts as observed zero
// times. The p-value is the chi-square survival function with (variants - 1)
// degrees of freedom, computed as the regularized upper incomplete gamma
// function.
//
// SampleRatio is a fixed-sample test: its p-value is exact for one look
// at a sample size chosen before looking, such as the final analysis of a
// finished experiment. Recomputed again and again while counts grow, as a
// live page does, it raises false alarms far more often than its p-value
// says; the audit's live alarm is therefore a sequential, anytime-valid
// test (SRMCheck.SequentialPValue), whose p-value may be compared with
// the threshold at every look.
//
// When the input cannot be tested it returns an error wrapping
// [ErrSampleRatio] and the reason: [ErrTooFewVariants],
// [ErrNoObservations], [ErrNegativeCount], [ErrInvalidWeight] or
// [ErrMissingWeight].
func SampleRatio(observed map[string]int, weights map[string]float64) (chi2, p float64, err error) {
	variants := make([]string, 0, max(len(observed), len(weights)))
	total := 0.0
	for v, n := range observed {
		if n < 0 {
			return 0, 0, cannotTest(ErrNegativeCount, "variant %q has a negative count %d", v, n)
		}
		variants = append(variants, v)
		total += float64(n)
	}
	for v, w := range weights {
		if !(w > 0) || math.IsInf(w, 1) {
			return 0, 0, cannotTest(ErrInvalidWeight, "variant %q has weight %v; weights must be positive numbers", v, w)
		}
		if _, ok := observed[v]; !ok {
			variants = append(variants, v)
		}
	}
	if len(variants) < 2 {
		return 0, 0, cannotTest(ErrTooFewVariants, "%d variant(s); at least 2 are needed", len(variants))
	}
	if total == 0 {
		return 0, 0, cannotTest(ErrNoObservations, "no observations")
	}
	slices.Sort(variants) // a fixed summation order: the same answer every time
	sumW := 0.0
	if len(weights) > 0 {
		for _, v := range variants {
			w, ok := weights[v]
			if !ok {
				return 0, 0, cannotTest(ErrMissingWeight, "variant %q has no weight", v)
			}
			sumW += w
		}
	}
	for _, v := range variants {
		share := 1 / float64(len(variants))
		if sumW > 0 {
			share = weights[v] / sumW
		}
		expected := total * share
		d := float64(observed[v]) - expected
		chi2 += d * d / expected
	}
	p, err = gamma.ChiSquareSurvival(chi2, len(variants)-1)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrSampleRatio, err)
	}
	return chi2, p, nil
}

// weightsSource says where the expected split of an experiment comes from.
type weightsSource int

const (
	weightsUnknown      weightsSource = iota // none: an equal split is assumed
	weightsFromRegistry                      // exposure.Experiment.Weights
	weightsFromOption                        // audit.WithWeights
)

// equalSplitAssumed is the note of an experiment tested without weights.
const equalSplitAssumed = "no weights are known for this experiment, so an equal split was assumed: " +
	"if its planned split is not equal (a holdout, say), give it with audit.WithWeights, " +
	"or with exposure.Experiment.Weights if the experiment is registered"

// checkSRM runs the sample-ratio check on the variants of e and fills
// their expected and observed shares. The variants tested are those of
// weights and those with exposed subjects (all of them for an equal split).
// source says where weights come from, for the words of the check. It
// updates the experiment's sequential test.
func (a *Auditor) checkSRM(e *Experiment, weights map[string]float64, source weightsSource) SRMCheck {
	rateThreshold := a.cfg.rateThreshold
	c := SRMCheck{RateThreshold: rateThreshold, Reasons: []string{}, EqualSplitAssumed: source == weightsUnknown}
	observed := map[string]int{}
	total := 0
	// Both tests read the committed exposures, exact counts (one per subject
	// and variant in the dedupe window), not the estimated subjects: an
	// estimate's error does not shrink with the sample, and any test of
	// the split would end up flagging it.
	for _, v := range e.Variants {
		_, weighted := weights[v.Name]
		committed := v.Counts[exposure.StageCommitted]
		if len(weights) == 0 || weighted || committed > 0 {
			observed[v.Name] = int(min(committed, math.MaxInt32))
			total += observed[v.Name]
		}
	}
	sumW := 0.0
	for _, w := range weights {
		sumW += w
	}
	for i := range e.Variants {
		v := &e.Variants[i]
		if _, tested := observed[v.Name]; !tested {
			continue
		}
		if sumW > 0 {
			v.ExpectedShare = weights[v.Name] / sumW
		} else {
			v.ExpectedShare = 1 / float64(len(observed))
		}
		if total > 0 {
			v.ObservedShare = float64(observed[v.Name]) / float64(total)
		}
	}

	c.DegreesOfFreedom = max(len(observed)-1, 0)
	c.EnoughSubjects = len(observed) >= 2
	for _, n := range observed {
		if n < SRMMinSubjects {
			c.EnoughSubjects = false
		}
	}
	chi2, p, err := SampleRatio(observed, weights)
	if err == nil || errors.Is(err, ErrNoObservations) {
		c.SequentialPValue = a.sequential(e, observed, weights, sumW)
	}
	switch {
	case err == nil:
		c.ChiSquare, c.PValue = &chi2, &p
		if sp := c.SequentialPValue; sp != nil && *sp < SRMPValueThreshold {
			c.Flagged = true
			reason := fmt.Sprintf(
				"exposures split unlike the expected split: sequential p = %.2g < %g (chi-square %.2f, p = %.2g)", *sp, SRMPValueThreshold, chi2, p)
			if c.EqualSplitAssumed {
				reason += "; " + equalSplitAssumed
			}
			c.Reasons = append(c.Reasons, reason)
		}
	case errors.Is(err, ErrMissingWeight):
		// Not a lack of data: exposures of a variant the weights forgot.
		c.Flagged = true
		c.Note = noteOf(err)
		from := "Experiment.Weights"
		if source == weightsFromOption {
			from = "the weights given to audit.WithWeights"
		}
		c.Reasons = append(c.Reasons, "exposures of a variant missing from "+from+": "+c.Note)
	default:
		c.Note = noteOf(err)
	}
	if c.EqualSplitAssumed {
		if c.Note != "" {
			c.Note += "; "
		}
		c.Note += equalSplitAssumed
	}

	lo, hi := math.Inf(1), math.Inf(-1)
	var loName, hiName string
	rated := 0
	for _, v := range e.Variants {
		if v.ExposureRate == nil || v.SubjectsAssigned < SRMMinSubjects {
			continue
		}
		rated++
		if r := *v.ExposureRate; r < lo {
			lo, loName = r, v.Name
		}
		if r := *v.ExposureRate; r > hi {
			hi, hiName = r, v.Name
		}
	}
	if rated >= 2 {
		spread := hi - lo
		c.RateSpread = &spread
		if spread > rateThreshold {
			c.Flagged = true
			why := "is the variant marked at every render site?"
			if browserConfirmed(e) {
				why = "its exposures are confirmed by the browser: the likely cause is a beacon token on an element whose size or position differs by variant, so it is seen more often in one. Put the token on a slot element that is the same in every variant (see package beacon)"
			}
			c.Reasons = append(c.Reasons, fmt.Sprintf(
				"exposure rates differ by %.1f percentage points (%s %.1f%%, %s %.1f%%), more than %.1f: %s",
				100*spread, hiName, 100*hi, loName, 100*lo, 100*rateThreshold, why))
		}
	}
	return c
}

// sequential updates the sequential test of e's split of the tested
// variants (the keys of observed, the committed exposures) and returns its
// p-value.
func (a *Auditor) sequential(e *Experiment, observed map[string]int, weights map[string]float64, sumW float64) *float64 {
	names := slices.Sorted(maps.Keys(observed))
	ws := make([]float64, len(names))
	counts := make([]uint64, len(names))
	for i, name := range names {
		ws[i] = 1
		if sumW > 0 {
			ws[i] = weights[name] / sumW
		}
		counts[i] = uint64(observed[name])
	}
	return a.seq.update(e.Name, names, ws, counts)
}

// browserConfirmed reports whether e's exposures are confirmed by another
// party (the beacon): some of its assignments were handed off.
func browserConfirmed(e *Experiment) bool {
	for _, v := range e.Variants {
		if v.Counts[exposure.StageHandedOff] > 0 {
			return true
		}
	}
	return false
}

// noteOf says in words why a split could not be tested.
func noteOf(err error) string {
	if why, ok := errors.AsType[*sampleRatioError](err); ok {
		return why.detail
	}
	return err.Error()
}
