// Package exposure counts a user in an experiment only when the variant is
// on their screen.
//
// Feature-flag SDKs assign a user to a variant when a flag is evaluated, but
// the user is only exposed when the variant is drawn. exposure records each
// experiment evaluation made through OpenFeature as a pending [Assignment]
// (see [Tracker.Hook]) and turns it into one deduplicated [Exposure] only when
// a render site calls [MarkRendered] (or the "exposed" template function).
// Exposures are delivered to [Sink]s asynchronously, in batches, with retries;
// the request path never blocks on the network and never fails because of
// this package.
//
// A typical web app wires it like this:
//
//	tracker, err := exposure.New(
//		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
//		exposure.WithSink(sink),
//	)
//	openfeature.AddHooks(tracker.Hook())
//	http.ListenAndServe(addr, tracker.Middleware(mux))
//	// in a handler: client.StringValue(r.Context(), "checkout-redesign", "control", evalCtx)
//	// in the template: {{ exposed .Ctx "checkout-redesign" }}
//	defer tracker.Close(ctx)
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
)

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
	Identity   Identity
	// Reason is the OpenFeature resolution reason, such as "TARGETING_MATCH".
	Reason      string
	EvaluatedAt time.Time
	// Context is the evaluation context the flag was evaluated with, for
	// vendor sinks that rebuild their user from it.
	Context openfeature.EvaluationContext
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
