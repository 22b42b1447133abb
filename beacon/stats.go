package beacon

import "sync/atomic"

// Stats are the counters of a [Confirmer] since it was created: the events
// only the beacon sees. What happens to a confirmed exposure afterwards
// (a duplicate, a delivery) is in the Tracker's [exposure.Stats], and so
// is the handoff (StageHandedOff) and a flag that was not assigned
// (StageUnassignedMark).
type Stats struct {
	// Issued is tokens issued by the "exposureBeacon" template function and
	// by [Confirmer.Token].
	Issued uint64
	// NotIssued is "exposureBeacon" and Token calls that issued nothing: no
	// context, no scope, or a flag not assigned in the scope. It would also
	// count an assignment too large for a token, which the root's bound of
	// 255 bytes per field rules out (logged as an error if it ever
	// happened: that exposure is lost).
	NotIssued uint64
	// AttributesDropped is attributes of evaluation contexts left out of
	// tokens because the token would have been over 4096 characters (each
	// whole, in key order; see [Confirmer.Token]). The exposure is still
	// confirmed, and a vendor sink re-evaluating it sees a thinner context.
	AttributesDropped uint64
	// PropertiesDropped is event properties of assignments
	// ([exposure.Assignment.Properties], of the assignment and of its
	// related assignments) left out of tokens because the token would have
	// been over 4096 characters (each whole, in name order, after the
	// related assignments and before the attributes). The exposure is
	// still confirmed, its event without them.
	PropertiesDropped uint64
	// RelatedDropped is related assignments
	// ([exposure.Assignment.Related]) left out of tokens because the token
	// would have been over 4096 characters (whole, in order, before
	// anything else): those exposures are lost. A token has room for
	// dozens of related assignments of short names, and for at least one
	// of names at the 255-byte limit.
	RelatedDropped uint64
	// Accepted is confirmations with a valid token, each committed with
	// [exposure.Tracker.Confirm]; a repeat of an earlier exposure counts
	// as StageDuplicate in the Tracker's Stats.
	Accepted uint64
	// Rejected is every request the handler refused, for any of the
	// reasons below.
	Rejected uint64
	// Malformed is bodies that are not a token of a known version.
	Malformed uint64
	// Forged is well-formed tokens whose signature matches no key, or
	// signed for another application (see [WithApplication]).
	Forged uint64
	// Expired is genuine tokens outside their validity: older than the
	// expiry, or issued more than a minute in the future (clock skew).
	Expired uint64
	// Unregistered is genuine tokens of a flag the Tracker no longer
	// registers as an experiment (see [Confirmer.ServeHTTP]).
	Unregistered uint64
	// TooLarge is bodies over 8 KiB.
	TooLarge uint64
	// TimedOut is bodies not received within 5 seconds (answered 408).
	TimedOut uint64
	// RateLimited is confirmations over the client's rate limit (answered
	// 429; see [WithRateLimit]).
	RateLimited uint64
	// CrossOrigin is confirmations a browser sent from another origin that
	// [WithAllowedOrigins] does not list (answered 403).
	CrossOrigin uint64
	// WrongMethod is requests with a method other than GET, HEAD or POST,
	// and preflights (OPTIONS) not from an allowed origin.
	WrongMethod uint64
	// Unconfirmed is genuine tokens the Tracker refused to commit because
	// it was closed (answered 503).
	Unconfirmed uint64
	// Bots is confirmations posted by a bot or crawler (see
	// [WithBotFilter]), answered 204 and not confirmed. They are neither
	// accepted nor rejected.
	Bots uint64
}

type counters struct {
	issued, notIssued, accepted, rejected             atomic.Uint64
	malformed, forged, expired, tooLarge, wrongMethod atomic.Uint64
	unconfirmed, unregistered, timedOut, rateLimited  atomic.Uint64
	attributesDropped, crossOrigin                    atomic.Uint64
	propertiesDropped, relatedDropped, bots           atomic.Uint64
}

// Stats returns a snapshot of the Confirmer's counters. Counters read
// together are not an atomic snapshot.
func (c *Confirmer) Stats() Stats {
	k := &c.counters
	return Stats{
		Issued: k.issued.Load(), NotIssued: k.notIssued.Load(),
		Accepted: k.accepted.Load(), Rejected: k.rejected.Load(),
		Malformed: k.malformed.Load(), Forged: k.forged.Load(), Expired: k.expired.Load(),
		TooLarge: k.tooLarge.Load(), WrongMethod: k.wrongMethod.Load(),
		Unconfirmed: k.unconfirmed.Load(), Unregistered: k.unregistered.Load(),
		TimedOut: k.timedOut.Load(), RateLimited: k.rateLimited.Load(),
		AttributesDropped: k.attributesDropped.Load(), CrossOrigin: k.crossOrigin.Load(),
		PropertiesDropped: k.propertiesDropped.Load(), RelatedDropped: k.relatedDropped.Load(),
		Bots: k.bots.Load(),
	}
}
