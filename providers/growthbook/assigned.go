package growthbook

import (
	"context"
	"strconv"
	"strings"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/exposurekit/exposure"
)

// Event properties the [Provider] attaches to every assignment it reports
// (through exposure.MetadataPropertyPrefix and its numbered form), so that
// the [Sink] can tell which GrowthBook experiment an exposure belongs to
// when one evaluation assigned several (a holdout and the experiment behind
// it). Exposure sinks that send an assignment's properties send them with
// the exposure, such as Mixpanel's $experiment_started.
const (
	// PropertyExperimentKey is the GrowthBook experiment key (string).
	PropertyExperimentKey = "GrowthBook experiment key"
	// PropertyVariationKey is the GrowthBook variation key (string).
	PropertyVariationKey = "GrowthBook variation key"
)

// maxRelated is the most experiments one evaluation reports besides the
// flag's own: the exposure package refuses an assignment with more.
const maxRelated = 16

// holdoutFeaturePrefix starts the id of the features GrowthBook generates
// for its holdouts ("$holdout:<id>"), which the features in a holdout name
// as a prerequisite.
const holdoutFeaturePrefix = "$holdout:"

// assigned is one experiment an evaluation put the subject in, as
// GrowthBook's own tracking records it: in the experiment by hashing,
// passthrough (holdout) variations included, forced and QA variations not.
// exp and res are GrowthBook's snapshot of the assignment, owned by the
// evaluation.
type assigned struct {
	exp *gb.Experiment
	res *gb.ExperimentResult
}

// collectorKey is the context key under which an evaluation collects the
// experiments GrowthBook records while it runs.
type collectorKey struct{}

// collect is the experiment callback of the Provider's silent client: it
// appends each experiment GrowthBook records during an evaluation to that
// evaluation (found in ctx), and reports nothing to anyone.
func collect(ctx context.Context, exp *gb.Experiment, res *gb.ExperimentResult, _ *gb.TrackingUserContext, _ any) {
	if ev, ok := ctx.Value(collectorKey{}).(*evaluation); ok && exp != nil && res != nil {
		ev.assigned = append(ev.assigned, assigned{exp: exp, res: res})
	}
}

// isHoldout reports whether exp is a holdout rather than the experiment a
// flag runs: an experiment of one of GrowthBook's "$holdout:" features, or
// an experiment with a passthrough variation (GrowthBook's way of writing
// a holdout inline, before the rule it holds out).
func isHoldout(exp *gb.Experiment, res *gb.ExperimentResult) bool {
	if strings.HasPrefix(res.FeatureId, holdoutFeaturePrefix) {
		return true
	}
	for _, m := range exp.Meta {
		if m.Passthrough {
			return true
		}
	}
	return false
}

// own returns the flag's own experiment: the experiment that decided the
// value, unless it is a holdout; counted says whether GrowthBook counts the
// subject in it (assigned by hashing: a forced or QA variation is not). The
// experiment and result are GrowthBook's snapshot when it recorded them.
func (ev *evaluation) own() (exp *gb.Experiment, res *gb.ExperimentResult, counted bool) {
	fr := ev.res
	if fr == nil || fr.Source != gb.ExperimentResultSource || fr.Experiment == nil || fr.ExperimentResult == nil {
		return nil, nil, false
	}
	if isHoldout(fr.Experiment, fr.ExperimentResult) {
		return nil, nil, false
	}
	// The deciding experiment is the last one GrowthBook recorded, if it
	// recorded it: prerequisites are evaluated before it, nothing after.
	if n := len(ev.assigned); n > 0 && sameAssignment(ev.assigned[n-1], fr) {
		return ev.assigned[n-1].exp, ev.assigned[n-1].res, true
	}
	return fr.Experiment, fr.ExperimentResult, false
}

func sameAssignment(a assigned, fr *gb.FeatureResult) bool {
	return a.exp.Key == fr.Experiment.Key && a.res.VariationId == fr.ExperimentResult.VariationId &&
		a.res.FeatureId == fr.ExperimentResult.FeatureId && a.res.HashValue == fr.ExperimentResult.HashValue
}

// related returns the other experiments the evaluation put the subject in
// (holdouts, experiments of prerequisite features), in the order GrowthBook
// evaluated them, at most maxRelated.
func (ev *evaluation) related() []assigned {
	out := ev.assigned
	if _, _, counted := ev.own(); counted {
		out = out[:len(out)-1]
	}
	return out[:min(len(out), maxRelated)]
}

// find returns the experiment with GrowthBook key key the evaluation put
// the subject in, preferring the one whose variation is named variation.
func (ev *evaluation) find(key, variation string) (assigned, bool) {
	var found assigned
	ok := false
	for _, a := range ev.assigned {
		if a.exp.Key != key {
			continue
		}
		if VariationName(a.res) == variation {
			return a, true
		}
		if !ok {
			found, ok = a, true
		}
	}
	return found, ok
}

// addRelated writes the numbered experiment metadata of the related
// experiments: "experiment.1.name", "experiment.1.variant",
// "experiment.1.inExperiment" and the GrowthBook keys as
// "experiment.1.property.…", then "experiment.2.…".
func addRelated(md openfeature.FlagMetadata, related []assigned) {
	for i, a := range related {
		prefix := "experiment." + strconv.Itoa(i+1) + "."
		md[prefix+"name"] = ExperimentName(a.exp)
		md[prefix+"variant"] = VariationName(a.res)
		md[prefix+"inExperiment"] = true
		md[prefix+"property."+PropertyExperimentKey] = a.exp.Key
		md[prefix+"property."+PropertyVariationKey] = a.res.Key
	}
}

// addOwnProperties writes the GrowthBook keys of the flag's own experiment
// as event properties of its assignment.
func addOwnProperties(md openfeature.FlagMetadata, exp *gb.Experiment, res *gb.ExperimentResult) {
	md[exposure.MetadataPropertyPrefix+PropertyExperimentKey] = exp.Key
	md[exposure.MetadataPropertyPrefix+PropertyVariationKey] = res.Key
}
