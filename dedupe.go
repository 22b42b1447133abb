package exposure

import (
	"context"
	"time"
)

// A Deduper remembers which variant each subject was exposed to in each
// experiment, for a window of time, across requests and refreshes: a
// repeat is not sent again, and a subject who moves to another variant (a
// crossover) is.
//
// Keys are opaque strings derived from (distinct id, experiment); the
// variant is given beside the key, so that one entry per subject and
// experiment holds the latest variant. Implementations must be safe for
// concurrent use, and exactly one of several concurrent claims of one key
// and variant must win.
type Deduper interface {
	// Claim records that key's subject was exposed to variant. first
	// reports that the subject was not exposed to variant within the last
	// window: the exposure is new and is sent. crossover reports that key
	// held another variant within the window: the subject crossed over, and
	// key now holds variant. A move back to a variant already exposed
	// within the window is a crossover and not first: each variant is sent
	// at most once a window, however often the subject flips.
	Claim(ctx context.Context, key, variant string, window time.Duration) (first, crossover bool, err error)
	// Release undoes a claim whose exposure could not be queued, so that the
	// next render sends it. A Deduper may forget the key, and with it the
	// variants sent before the claim (a repeat, never a loss: the one
	// NewMemoryDeduper returns does), or put back what the claim replaced
	// (redisdedupe does). The Tracker's default deduper takes its claims
	// back exactly.
	Release(ctx context.Context, key string) error
}

// A BatchDeduper claims many keys in one round trip. The Tracker uses it,
// when a Deduper implements it, to claim all exposures of one commit at
// once (redisdedupe pipelines them).
type BatchDeduper interface {
	Deduper
	// ClaimBatch is Claim for each key: first[i] and crossover[i] answer
	// keys[i] with variants[i].
	ClaimBatch(ctx context.Context, keys, variants []string, window time.Duration) (first, crossover []bool, err error)
}
