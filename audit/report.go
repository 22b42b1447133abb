package audit

import (
	"time"
)

// Report is what the audit page shows, and its JSON form (?format=json).
// Counts are since the Tracker was created, in this process. Make one with
// [Auditor.Report].
type Report struct {
	// GeneratedAt is when the report was made (RFC 3339 in JSON).
	GeneratedAt time.Time `json:"generated_at"`
	// IDsMasked says whether distinct, device and user ids, and the insert
	// ids derived from them, are replaced by keyed hashes
	// ("masked:1a2b3c4d5e6f7a8b"); see [WithShowIDs].
	IDsMasked bool `json:"ids_masked"`
	// Totals are the Tracker's counts by stage, every stage present, as
	// [exposure.Tracker.Stats] reports them.
	Totals StageCounts `json:"totals"`
	// Skipped breaks Totals' skipped evaluations down by reason.
	Skipped SkippedEvaluations `json:"skipped"`
	// Experiments has one entry per experiment: the registered ones first,
	// in registration order, then the ones providers named, as first seen.
	Experiments []Experiment `json:"experiments"`
	// UnassignedMarks counts the marks (MarkRendered) and handoffs
	// (Scope.HandOff) of flags that were not assigned in their scope, by
	// flag, most first: bugs at the render site.
	UnassignedMarks []FlagCount `json:"unassigned_marks"`
	// Sinks has one entry per sink, in configuration order.
	Sinks []Sink `json:"sinks"`
	// Recent is the latest exposures committed, newest first, as they will
	// be sent (see [WithRecent]).
	Recent []RecentExposure `json:"recent_exposures"`
	// RecentTotal is how many exposures went through the recent buffer
	// since the start; Recent holds the last of them.
	RecentTotal uint64 `json:"recent_total"`
	// Untracked counts events of experiments or variants beyond the
	// audit's bounds (128 experiments, 16 variants each), left out of
	// Experiments.
	Untracked uint64 `json:"untracked"`
}

// SkippedEvaluations are the experiment evaluations that were not
// assignments (StageSkipped), by reason.
type SkippedEvaluations struct {
	// Unscoped were made outside any Scope: the request's context was not
	// passed to the evaluation, or no middleware opened a Scope. A wiring
	// bug: those exposures cannot be recorded.
	Unscoped uint64 `json:"unscoped"`
	// NoSubject had no user, device or targeting key.
	NoSubject uint64 `json:"no_subject"`
	// Other failed, were disabled, or were outside the experiment's sample.
	Other uint64 `json:"other"`
}

// Experiment is the accounting of one experiment.
type Experiment struct {
	// Name is the canonical experiment name (Mixpanel "Experiment name").
	Name string `json:"name"`
	// FlagKey is the OpenFeature flag key (for experiments named by a
	// provider: the flag of their first event).
	FlagKey string `json:"flag_key"`
	// Registered says whether the experiment was given to
	// exposure.WithExperiments.
	Registered bool `json:"registered"`
	// Variants has one entry per variant: those of its weights
	// (Experiment.Weights, else [WithWeights]) first (sorted), then the
	// others as first seen.
	Variants []Variant `json:"variants"`
	// UnassignedMarks is the marks and handoffs of the experiment's flag
	// in a scope where it was not assigned.
	UnassignedMarks uint64 `json:"unassigned_marks"`
	// SRM is the sample-ratio check.
	SRM SRMCheck `json:"srm"`
	// Failures is the check of failed requests by variant.
	Failures FailureCheck `json:"failures"`
	// Crossovers is the check of subjects exposed to more than one variant.
	Crossovers CrossoverCheck `json:"crossovers"`
	// Bots is the marked assignments of requests from bots and crawlers
	// (StageBot), summed over the variants: rendered, not exposed. Each
	// variant's count is in its Counts, and its share in BotShare.
	Bots uint64 `json:"bots"`
}

