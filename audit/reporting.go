package audit

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/latency"
	"github.com/exposurekit/exposure/internal/tally"
)

// Report returns the report of tracker, the Tracker the Auditor observes:
// its totals and sinks from [exposure.Tracker.Stats], its registered
// experiments and their weights from [exposure.Tracker.Experiments], and
// the per-experiment and per-variant figures from the Auditor's accounts.
// With a nil tracker it has the Auditor's accounts only: no totals, no
// sinks, and every experiment unregistered.
//
// It reads the counters without stopping the request path: counts taken
// together are not an atomic snapshot.
func (a *Auditor) Report(tracker *exposure.Tracker) Report {
	var (
		st         exposure.Stats
		registered []exposure.Experiment
	)
	if tracker != nil {
		st, registered = tracker.Stats(), tracker.Experiments()
	}
	r := Report{
		GeneratedAt: time.Now(),
		IDsMasked:   !a.cfg.showIDs,
		Totals:      StageCounts{},
		Skipped: SkippedEvaluations{
			Unscoped:  a.table.Skipped.Unscoped.Load(),
			NoSubject: a.table.Skipped.NoSubject.Load(),
			Other:     a.table.Skipped.Other.Load(),
		},
		Experiments:     []Experiment{},
		UnassignedMarks: []FlagCount{},
		Sinks:           make([]Sink, 0, len(st.Sinks)),
		Recent:          []RecentExposure{},
		Untracked:       a.table.Untracked(),
	}
	if tracker != nil {
		r.Totals = countsOf(allStages, func(s exposure.Stage) uint64 { return st.Counts[s] })
	}

	unassigned := a.table.UnassignedMarks()
	for flag, n := range unassigned {
		r.UnassignedMarks = append(r.UnassignedMarks, FlagCount{Flag: flag, Count: n})
	}
	slices.SortFunc(r.UnassignedMarks, func(x, y FlagCount) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return strings.Compare(x.Flag, y.Flag)
	})

	seen := make(map[string]bool, len(registered))
	for _, e := range registered {
		seen[e.Name] = true
		r.Experiments = append(r.Experiments, a.experiment(e, true, unassigned))
	}
	for _, te := range a.table.Experiments() {
		if !seen[te.Name] {
			r.Experiments = append(r.Experiments, a.experiment(exposure.Experiment{Name: te.Name, FlagKey: te.FlagKey}, false, unassigned))
		}
	}

	recent, total := a.recent.NewestFirst()
	r.RecentTotal = total
	for _, e := range recent {
		r.Recent = append(r.Recent, RecentExposure{
			Event:   "$experiment_started",
			FlagKey: e.flagKey,
			Properties: EventProperties{
				Experiment: e.experiment, Variant: e.variant,
				DistinctID: a.mask.apply(e.identity.DistinctID),
				DeviceID:   a.mask.apply(e.identity.DeviceID),
				UserID:     a.mask.apply(e.identity.UserID),
				Time:       e.time.UnixMilli(),
				// Unkeyed SHA-256 of the distinct id and of the row's other
				// properties: it would give the id away (see idMask).
				InsertID: a.mask.apply(e.insertID),
			},
		})
	}

	// A sink's error is free text: mask what in it could name a subject
	// of the recent exposures (Mixpanel names refused events by insert id).
	var ids []string
	if !a.cfg.showIDs {
		ids = make([]string, 0, 3*len(recent))
		for _, e := range recent {
			ids = append(ids, e.identity.DistinctID, e.identity.DeviceID, e.identity.UserID)
		}
	}
	for _, s := range st.Sinks {
		sk := Sink{
			Name:       s.Name,
			Counts:     countsOf(sinkStages, func(stage exposure.Stage) uint64 { return s.Counts[stage] }),
			QueueDepth: s.Depth,
			LastError:  a.mask.text(s.LastError, ids),
			// From the events: Stats has the error, the events its time.
			LastErrorAt: a.failed.at(s.Name),
		}
		sk.Pending = tally.Pending(func(stage exposure.Stage) uint64 { return s.Counts[stage] })
		r.Sinks = append(r.Sinks, sk)
	}
	return r
}

// experiment reports one experiment: the variants of its weights first
// (sorted, so that they show before any traffic), then the others the
// Auditor saw, as first seen.
func (a *Auditor) experiment(e exposure.Experiment, registered bool, unassigned map[string]uint64) Experiment {
	source := weightsFromRegistry
	if len(e.Weights) == 0 {
		e.Weights, source = a.cfg.weights[e.Name], weightsFromOption
		if len(e.Weights) == 0 {
			source = weightsUnknown
		}
	}
	x := Experiment{
		Name: e.Name, FlagKey: e.FlagKey, Registered: registered,
		Variants: []Variant{}, UnassignedMarks: unassigned[e.FlagKey],
	}
	var seen []*tally.Variant[latency.Histogram]
	if te := a.table.Find(e.Name); te != nil {
		seen = te.Variants.All()
	}
	for _, name := range slices.Sorted(maps.Keys(e.Weights)) {
		i := slices.IndexFunc(seen, func(v *tally.Variant[latency.Histogram]) bool { return v.Name == name })
		if i < 0 {
			x.Variants = append(x.Variants, Variant{Name: name, Counts: countsOf(variantStages, func(exposure.Stage) uint64 { return 0 })})
			continue
		}
		x.Variants = append(x.Variants, variantOf(seen[i]))
	}
	for _, v := range seen {
		if _, weighted := e.Weights[v.Name]; !weighted {
			x.Variants = append(x.Variants, variantOf(v))
		}
	}
	x.SRM = a.checkSRM(&x, e.Weights, source)
	x.Failures = checkFailures(x.Variants)
	x.Crossovers = checkCrossovers(x.Variants)
	for _, v := range x.Variants {
		x.Bots += v.Counts[exposure.StageBot]
	}
	return x
}

func variantOf(v *tally.Variant[latency.Histogram]) Variant {
	r := Variant{
		Name:             v.Name,
		Counts:           countsOf(variantStages, v.Counts.Load),
		SubjectsAssigned: v.SubjectsAssigned.Estimate(),
		SubjectsExposed:  v.SubjectsExposed.Estimate(),
	}
	r.ExposureRate = rate(r.SubjectsExposed, r.SubjectsAssigned)
	r.BotShare = rate(r.Counts[exposure.StageBot], r.Counts[exposure.StageMarked])
	if ms, ok := v.Ext.Median(); ok {
		r.MedianRenderMillis = &ms
	}
	return r
}
