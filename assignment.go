package exposure

import (
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// Flag-metadata keys that providers set to mark an evaluation as part of an
// experiment. The adapters in providers/ fill them; any provider may.
const (
	// MetadataExperimentName is the experiment's name (string).
	MetadataExperimentName = "experiment.name"
	// MetadataExperimentVariant is the name of the variant the subject was
	// assigned (string).
	MetadataExperimentVariant = "experiment.variant"
	// MetadataInExperiment says whether the subject is part of the
	// experiment's sample (bool). false means the evaluation is not an
	// assignment, even for a registered flag.
	MetadataInExperiment = "experiment.inExperiment"
	// MetadataPropertyPrefix starts the keys of event properties a provider
	// attaches to the exposure: "experiment.property.$experiment_id" becomes
	// the property "$experiment_id" of the assignment ([Assignment.Properties]).
	// Values are strings, bools, integers or float64s; others are ignored.
	MetadataPropertyPrefix = "experiment.property."
)

// An evaluation that assigns the subject to more than one experiment, such
// as a holdout around an experiment, names the others with numbered keys
// after the first: "experiment.1.name", "experiment.1.variant",
// "experiment.1.inExperiment" and "experiment.1.property.<name>", then
// "experiment.2.…", and so on without gaps. Each becomes an assignment in
// [Assignment.Related] of the first one that is in its experiment.
const metadataNumberedPrefix = "experiment."

// Identity is the subject of an assignment, in the terms of Mixpanel's
// Simplified ID Merge.
type Identity struct {
	// DistinctID is the Mixpanel distinct_id: the user id when known, else
	// "$device:<device id>", else the evaluation's targeting key.
	DistinctID string
	// DeviceID is the anonymous device id ($device_id), if known.
	DeviceID string
	// UserID is the identified user id ($user_id), if known.
	UserID string
}

// Assignment is a subject's variant of one experiment, as decided by a flag
// evaluation. It is pending until the variant is rendered.
type Assignment struct {
	FlagKey    string // the OpenFeature flag key
	Experiment string // canonical experiment name (Mixpanel "Experiment name")
	Variant    string // variant name (Mixpanel "Variant name")
	// ProviderVariant is the variant as the provider named it, before
	// Experiment.Variants renamed it: what a vendor sink compares with a
	// fresh evaluation.
	ProviderVariant string
	Identity        Identity
	// Reason is the OpenFeature resolution reason, such as "TARGETING_MATCH".
	Reason      string
	EvaluatedAt time.Time
	// Context is the evaluation context the flag was evaluated with, for
	// vendor sinks that rebuild their user from it.
	Context openfeature.EvaluationContext
	// Properties are event properties the provider attached to the
	// exposure (see [MetadataPropertyPrefix]), such as Mixpanel's
	// "$experiment_id". Sinks send them after their own properties, which
	// win on a clash. Values are string, bool, int64 or float64.
	Properties map[string]any
	// Related are the other experiments the same evaluation assigned the
	// subject to, such as the holdout around an experiment. They share the
	// flag key, subject and context, and they are marked, handed off,
	// committed and counted with this assignment, each as an assignment of
	// its own: a rendered variant exposes the subject to all of them.
	Related []Assignment
}

// Exposure is an assignment whose variant was rendered. Time and InsertID
// are fixed when it is committed and reused on every delivery attempt, so
// that the destination can deduplicate retries.
type Exposure struct {
	Assignment
	// Time is when the exposure was committed.
	Time time.Time
	// InsertID is deterministic for (subject, experiment, variant, Time):
	// 32 lowercase hexadecimal characters.
	InsertID string
}