// Variant is the accounting of one variant of one experiment.
//
// Subjects are distinct distinct_ids: counted exactly up to 384 per
// variant, then estimated with a HyperLogLog of 4096 registers (standard
// error 1.6%).
type Variant struct {
	// Name is the variant name (Mixpanel "Variant name").
	Name string `json:"name"`
	// Counts are the events about the variant by stage, every stage that
	// concerns one assignment present: assigned, reverted, marked,
	// handed_off, discarded, failed_render, failed_request, bot, committed,
	// duplicate, crossover, dedupe_error, queued and dropped. Summed over the variants of every experiment (and
	// [Report.Untracked]), they are the Tracker's Stats for those stages.
	//
	// An assignment repeated with the same result in one scope is
	// assigned once. A reverted assignment (a later hook failed the
	// evaluation) is counted under reverted and stays counted under
	// assigned: counts only grow, as the metrics' counters must, and
	// assigned minus reverted is the assignments that stood.
	Counts StageCounts `json:"counts"`
	// SubjectsAssigned is distinct subjects assigned the variant (a
	// reverted assignment's subject included).
	SubjectsAssigned uint64 `json:"subjects_assigned"`
	// SubjectsExposed is distinct subjects whose exposure was committed.
	SubjectsExposed uint64 `json:"subjects_exposed"`
	// ExposureRate is SubjectsExposed / SubjectsAssigned; null when no
	// subject was assigned. Estimates can put it slightly above 1.
	ExposureRate *float64 `json:"exposure_rate"`
	// MedianRenderMillis is the median time from the evaluation to the
	// commit of the exposure, in milliseconds, estimated from a histogram
	// with buckets growing by sqrt(2) (below 1 ms: within 1 ms); null
	// before the first exposure.
	MedianRenderMillis *float64 `json:"median_render_ms"`
	// ExpectedShare is the variant's share of the expected split: its
	// weight over the sum of weights, or an equal share.
	ExpectedShare float64 `json:"expected_share"`
	// ObservedShare is the variant's share of the exposed subjects of the
	// experiment; 0 when there are none.
	ObservedShare float64 `json:"observed_share"`
	// FailureRate is the variant's assignments in failed requests (a status
	// of 500 or more, or a panic), marked or not (failed_render plus
	// failed_request), over its assignments; null before the first
	// assignment. See [FailureCheck].
	FailureRate *float64 `json:"failure_rate"`
	// BotShare is the variant's marks from bots and crawlers (bot) over its
	// marks (marked); null before the first mark. The bot filter looks at
	// the request, not the variant: shares that differ between variants
	// point at a bug in the filter or in the render site.
	BotShare *float64 `json:"bot_share"`
}

