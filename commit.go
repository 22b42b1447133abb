package exposure

import (
	"context"
	"strconv"
	"time"
)

// commit turns marked assignments into exposures: each is claimed in the
// deduper, per sink, and queued to every sink that had not had it. It never
// waits on the network: the in-memory deduper is claimed inline, any other
// deduper off the request path, by the claim stage (claimer.go).
func (t *Tracker) commit(as []Assignment) {
	if len(as) == 0 {
		return
	}
	if md, ok := t.deduper.(*memoryDeduper); ok {
		t.commitInline(md, as)
		return
	}
	t.claims.submit(as)
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
		h := md.assignmentHash(a)
		var o offered
		claimed, queued := false, false
		for j, q := range t.queues {
			hj := h ^ sinkSalt(j)
			first, evicted := md.claimHash(hj, t.window)
			if evicted {
				t.ledger.record(StageEvicted, a)
			}
			if !first {
				continue
			}
			claimed = true
			if t.offer(q, a, &o) {
				queued = true
			} else {
				md.releaseHash(hj) // so that a later render sends it to this sink
			}
		}
		t.recordCommit(a, o.e, claimed, queued)
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
// it (the drops were counted by the queues).
func (t *Tracker) recordCommit(a *Assignment, e *Exposure, claimed, queued bool) {
	switch {
	case !claimed:
		t.ledger.record(StageDuplicate, a)
	case queued:
		t.ledger.recordExposure(StageCommitted, e)
	}
}

// commitClaimed queues the assignments of one claim round trip; first[k]
// answers keys[k], the key of assignment k/len(queues) for sink
// k%len(queues). Claims whose exposure no queue took are released.
func (t *Tracker) commitClaimed(ctx context.Context, as []Assignment, keys []string, first []bool) {
	n := len(t.queues)
	for i := range as {
		a := &as[i]
		var o offered
		claimed, queued := false, false
		for j, q := range t.queues {
			k := i*n + j
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
			if t.claims != nil {
				t.claims.overflow.releaseHash(t.claims.overflow.assignmentHash(a) ^ sinkSalt(j))
			}
		}
		t.recordCommit(a, o.e, claimed, queued)
	}
}

func (t *Tracker) logDedupeError(err error) {
	if t.dedupeLog.allow(time.Minute) {
		t.log.Warn("exposure: deduper failed; sending exposures rather than losing them", "err", err)
	}
}
