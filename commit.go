package exposure

import (
	"context"
	"strconv"
	"time"

	"github.com/exposurekit/exposure/internal/dedupetable"
)

// commit turns marked assignments into exposures: each is claimed in the
// deduper, per sink, and queued to every sink that had not had it. It never
// waits on the network: the in-memory deduper is claimed inline, any other
// deduper off the request path, by the claim stage (claimer.go).
func (t *Tracker) commit(as []Assignment) {
	if len(as) == 0 {
		return
	}
	as = flattenRelated(as)
	if md, ok := t.deduper.(*memoryDeduper); ok {
		t.commitInline(md, as)
		return
	}
	t.claims.submit(as)
}

// flattenRelated returns as with each assignment's related assignments
// after it, as assignments of their own: each is claimed, queued and
// counted on its own. as itself is not changed.
func flattenRelated(as []Assignment) []Assignment {
	n := 0
	for i := range as {
		n += len(as[i].Related)
	}
	if n == 0 {
		return as
	}
	flat := make([]Assignment, 0, len(as)+n)
	for i := range as {
		a := as[i]
		a.Related = nil
		flat = append(flat, a)
		flat = append(flat, as[i].Related...)
	}
	return flat
}

// Each sink has its own claim of an exposure, so that a sink whose queue
// was full gets the exposure on a later render while the sinks that had it
// do not get it twice. The first sink's claim is the plain key: with one
// sink, claims are what they always were.
func sinkSalt(i int) uint64 { return uint64(i) * 0x9e3779b97f4a7c15 }

func sinkKey(key string, i int) string {
	if i == 0 {
		return key
	}
	return key + "/sink" + strconv.Itoa(i)
}

// commitInline commits with the in-memory deduper, claimed by a hash of the
// assignment's fields: no string, no allocation for a duplicate.
func (t *Tracker) commitInline(md *memoryDeduper, as []Assignment) {
	for i := range as {
		a := &as[i]
		h, tag := md.assignmentHash(a), md.variantTag(a.Variant)
		var o offered
		claimed, queued, crossed := false, false, false
		for j, q := range t.queues {
			hj := h ^ sinkSalt(j)
			first, crossover, evicted, undo := md.claimHash(hj, tag, t.window)
			for range evicted {
				t.ledger.record(StageEvicted, a)
			}
			crossed = crossed || crossover
			if !first {
				continue
			}
			claimed = true
			if t.offer(q, a, &o) {
				queued = true
			} else {
				md.unclaim(undo) // so that a later render sends it to this sink
			}
		}
		t.recordCommit(a, o.e, claimed, queued, crossed)
	}
}

// offered is an assignment's exposure as it is offered to the queues:
// made on the first offer, with its size, the same for every queue.
type offered struct {
	e    *Exposure
	size int
}

// offer queues a's exposure to q, making it (its time, $insert_id and
// size) on the first offer, and reports whether q took it.
func (t *Tracker) offer(q *queue, a *Assignment, o *offered) bool {
	if o.e == nil {
		o.e = t.newExposure(a)
		o.size = o.e.memorySize()
	}
	return q.enqueue(o.e, o.size)
}

// newExposure fixes the time and $insert_id of a's exposure.
func (t *Tracker) newExposure(a *Assignment) *Exposure {
	now := t.now()
	return &Exposure{Assignment: *a, Time: now, InsertID: insertID(a, now)}
}

// recordCommit records the outcome of one assignment's commit: a duplicate
// when no sink's claim was new, an exposure when at least one sink queued
// it (the drops were counted by the queues), and a crossover when a claim
// found the subject on another variant of the experiment, sent or not (a
// move back to a variant already sent is a duplicate and a crossover):
// once per assignment however many sinks saw it.
func (t *Tracker) recordCommit(a *Assignment, e *Exposure, claimed, queued, crossed bool) {
	switch {
	case !claimed:
		t.ledger.record(StageDuplicate, a)
	case queued:
		t.ledger.recordExposure(StageCommitted, e)
	}
	if crossed {
		t.ledger.record(StageCrossover, a)
	}
}

// commitClaimed queues the assignments of one claim round trip; first[k]
// and crossover[k] answer keys[k], the key of assignment k/len(queues) for
// sink k%len(queues), and mirror[k] is the claim stage's own claim of it.
// Claims whose exposure no queue took are released.
func (t *Tracker) commitClaimed(ctx context.Context, as []Assignment, keys []string, first, crossover []bool, mirror []dedupetable.Undo) {
	n := len(t.queues)
	for i := range as {
		a := &as[i]
		var o offered
		claimed, queued, crossed := false, false, false
		for j, q := range t.queues {
			k := i*n + j
			crossed = crossed || crossover[k]
			if !first[k] {
				continue
			}
			claimed = true
			if t.offer(q, a, &o) {
				queued = true
				continue
			}
			// Not queued: forget the claim, here and in the claim stage's
			// memory of it, so that a later render sends it to this sink.
			if err := t.deduper.Release(ctx, keys[k]); err != nil {
				t.logDedupeError(err)
			}
			t.claims.overflow.unclaim(mirror[k])
		}
		t.recordCommit(a, o.e, claimed, queued, crossed)
	}
}

func (t *Tracker) logDedupeError(err error) {
	if t.dedupeLog.allow(time.Minute) {
		t.log.Warn("exposure: deduper failed; sending exposures rather than losing them", "err", err)
	}
}
