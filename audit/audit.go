package exposure

import (
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Audit defaults; see [WithDebugRecent] and [WithSRMRateThreshold].
const (
	DefaultDebugRecent      = 100
	DefaultSRMRateThreshold = 0.10
	// SRMPValueThreshold is the p-value under which a split is flagged as
	// a sample-ratio mismatch.
	SRMPValueThreshold = 0.001
	// SRMMinSubjects is how many exposed subjects every variant needs
	// before a split is judged.
	SRMMinSubjects = 8
)

// Bounds on what the audit tracks, so that a provider inventing experiment
// or variant names cannot grow memory without limit. Past them, evaluations
// are still assignments and still delivered; they are only left out of the
// per-experiment accounting (and counted in untracked).
const (
	auditMaxExperiments = 128
	auditMaxVariants    = 16
	auditMaxFlags       = 256 // unassigned marks are counted per flag
)

type auditConfig struct {
	showIDs       bool
	recent        int
	recentSet     bool
	rateThreshold float64
	meterProvider metric.MeterProvider
}

// WithDebugShowIDs shows distinct ids, device ids and user ids unmasked in
// [Tracker.DebugHandler]. By default they are replaced by a keyed hash
// ("masked:1a2b3c4d", the same for one id within the process, so rows of one
// subject can still be matched), because the page is often shared.
func WithDebugShowIDs(show bool) Option {
	return func(c *config) error {
		c.audit.showIDs = show
		return nil
	}
}

// WithDebugRecent sets how many recent exposures [Tracker.DebugHandler]
// keeps to show, in a ring buffer. Default [DefaultDebugRecent]; 0 keeps none.
func WithDebugRecent(n int) Option {
	return func(c *config) error {
		if n < 0 || n > 100_000 {
			return fmt.Errorf("%w: WithDebugRecent: %d is outside 0..100000", ErrInvalidConfig, n)
		}
		c.audit.recent, c.audit.recentSet = n, true
		return nil
	}
}

// WithSRMRateThreshold sets how far apart, in absolute terms, the exposure
// rates (exposed subjects / assigned subjects) of an experiment's variants
// may be before the sample-ratio check flags the experiment. Default
// [DefaultSRMRateThreshold], 10 percentage points. A render site that marks
// one variant and not the other produces exactly this mismatch.
func WithSRMRateThreshold(f float64) Option {
	return func(c *config) error {
		if !(f > 0 && f <= 1) {
			return fmt.Errorf("%w: WithSRMRateThreshold: %v is outside (0, 1]", ErrInvalidConfig, f)
		}
		c.audit.rateThreshold = f
		return nil
	}
}

// auditor keeps the per-experiment accounting of a Tracker: what
// DebugHandler shows and the metrics report. Its request-path methods cost
// a few atomic operations and no allocation once an experiment's variant is
// known.
type auditor struct {
	cfg  auditConfig
	seed maphash.Seed

	// exps is copied on write: readers on the request path load it without
	// a lock. Registered experiments are in it from the start.
	exps   atomic.Pointer[expIndex]
	order  []*expAudit // in the order they were first seen; under mu
	mu     sync.Mutex
	byFlag map[string]string // registered flag -> experiment name

	flagsMu    sync.Mutex
	unassigned map[string]uint64 // flag -> marks without assignment
	otherFlags uint64            // unassigned marks past auditMaxFlags

	untracked atomic.Uint64 // events past the experiment or variant bounds

	recent recentRing

	metrics metric.Registration
}

// expIndex finds an experiment's accounting by name: by a scan while there
// are few (registered names are the same strings every time, so most
// comparisons stop at the pointer), by a map beyond.
type expIndex struct {
	list   []*expAudit
	byName map[string]*expAudit
}

const expIndexScan = 8

func (x *expIndex) find(name string) *expAudit {
	if len(x.list) <= expIndexScan {
		for _, e := range x.list {
			if e.name == name {
				return e
			}
		}
		return nil
	}
	return x.byName[name]
}

type expAudit struct {
	name       string
	flagKey    string
	registered bool
	weights    map[string]float64

	variants atomic.Pointer[[]*variantAudit] // copied on write
	mu       sync.Mutex
}

// variantAudit is the accounting of one variant of one experiment.
type variantAudit struct {
	name string

	assignments, exposures, duplicates, drops atomic.Uint64

	subjectsAssigned distinctCounter
	subjectsExposed  distinctCounter
	toRender         latencyHistogram

	attrs metric.MeasurementOption // experiment and variant, for metrics
}

// startAudit sets up the Tracker's accounting and its metrics; stopAudit
// unregisters the metrics.
func (t *Tracker) startAudit(c *config) error {
	t.audit = newAuditor(c.audit, c.experiments)
	if mp := c.audit.meterProvider; mp != nil {
		reg, err := t.registerMetrics(mp)
		if err != nil {
			return err
		}
		t.audit.metrics = reg
	}
	return nil
}

func (t *Tracker) stopAudit() {
	if r := t.audit.metrics; r != nil {
		if err := r.Unregister(); err != nil {
			t.log.Warn("exposure: unregistering metrics", "err", err)
		}
	}
}

func newAuditor(cfg auditConfig, exps []Experiment) *auditor {
	if !cfg.recentSet {
		cfg.recent = DefaultDebugRecent
	}
	if cfg.rateThreshold == 0 {
		cfg.rateThreshold = DefaultSRMRateThreshold
	}
	a := &auditor{
		cfg: cfg, seed: maphash.MakeSeed(),
		byFlag:     make(map[string]string, len(exps)),
		unassigned: make(map[string]uint64),
	}
	a.recent.slots = make([]atomic.Pointer[Exposure], cfg.recent)
	x := &expIndex{byName: make(map[string]*expAudit, len(exps))}
	for _, e := range exps {
		ea := &expAudit{name: e.Name, flagKey: e.FlagKey, registered: true, weights: e.Weights}
		var vs []*variantAudit
		// The variants of the expected split are shown before any traffic.
		for _, v := range slices.Sorted(maps.Keys(e.Weights)) {
			if len(vs) < auditMaxVariants {
				vs = append(vs, newVariantAudit(e.Name, v))
			}
		}
		ea.variants.Store(&vs)
		x.byName[e.Name] = ea
		x.list = append(x.list, ea)
		a.order = append(a.order, ea)
		a.byFlag[e.FlagKey] = e.Name
	}
	a.exps.Store(x)
	return a
}

func newVariantAudit(experiment, variant string) *variantAudit {
	v := &variantAudit{name: variant}
	v.attrs = metricAttrs(experiment, variant)
	return v
}

// variant finds (or adds) the accounting of a's experiment and variant; nil
// past the bounds.
func (au *auditor) variant(a *Assignment) *variantAudit {
	e := au.exps.Load().find(a.Experiment)
	if e == nil {
		if e = au.addExperiment(a); e == nil {
			return nil
		}
	}
	for _, v := range *e.variants.Load() {
		if v.name == a.Variant {
			return v
		}
	}
	return e.addVariant(a.Variant)
}

func (au *auditor) addExperiment(a *Assignment) *expAudit {
	au.mu.Lock()
	defer au.mu.Unlock()
	old := au.exps.Load()
	if e := old.find(a.Experiment); e != nil {
		return e
	}
	if len(old.list) >= auditMaxExperiments {
		return nil
	}
	e := &expAudit{name: a.Experiment, flagKey: a.FlagKey}
	e.variants.Store(new([]*variantAudit))
	x := &expIndex{list: append(slices.Clip(old.list), e), byName: maps.Clone(old.byName)}
	x.byName[a.Experiment] = e
	au.order = append(au.order, e)
	au.exps.Store(x)
	return e
}

func (e *expAudit) addVariant(name string) *variantAudit {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.variants.Load()
	for _, v := range old {
		if v.name == name {
			return v
		}
	}
	if len(old) >= auditMaxVariants {
		return nil
	}
	vs := append(old[:len(old):len(old)], newVariantAudit(e.name, name))
	e.variants.Store(&vs)
	return vs[len(vs)-1]
}

func (au *auditor) subjectHash(a *Assignment) uint64 {
	return maphash.String(au.seed, a.Identity.DistinctID)
}

// assigned counts an assignment recorded in a scope.
func (au *auditor) assigned(a *Assignment) {
	v := au.variant(a)
	if v == nil {
		au.untracked.Add(1)
		return
	}
	v.assignments.Add(1)
	v.subjectsAssigned.add(au.subjectHash(a))
}

// duplicate counts an exposure suppressed by the deduper.
func (au *auditor) duplicate(a *Assignment) {
	if v := au.variant(a); v != nil {
		v.duplicates.Add(1)
	} else {
		au.untracked.Add(1)
	}
}

// dropped counts an exposure a sink's queue refused.
func (au *auditor) dropped(e *Exposure) {
	if v := au.variant(&e.Assignment); v != nil {
		v.drops.Add(1)
	} else {
		au.untracked.Add(1)
	}
}

// exposed counts an exposure queued to at least one sink and keeps it
// among the recent ones.
func (au *auditor) exposed(e *Exposure) {
	au.recent.push(e)
	v := au.variant(&e.Assignment)
	if v == nil {
		au.untracked.Add(1)
		return
	}
	v.exposures.Add(1)
	v.subjectsExposed.add(au.subjectHash(&e.Assignment))
	if !e.EvaluatedAt.IsZero() {
		v.toRender.observe(e.Time.Sub(e.EvaluatedAt))
	}
}

// unassignedMark counts a MarkRendered of a flag not assigned in its scope.
func (au *auditor) unassignedMark(flagKey string) {
	au.flagsMu.Lock()
	if _, ok := au.unassigned[flagKey]; ok || len(au.unassigned) < auditMaxFlags {
		au.unassigned[flagKey]++
	} else {
		au.otherFlags++
	}
	au.flagsMu.Unlock()
}

// experiments returns the experiments in the order they were first seen
// (registered ones first).
func (au *auditor) experiments() []*expAudit {
	au.mu.Lock()
	defer au.mu.Unlock()
	return slices.Clone(au.order)
}

// otherFlag stands for the flags past auditMaxFlags in unassigned marks.
const otherFlag = "(other flags)"

// unassignedByFlag returns a copy of the unassigned marks by flag.
func (au *auditor) unassignedByFlag() map[string]uint64 {
	au.flagsMu.Lock()
	defer au.flagsMu.Unlock()
	m := maps.Clone(au.unassigned)
	if au.otherFlags > 0 {
		m[otherFlag] = au.otherFlags
	}
	return m
}

// recentRing keeps the last exposures queued, for DebugHandler. It holds
// the exposures the Tracker queued, by pointer: nothing writes to an
// Exposure once it is queued (the delivery worker copies it into its
// batch). A push is an atomic add and an atomic store; a reader racing with
// pushes may miss the newest one or two, which a live view can afford.
type recentRing struct {
	slots []atomic.Pointer[Exposure]
	total atomic.Uint64 // pushes so far; the next goes to slots[total % len]
}

func (r *recentRing) push(e *Exposure) {
	if len(r.slots) == 0 {
		return
	}
	i := r.total.Add(1) - 1
	r.slots[i%uint64(len(r.slots))].Store(e)
}

// newestFirst returns a copy of the ring, the latest exposure first, and
// how many exposures went through it.
func (r *recentRing) newestFirst() ([]Exposure, uint64) {
	total := r.total.Load()
	n := min(total, uint64(len(r.slots)))
	out := make([]Exposure, 0, n)
	for k := uint64(1); k <= n; k++ {
		if e := r.slots[(total-k)%uint64(len(r.slots))].Load(); e != nil {
			out = append(out, *e)
		}
	}
	return out, total
}

// distinctCounter counts distinct 64-bit hashes: exactly up to
// exactLimit of them, then approximately with a HyperLogLog of 2^hllBits
// registers (standard error 1.04/sqrt(4096) = 1.6%). It takes 8 KiB, needs
// no lock, and costs an atomic load or two per add once a hash was seen.
type distinctCounter struct {
	exact    [exactSlots]atomic.Uint64 // open addressing; 0 is empty
	exactN   atomic.Int64
	overflow atomic.Bool
	regs     [1 << hllBits / 4]atomic.Uint32 // four 8-bit registers a word
}

const (
	hllBits    = 12
	exactSlots = 512
	exactLimit = 384 // three quarters full: probes stay short
)

func (c *distinctCounter) add(h uint64) {
	c.addHLL(h)
	if !c.overflow.Load() {
		c.addExact(h)
	}
}

func (c *distinctCounter) addExact(h uint64) {
	if h == 0 {
		h = 1
	}
	i := h & (exactSlots - 1)
	for range exactSlots {
		s := &c.exact[i]
		switch cur := s.Load(); cur {
		case h:
			return
		case 0:
			if s.CompareAndSwap(0, h) {
				if c.exactN.Add(1) > exactLimit {
					c.overflow.Store(true)
				}
				return
			}
			if s.Load() == h {
				return
			}
		}
		i = (i + 1) & (exactSlots - 1)
	}
	c.overflow.Store(true)
}

func (c *distinctCounter) addHLL(h uint64) {
	idx := h >> (64 - hllBits)
	rank := uint32(bits.LeadingZeros64(h<<hllBits|1<<(hllBits-1))) + 1
	w := &c.regs[idx>>2]
	shift := (idx & 3) * 8
	for {
		old := w.Load()
		if (old>>shift)&0xff >= rank {
			return
		}
		if w.CompareAndSwap(old, old&^(0xff<<shift)|rank<<shift) {
			return
		}
	}
}

// estimate returns the count: exact while it fits, else the HyperLogLog
// estimate with linear counting for small cardinalities.
func (c *distinctCounter) estimate() uint64 {
	if !c.overflow.Load() {
		return uint64(c.exactN.Load())
	}
	const m = 1 << hllBits
	sum, zeros := 0.0, 0
	for i := range c.regs {
		w := c.regs[i].Load()
		for j := range 4 {
			r := (w >> (j * 8)) & 0xff
			if r == 0 {
				zeros++
			}
			sum += math.Ldexp(1, -int(r))
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(float64(m)/float64(zeros))
	}
	// A counter that overflowed its exact table holds more than exactLimit.
	return uint64(math.Round(max(e, exactLimit+1)))
}

// latencyHistogram counts durations in buckets growing by a factor of
// sqrt(2) from 1 ms: bucket 0 is [0, 1 ms), bucket b >= 1 is
// [2^((b-1)/2), 2^(b/2)) ms; the last is open-ended (from about 65 hours).
type latencyHistogram struct {
	buckets [latencyBuckets]atomic.Uint64
}

const latencyBuckets = 36

func latencyBucket(d time.Duration) int {
	ms := d.Milliseconds()
	if ms < 1 {
		return 0
	}
	l := bits.Len64(uint64(ms)) - 1 // 2^l <= ms < 2^(l+1)
	b := 1 + 2*l
	if l < 31 && uint64(ms)*uint64(ms) >= 1<<(2*l+1) { // ms >= 2^l * sqrt(2)
		b++
	}
	return min(b, latencyBuckets-1)
}

func latencyBounds(b int) (lo, hi float64) {
	if b == 0 {
		return 0, 1
	}
	return math.Pow(2, float64(b-1)/2), math.Pow(2, float64(b)/2)
}

func (h *latencyHistogram) observe(d time.Duration) {
	h.buckets[latencyBucket(max(d, 0))].Add(1)
}

// median estimates the median in milliseconds by interpolating within its
// bucket (so within a factor of sqrt(2), and within 1 ms below 1 ms); ok is
// false when nothing was observed.
func (h *latencyHistogram) median() (ms float64, ok bool) {
	var counts [latencyBuckets]uint64
	total := uint64(0)
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0, false
	}
	half := float64(total) / 2
	seen := 0.0
	for b, n := range counts {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= half {
			lo, hi := latencyBounds(b)
			return lo + (hi-lo)*(half-seen)/float64(n), true
		}
		seen += float64(n)
	}
	lo, _ := latencyBounds(latencyBuckets - 1)
	return lo, true
}
