package tally

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/hll"
)

// Bounds of a [Table]. Past them events are still counted by the Tracker
// and still delivered; they are left out of the per-experiment accounts
// and counted by [Table.Untracked].
const (
	MaxExperiments = 128
	MaxVariants    = 16 // per experiment
	MaxFlags       = 256
)

// OtherFlags stands for the flags past [MaxFlags] in [Table.UnassignedMarks].
const OtherFlags = "(other flags)"

// A Variant is the account of one variant of one experiment. X is what
// the package that keeps the Table adds to it, such as a latency
// histogram or a metric attribute set.
type Variant[X any] struct {
	// Name is the variant name (Mixpanel "Variant name").
	Name string
	// Counts counts the events about the variant by stage: the stages
	// for which [AboutVariant] is true.
	Counts Stages
	// SubjectsAssigned counts distinct subjects (by distinct id) of
	// StageAssigned events; SubjectsExposed of StageCommitted events.
	SubjectsAssigned hll.Counter
	SubjectsExposed  hll.Counter
	// Ext is the keeper's own part of the account.
	Ext X
}

// An Experiment is the account of one experiment: its variants, in the
// order they were first seen.
type Experiment[X any] struct {
	// Name is the canonical experiment name (Mixpanel "Experiment name").
	Name string
	// FlagKey is the flag of the experiment's first event.
	FlagKey  string
	Variants *Index[Variant[X]]
}

// A Table keeps the accounts of every experiment and variant seen in
// events, and the unassigned marks by flag. It is safe for concurrent use.
type Table[X any] struct {
	seed    maphash.Seed
	initExt func(experiment, variant string, ext *X)

	exps       *Index[Experiment[X]]
	flags      *Index[atomic.Uint64] // unassigned marks by flag
	otherFlags atomic.Uint64
	untracked  atomic.Uint64

	// Skipped counts the StageSkipped events by reason.
	Skipped SkipReasons
}

// NewTable returns an empty Table. initExt, if not nil, sets up the Ext
// of each new variant; it runs once per variant, off the hot path.
func NewTable[X any](initExt func(experiment, variant string, ext *X)) *Table[X] {
	return &Table[X]{
		seed:    maphash.MakeSeed(),
		initExt: initExt,
		exps:    NewIndex[Experiment[X]](MaxExperiments),
		flags:   NewIndex[atomic.Uint64](MaxFlags),
	}
}

// AboutVariant reports whether events of stage s carry an assignment, and
// so are counted per variant: StageAssigned, StageReverted, StageMarked,
// StageHandedOff, StageDiscarded, StageFailedRender, StageFailedRequest,
// StageBot, StageCommitted, StageDuplicate, StageCrossover,
// StageDedupeError, StageQueued and StageDropped. The other stages concern
// a flag (evaluated, skipped, unassigned mark), a claim of the in-memory
// deduper (evicted), a batch of a sink (delivered, retried, failed,
// undelivered) or the Tracker (closed).
func AboutVariant(s exposure.Stage) bool {
	switch s {
	case exposure.StageAssigned, exposure.StageReverted, exposure.StageMarked,
		exposure.StageHandedOff, exposure.StageDiscarded,
		exposure.StageFailedRender, exposure.StageFailedRequest, exposure.StageBot,
		exposure.StageCommitted, exposure.StageDuplicate, exposure.StageCrossover,
		exposure.StageDedupeError, exposure.StageQueued, exposure.StageDropped:
		return true
	}
	return false
}

// Record accounts ev: by variant for the stages [AboutVariant] names,
// by flag for StageUnassignedMark, by reason for StageSkipped. It returns
// the account of the event's variant, or nil when the event is about no
// variant or one past the bounds. It does not allocate once the
// experiment and variant were seen.
func (t *Table[X]) Record(ev *exposure.Event) *Variant[X] {
	switch ev.Stage {
	case exposure.StageUnassignedMark:
		t.unassignedMark(ev.Exposure.FlagKey)
		return nil
	case exposure.StageSkipped:
		t.Skipped.add(ev.Err)
		return nil
	}
	if !AboutVariant(ev.Stage) {
		return nil
	}
	a := &ev.Exposure.Assignment
	v := t.variant(a)
	if v == nil {
		t.untracked.Add(uint64(max(ev.Count, 0)))
		return nil
	}
	v.Counts.Add(ev.Stage, ev.Count)
	switch ev.Stage {
	case exposure.StageAssigned:
		v.SubjectsAssigned.Add(maphash.String(t.seed, a.Identity.DistinctID))
	case exposure.StageCommitted:
		v.SubjectsExposed.Add(maphash.String(t.seed, a.Identity.DistinctID))
	}
	return v
}

// variant finds (or adds) the account of a's experiment and variant; nil
// past the bounds.
func (t *Table[X]) variant(a *exposure.Assignment) *Variant[X] {
	e := t.exps.Find(a.Experiment)
	if e == nil {
		e = t.exps.Add(a.Experiment, &Experiment[X]{
			Name: a.Experiment, FlagKey: a.FlagKey,
			Variants: NewIndex[Variant[X]](MaxVariants),
		})
		if e == nil {
			return nil
		}
	}
	if v := e.Variants.Find(a.Variant); v != nil {
		return v
	}
	v := &Variant[X]{Name: a.Variant}
	if t.initExt != nil {
		t.initExt(e.Name, a.Variant, &v.Ext)
	}
	return e.Variants.Add(a.Variant, v)
}

func (t *Table[X]) unassignedMark(flagKey string) {
	n := t.flags.Find(flagKey)
	if n == nil {
		n = t.flags.Add(flagKey, new(atomic.Uint64))
	}
	if n == nil {
		t.otherFlags.Add(1)
		return
	}
	n.Add(1)
}

// Sum returns the count of stage s summed over the experiment's variants.
func (e *Experiment[X]) Sum(s exposure.Stage) uint64 {
	var n uint64
	for _, v := range e.Variants.All() {
		n += v.Counts.Load(s)
	}
	return n
}

// Experiments returns the experiments in the order they were first seen.
// The slice is shared: read it, do not modify it.
func (t *Table[X]) Experiments() []*Experiment[X] { return t.exps.All() }

// Find returns the account of the named experiment, or nil.
func (t *Table[X]) Find(experiment string) *Experiment[X] { return t.exps.Find(experiment) }

// UnassignedMarks returns the unassigned marks (StageUnassignedMark) by
// flag key; the flags past [MaxFlags] are summed under [OtherFlags].
func (t *Table[X]) UnassignedMarks() map[string]uint64 {
	s := t.flags.snap.Load()
	m := make(map[string]uint64, len(s.keys)+1)
	for i, k := range s.keys {
		m[k] = s.vals[i].Load()
	}
	if n := t.otherFlags.Load(); n > 0 {
		m[OtherFlags] += n
	}
	return m
}

// Untracked returns how many events about a variant were left out because
// their experiment or variant was past the bounds.
func (t *Table[X]) Untracked() uint64 { return t.untracked.Load() }
