package exposure

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// commit claims each assignment in the deduper and queues the new ones to
// every sink. It never blocks on a sink; it waits on the deduper only as long
// as the deduper allows (redisdedupe bounds it with a timeout).
func (t *Tracker) commit(ctx context.Context, as []Assignment) {
	if len(as) == 0 {
		return
	}
	// The default deduper is claimed by a hash of the assignment's fields;
	// any other by the stable string key, built only for it.
	md, fast := t.deduper.(*memoryDeduper)
	var (
		hashBuf  [4]uint64
		keyBuf   [4]string
		firstBuf [4]bool
		hashes   = hashBuf[:0]
		keys     = keyBuf[:0]
		firsts   = firstBuf[:0]
	)
	if fast {
		for i := range as {
			h := md.assignmentHash(&as[i])
			hashes = append(hashes, h)
			firsts = append(firsts, md.claimHash(h, t.window))
		}
	} else {
		for i := range as {
			keys = append(keys, dedupeKey(&as[i]))
		}
		firsts = t.claim(ctx, as, keys, firsts)
	}
	var now time.Time
	for i := range as {
		if !firsts[i] {
			t.ledger.record(StageDuplicate, &as[i])
			continue
		}
		if now.IsZero() {
			now = t.now()
		}
		e := &Exposure{Assignment: as[i], Time: now}
		e.InsertID = insertID(&as[i], now)
		queued := false
		for _, q := range t.queues {
			if q.enqueue(e) {
				queued = true
			}
		}
		if queued {
			t.ledger.recordExposure(StageCommitted, e)
			continue
		}
		// Not queued anywhere: forget the claim so the next render sends it.
		if fast {
			md.releaseHash(hashes[i])
		} else if err := t.deduper.Release(ctx, keys[i]); err != nil {
			t.logDedupeError(err)
		}
	}
}

// claim asks the deduper which keys are new, in one call when it can, and
// appends the answers to firsts. A failing deduper counts as "new": a repeat
// is better than a loss.
func (t *Tracker) claim(ctx context.Context, as []Assignment, keys []string, firsts []bool) []bool {
	if bd, ok := t.deduper.(BatchDeduper); ok && len(keys) > 1 {
		// A copy, so that the caller's stack buffer does not escape.
		got, err := bd.ClaimBatch(ctx, slices.Clone(keys), t.window)
		if err == nil && len(got) == len(keys) {
			return append(firsts, got...)
		}
		if err == nil {
			err = fmt.Errorf("ClaimBatch answered %d results for %d keys", len(got), len(keys))
		}
		t.logDedupeError(err)
		for i := range keys {
			t.ledger.recordErr(StageDedupeError, &as[i], err)
			firsts = append(firsts, true)
		}
		return firsts
	}
	for i, k := range keys {
		first, err := t.deduper.Claim(ctx, k, t.window)
		if err != nil {
			t.logDedupeError(err)
			t.ledger.recordErr(StageDedupeError, &as[i], err)
			first = true
		}
		firsts = append(firsts, first)
	}
	return firsts
}

func (t *Tracker) logDedupeError(err error) {
	if t.dedupeLog.allow(time.Minute) {
		t.log.Warn("exposure: deduper failed; sending exposures rather than losing them", "err", err)
	}
}