// SRMCheck is the sample-ratio check of one experiment: the split of
// exposures against its weights, tested two ways, and the spread of
// exposure rates between variants. The weights are the registry's
// ([exposure.Experiment.Weights]), else those given to [WithWeights];
// with neither, an equal split is assumed, and EqualSplitAssumed and Note
// say so: an experiment planned otherwise, such as a 10% holdout, is
// then flagged for a split that is as planned until its weights are given.
//
// The page is read again and again while exposures arrive, so its alarm
// is the sequential test (SequentialPValue): anytime-valid, its chance of
// ever flagging a sound split is at most [SRMPValueThreshold] however
// often it is read. Pearson's chi-square (PValue, [SampleRatio]) is
// reported beside it for a one-off check at a sample size chosen in
// advance; read every 5 seconds, it would flag a sound split far more
// often than its p-value says (2.4% instead of 0.1% over 200 looks).
type SRMCheck struct {
	// ChiSquare and PValue are Pearson's chi-square of exposed subjects,
	// from [SampleRatio]; null when the test cannot run (see Note). They
	// are for a one-off check and do not flag.
	ChiSquare *float64 `json:"chi_square"`
	PValue    *float64 `json:"p_value"`
	// SequentialPValue is the anytime-valid p-value of the committed
	// exposures per variant (exact counts, where ChiSquare uses the
	// estimated distinct subjects), kept by the Auditor and updated at
	// every report: it never increases while the experiment's variants
	// and weights stay the same (when they change, the test starts over).
	// It flags below [SRMPValueThreshold] at any sample size. Null when
	// the split cannot be tested (see Note).
	SequentialPValue *float64 `json:"sequential_p_value"`
	// DegreesOfFreedom is the number of variants tested minus one.
	DegreesOfFreedom int `json:"degrees_of_freedom"`
	// EnoughSubjects says whether every variant has at least
	// [SRMMinSubjects] exposed subjects, as a fixed-sample chi-square
	// needs. The sequential p-value needs no minimum.
	EnoughSubjects bool `json:"enough_subjects"`
	// RateSpread is the largest minus the smallest exposure rate among
	// variants with at least SRMMinSubjects assigned subjects; null with
	// fewer than two such variants. When it flags an experiment whose
	// exposures are confirmed by the browser (handed off), the reason
	// names the likely cause: the beacon's token sits on an element whose
	// size or position differs by variant.
	RateSpread *float64 `json:"rate_spread"`
	// RateThreshold is the spread above which the check flags; see
	// [WithRateThreshold].
	RateThreshold float64 `json:"rate_threshold"`
	// Flagged says the split looks broken; Reasons says why, in words.
	Flagged bool     `json:"flagged"`
	Reasons []string `json:"reasons"`
	// EqualSplitAssumed says no weights are known for the experiment
	// (neither Experiment.Weights nor [WithWeights]): the split is tested
	// against an equal one. Note then says so, and so does the reason of
	// a split flagged against it.
	EqualSplitAssumed bool `json:"equal_split_assumed"`
	// Note says why the chi-square test could not run, if it could not,
	// and that an equal split was assumed, if it was.
	Note string `json:"note,omitempty"`
}

// FlagCount is a count for one flag key.
type FlagCount struct {
	Flag  string `json:"flag"`
	Count uint64 `json:"count"`
}

// Sink is the delivery state of one sink, from [exposure.SinkStats].
type Sink struct {
	Name string `json:"name"`
	// Counts are the sink's exposures by stage, every sink stage present:
	// queued, dropped, delivered, retried, failed and undelivered.
	Counts StageCounts `json:"counts"`
	// Pending is exposures queued and not yet settled: queued minus
	// delivered, failed and undelivered.
	Pending uint64 `json:"pending"`
	// QueueDepth is how many exposures wait in the queue now (the others
	// pending are being sent).
	QueueDepth int `json:"queue_depth"`
	// LastError is the latest send error ("" when none). When ids are
	// masked, the insert ids in it (runs of 32 hex digits or more) and the
	// ids of the recent exposures are masked as in Recent, so a refused
	// event can be found among them.
	//
	// LastErrorAt is when the sink last failed (null when it never did):
	// the time of its latest failed or retried exposures, as the Auditor
	// observed them. A retry is reported when it is sent again, after its
	// backoff, so LastErrorAt can trail LastError by up to a backoff.
	LastError   string     `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
}

// RecentExposure is one exposure as the Mixpanel sink sends it, without
// the project token.
type RecentExposure struct {
	// Event is always "$experiment_started".
	Event string `json:"event"`
	// FlagKey is the OpenFeature flag (not sent to Mixpanel).
	FlagKey    string          `json:"flag_key"`
	Properties EventProperties `json:"properties"`
}

// EventProperties are the properties of a $experiment_started event. Ids
// and the insert id are masked unless [WithShowIDs] allows them.
type EventProperties struct {
	Experiment string `json:"Experiment name"`
	Variant    string `json:"Variant name"`
	DistinctID string `json:"distinct_id"`
	DeviceID   string `json:"$device_id,omitempty"`
	UserID     string `json:"$user_id,omitempty"`
	// Time is the exposure's time in milliseconds since the Unix epoch,
	// fixed when it was committed.
	Time int64 `json:"time"`
	// InsertID is Mixpanel's deduplication key of the event. It is an
	// unkeyed hash of the distinct id and of this row's other properties,
	// so it is masked with the ids: two rows with the same masked insert
	// id are the same event sent again.
	InsertID string `json:"$insert_id"`
}
