package redisdedupe

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Release undoes this Deduper's latest claim of key, whose exposure could
// not be queued, so that the next render sends it. It does so only if that
// claim still holds the key in Redis, and then puts back what the claim
// replaced:
//
//   - a claim that found the key free: the key is deleted;
//   - a crossover: the key holds the variant it held before, with the
//     variants it listed and what was left of its window, so that a
//     variant sent before the crossover is not sent again;
//   - a key another claim wrote since (another instance moved the subject
//     to another variant, say): the key is left alone, so that Release
//     never takes back another claim's exposure.
//
// The value every claim writes is unique (its nonce), so "still holds" is
// exact. Release also forgets key in the fallback and takes it out of the
// backfill. When the key's backfill is on its way to Redis, Release waits
// for that round trip first, so that the backfill does not claim the key
// again after Release undid it. (One case remains: a backfill round trip
// abandoned at the timeout whose SET reaches Redis only after the Release;
// no client can know when a lost packet arrives.)
//
// What a claim wrote and replaced is remembered, in this process, for the
// [releaseMemory] latest claims that wrote a key and for at most
// [releaseHorizon] (or the window, if shorter): the Tracker releases a
// claim right after the round trip that made it. A claim whose record is
// gone is settled: Release leaves its key in Redis, and its exposure is
// sent at the first render after the window (a loss for the window, never
// a repeat). A retried claim whose first answer was lost replaced what
// Redis no longer tells; its Release deletes the key if the claim still
// holds it (the variants sent before may be sent again: a repeat, never a
// loss). When one ClaimBatch claimed a key more than once, Release undoes
// them all: the key is put back as the batch found it (a variant of the
// batch that was queued may be sent again).
//
// Release waits for Redis as Claim does; while Redis is unavailable only
// the fallback forgets the claim. The error is always nil.
func (d *Deduper) Release(ctx context.Context, key string) error {
	key = d.storedKey(key)
	d.releases.Add(1)
	_ = d.fallback.Release(ctx, key)
	if wait := d.forgetBackfill(key); wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
	rec, ok := d.records.take(key, d.now())
	if !ok {
		return nil // settled, or never written to Redis: nothing to undo there
	}
	admitted, probe := d.admit()
	if !admitted {
		return nil
	}
	res, err := d.send(ctx, probe, func() []redis.Cmder {
		// Idempotent: a resent script finds the key no longer ours.
		return []redis.Cmder{redis.NewCmd(ctx, "eval", releaseScript, 1, d.prefix+key,
			rec.written, rec.prev, rec.prevAt, rec.px)}
	})
	switch res {
	case gaveUp:
		d.probeOver()
	case fellBack:
		d.failed(err, 0)
	default:
		d.answered()
	}
	return nil
}

// releaseScript undoes a claim if it still holds the key: KEYS[1] is the
// key; ARGV: the current part of the value the claim wrote (see keys.go),
// the value it replaced ("" for none, or not known: the key is deleted),
// that value's expiry (Unix ms, as PEXPIRETIME answered it; -1 for none)
// and the window in ms (the expiry of a restored value that had none). It
// answers 0 when the key is not the claim's (left alone), 1 when it
// deleted the key, 2 when it put the replaced value back.
const releaseScript = `local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local bar = string.find(cur, '|', 1, true)
if bar then cur = string.sub(cur, 1, bar - 1) end
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  return 1
end
local at = tonumber(ARGV[3])
if at < 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
  return 2
end
local t = redis.call('TIME')
if at <= tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', at)
return 2`

// Bounds of the claims remembered for Release (see Release).
const (
	// releaseMemory is the most claims remembered: four times the claims of
	// the Tracker's largest round trip (512 assignments) with two sinks.
	// A record takes about 150 bytes: 1.2 MB at most.
	releaseMemory = 4096
	// releaseHorizon is how long a claim is remembered at most.
	releaseHorizon = time.Minute
)

// A claimRecord is what Release needs to undo one claim of a key.
type claimRecord struct {
	written string // the current part of the value the claim left in Redis
	prev    string // the value it replaced; "" for none, or not known
	prevAt  int64  // prev's expiry, Unix ms; -1 for none
	px      int64  // the claim's window, in ms
	until   time.Time
	seq     uint64
}

type recordSlot struct {
	key   string
	seq   uint64
	until time.Time
}

// claimRecords remembers, by stored key, the latest claim this Deduper
// wrote, for Release: at most releaseMemory of them, the oldest forgotten
// first, each for releaseHorizon at most. Its memory is freed when every
// record is settled.
type claimRecords struct {
	mu    sync.Mutex
	max   int
	byKey map[string]claimRecord
	ring  []recordSlot // insertion order, from head; grows up to max
	head  int
	n     int
	seq   uint64
}

// A pendingRecord is a record of one ClaimBatch, kept until the batch is
// settled.
type pendingRecord struct {
	key string
	rec claimRecord
}

// put records the claims of one call; later ones of a key replace earlier
// ones.
func (r *claimRecords) put(recs []pendingRecord, now time.Time) {
	if len(recs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range recs {
		r.pruneLocked(now, true)
		if r.byKey == nil {
			r.byKey = make(map[string]claimRecord, min(len(recs), r.max))
		}
		r.seq++
		p.rec.seq = r.seq
		r.byKey[p.key] = p.rec
		r.pushLocked(recordSlot{key: p.key, seq: p.rec.seq, until: p.rec.until})
	}
}

// take removes and returns key's record, unless it is settled.
func (r *claimRecords) take(key string, now time.Time) (claimRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.byKey[key]
	if ok {
		delete(r.byKey, key)
	}
	r.pruneLocked(now, false)
	if !ok || !now.Before(rec.until) {
		return claimRecord{}, false
	}
	return rec, true
}

// pruneLocked forgets the records whose time is up, from the oldest, and
// the oldest one when room is needed; with none left, it frees the memory.
func (r *claimRecords) pruneLocked(now time.Time, room bool) {
	for r.n > 0 {
		s := &r.ring[r.head]
		if !(room && r.n >= r.max) && now.Before(s.until) {
			break
		}
		if rec, ok := r.byKey[s.key]; ok && rec.seq == s.seq {
			delete(r.byKey, s.key)
		}
		*s = recordSlot{}
		r.head = (r.head + 1) % len(r.ring)
		r.n--
	}
	if r.n == 0 && len(r.byKey) == 0 {
		r.ring, r.head, r.byKey = nil, 0, nil
	}
}

func (r *claimRecords) pushLocked(s recordSlot) {
	if r.n == len(r.ring) {
		grown := make([]recordSlot, min(max(2*len(r.ring), 64), r.max))
		for i := range r.n {
			grown[i] = r.ring[(r.head+i)%len(r.ring)]
		}
		r.ring, r.head = grown, 0
	}
	r.ring[(r.head+r.n)%len(r.ring)] = s
	r.n++
}

// size is the number of records held, and the slots allocated for them.
func (r *claimRecords) size() (records, slots int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byKey), len(r.ring)
}

// record is the record of a claim of key that wrote written in place of
// prev (expiring at prevAt), remembered until the claim is settled.
func (b *batch) record(key, written, prev string, prevAt int64, until time.Time) {
	if b.recs == nil {
		b.recs = make([]pendingRecord, 0, len(b.keys))
	}
	b.recs = append(b.recs, pendingRecord{key: key, rec: claimRecord{
		written: written, prev: prev, prevAt: prevAt, px: b.px, until: until,
	}})
}

// recordUntil is when a claim made now for window is settled.
func recordUntil(now time.Time, window time.Duration) time.Time {
	return now.Add(min(window, releaseHorizon))
}
