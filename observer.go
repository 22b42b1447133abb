package exposure

import "strconv"

// An Observer sees every stage of the pipeline as it happens. It is how the
// packages beside this one (audit, metrics) keep their accounts: the same
// events, reported once, that [Tracker.Stats] counts, so that no view of the
// pipeline can disagree with another.
//
// Observe is called synchronously, on the goroutine where the stage
// happens: for most stages that is a request's goroutine. Like a
// [log/slog.Handler], an Observer
//
//   - must be safe for concurrent use;
//   - must not block: no I/O, no lock held for long, no channel send that
//     can wait (count, or hand over without waiting);
//   - must not retain or modify what the Event points to: the Exposure's
//     evaluation context is shared with the caller. Copy what you keep;
//   - must not call back into the Tracker from Observe (Flush, Close).
//
// A panic in Observe is not recovered: it would be a bug in the Observer,
// and hiding it would hide wrong accounts.
//
// With no Observer the pipeline pays nothing for the contract: the event is
// not even built.
type Observer interface {
	Observe(Event)
}

// An Event is one stage of one assignment or exposure, or of one batch of
// one sink.
type Event struct {
	Stage Stage
	// Exposure is what the stage is about. Its Assignment is set for the
	// stages of one assignment (FlagKey only for StageEvaluated,
	// StageUnassignedMark and the skipped stages); Time and InsertID are set
	// from StageCommitted on. Batch stages leave it zero.
	Exposure Exposure
	// Sink is the sink's name (see [NamedSink]) for the stages of one sink.
	Sink string
	// Count is how many exposures the stage concerns: the batch size for
	// the batch stages of a sink, 1 otherwise.
	Count int
	// Err says why, for StageSkipped, StageDedupeError, StageRetried and
	// StageFailed.
	Err error
}

// A Stage is what happened to an assignment or exposure. [Tracker.Stats]
// counts each one.
type Stage uint8

// The stages, in pipeline order. An experiment evaluation is assigned or
// skipped; an assignment is marked (or handed off), then committed or
// discarded; a commit is an exposure or a duplicate; an exposure is queued
// or dropped by each sink, then delivered, retried, failed or left
// undelivered there.
const (
	// StageEvaluated is every flag evaluation the hook saw.
	StageEvaluated Stage = iota
	// StageSkipped is an experiment-flag evaluation that is not an
	// assignment. Event.Err says why: [ErrNoScope] when it was made outside
	// any Scope (a wiring bug: the context of the request was not passed),
	// the identity function's error such as [ErrNoSubject] when the context
	// has no subject; else it errored, the flag is disabled, the subject is
	// outside the experiment's sample, or no variant could be named.
	StageSkipped
	// StageAssigned is a new or changed assignment recorded in a Scope. The
	// same flag evaluated again with the same result in one Scope is
	// assigned once.
	StageAssigned
	// StageReverted is an assignment undone because a later hook failed the
	// evaluation: the caller got the default value, not the variant.
	StageReverted
	// StageMarked is a MarkRendered that found its assignment.
	StageMarked
	// StageUnassignedMark is a MarkRendered (or a HandOff) of a flag not
	// assigned in its Scope: a bug at the render site.
	StageUnassignedMark
	// StageHandedOff is an assignment taken out of its Scope by
	// [Scope.HandOff] for another party to confirm.
	StageHandedOff
	// StageDiscarded is a marked assignment dropped with its Scope: the
	// Scope was discarded, or its request failed under
	// [WithDiscardFailedRenders].
	StageDiscarded
	// StageFailedRender is a marked assignment whose request then failed
	// (a status of 500 or more, or a panic). By default it is still
	// committed: the variant was rendered, and may be why the request
	// failed (intent to treat). Compare its rate between variants: the
	// audit flags a difference.
	StageFailedRender
	// StageFailedRequest is an assignment whose request failed before it
	// was marked (or after it was handed off): the subject was assigned,
	// then got an error page.
	StageFailedRequest
	// StageBot is a marked assignment of a request from a bot or crawler
	// (see [WithBotFilter]): it was rendered, and is not exposed.
	StageBot
	// StageCommitted is a new exposure, handed to at least one sink's
	// queue.
	StageCommitted
	// StageDuplicate is an exposure suppressed because its subject had
	// already been exposed to the variant within the dedupe window.
	StageDuplicate
	// StageCrossover is an exposure of a subject who had been exposed to
	// another variant of the same experiment within the dedupe window
	// (targeting changed, identities merged, the flag was reconfigured). It
	// is sent, as Mixpanel expects, and counted here too: its share of the
	// exposed subjects is a health check of the experiment.
	StageCrossover
	// StageDedupeError is a claim the Deduper failed, or could not be
	// asked in time (the claim stage was full): the exposure was claimed in
	// process and sent rather than lost.
	StageDedupeError
	// StageEvicted is a claim that pushed out of the in-memory deduper,
	// full, the claim of another exposure whose dedupe window had not
	// ended: that subject may be exposed again. Size the deduper (or share
	// one, see redisdedupe) so that this stays near zero.
	StageEvicted
	// StageQueued is an exposure accepted into one sink's queue.
	StageQueued
	// StageDropped is an exposure one sink's queue refused, full or closed
	// (its claim is released, so a later render sends it to that sink).
	StageDropped
	// StageDelivered is exposures one sink accepted.
	StageDelivered
	// StageRetried is exposures one sink is sent again after a retryable
	// failure.
	StageRetried
	// StageFailed is exposures that failed for good at one sink: a
	// permanent error, or retries past the sink's [WithMaxRetryAge].
	StageFailed
	// StageUndelivered is exposures still pending at one sink when Close's
	// context ended.
	StageUndelivered
	// StageClosed is the Tracker's Close, once, after its last delivery.
	StageClosed

	numStages = iota
)

var stageNames = [numStages]string{
	"evaluated", "skipped", "assigned", "reverted",
	"marked", "unassigned_mark", "handed_off", "discarded", "failed_render", "failed_request", "bot", "committed",
	"duplicate", "crossover", "dedupe_error", "evicted", "queued", "dropped", "delivered", "retried",
	"failed", "undelivered", "closed",
}

// String returns the stage's name in snake case, such as "unassigned_mark".
func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "stage(" + strconv.Itoa(int(s)) + ")"
}
