package exposure

import (
	"context"
	"time"
)

// A Deduper remembers which exposures were already sent, across requests
// and refreshes, for a window of time.
//
// Keys are opaque strings derived from (distinct id, experiment, variant):
// a changed variant is a new key. Implementations must be safe for
// concurrent use, and exactly one of several concurrent claims of one key
// must win.
type Deduper interface {
	// Claim reports whether key was not claimed within the last window; if
	// so it is now claimed for window.
	Claim(ctx context.Context, key string, window time.Duration) (first bool, err error)
	// Release undoes a claim whose exposure could not be queued, so that the
	// next render sends it.
	Release(ctx context.Context, key string) error
}

// A BatchDeduper claims many keys in one round trip. The Tracker uses it,
// when a Deduper implements it, to claim all exposures of one commit at
// once (redisdedupe pipelines them).
type BatchDeduper interface {
	Deduper
	// ClaimBatch is Claim for each key; first[i] answers keys[i].
	ClaimBatch(ctx context.Context, keys []string, window time.Duration) (first []bool, err error)
}
