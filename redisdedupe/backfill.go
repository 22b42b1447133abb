package redisdedupe

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The backfill: the claims the fallback granted during an outage, written
// to Redis (SET NX with the rest of their window) ahead of the claims of the
// first round trip that reaches Redis again.

// A backfillEntry is the claims of one key granted by the fallback: the end
// of the latest one's window, its variant's tag, and the tags of the other
// variants granted before it (a subject that crossed over during the
// outage), oldest first, at most seenCap.
type backfillEntry struct {
	end  time.Time
	tag  int64
	seen []int64
}

// addBackfillLocked remembers a fallback claim for the backfill, unless the
// limit is reached. A claim of a key already pending is merged with it: the
// key is written holding the later claim and listing the earlier ones, so
// that other instances do not send those again either.
func (d *Deduper) addBackfillLocked(key string, e backfillEntry) {
	prev, ok := d.backfill[key]
	if !ok && len(d.backfill) >= d.backfillLimit {
		d.backfillDropped.Add(1)
		return
	}
	if ok {
		e = mergeBackfill(prev, e)
	}
	d.backfill[key] = e
	d.backfillLen.Store(int64(len(d.backfill)))
}

// mergeBackfill is the entry of a key granted earlier, then later.
func mergeBackfill(earlier, later backfillEntry) backfillEntry {
	seen := make([]int64, 0, len(earlier.seen)+len(later.seen)+1)
	for _, t := range append(append(append([]int64(nil), earlier.seen...), earlier.tag), later.seen...) {
		if t == later.tag {
			continue
		}
		if i := slices.Index(seen, t); i >= 0 {
			seen = slices.Delete(seen, i, i+1)
		}
		seen = append(seen, t)
	}
	if len(seen) > seenCap {
		seen = seen[len(seen)-seenCap:]
	}
	later.seen = seen
	if earlier.end.After(later.end) {
		later.end = earlier.end
	}
	return later
}

// A backfillRun is the backfill one ClaimBatch carries to Redis: every
// pending fallback claim, sent ahead of its own claims. Until the run ends
// its keys are in flight: a Release of one of them waits for done.
type backfillRun struct {
	keys     []string
	entries  []backfillEntry
	written  []bool
	released map[string]bool // under Deduper.mu: released while in flight
	done     chan struct{}
	nonce    uint32 // of the values the run writes
}

// takeBackfill takes every pending backfill claim whose window has not
// ended, or returns nil when there is none.
func (d *Deduper) takeBackfill() *backfillRun {
	if d.backfillLen.Load() == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	r := &backfillRun{released: make(map[string]bool), done: make(chan struct{})}
	for k, e := range d.backfill {
		delete(d.backfill, k)
		if e.end.Sub(now) < time.Millisecond {
			d.backfillDropped.Add(1)
			continue
		}
		r.keys = append(r.keys, k)
		r.entries = append(r.entries, e)
		d.inflight[k] = r
	}
	d.backfillLen.Store(0)
	if len(r.keys) == 0 {
		return nil
	}
	r.written = make([]bool, len(r.keys))
	return r
}

// cmds are the run's commands for one attempt: SET NX with the rest of each
// window. nonce must differ from the nonce of the claims sent with them, so
// that a claim never takes a value its own call's backfill wrote for its
// own.
func (r *backfillRun) cmds(ctx context.Context, prefix string, nonce uint32, now time.Time) []*redis.BoolCmd {
	if r == nil {
		return nil
	}
	r.nonce = nonce
	out := make([]*redis.BoolCmd, len(r.keys))
	for i, k := range r.keys {
		e := r.entries[i]
		v := strconv.FormatInt(claimValue(e.tag, nonce), 10)
		if len(e.seen) > 0 {
			// The form a crossover writes (see keys.go).
			var sb strings.Builder
			sb.WriteString(v)
			sep := byte('|')
			for _, t := range e.seen {
				sb.WriteByte(sep)
				sb.WriteString(strconv.FormatInt(t, 10))
				sep = ','
			}
			v = sb.String()
		}
		out[i] = redis.NewBoolCmd(ctx, "set", prefix+k, v, "px", windowMillis(e.end.Sub(now)), "nx")
	}
	return out
}

// settle records which of an answered attempt's backfill claims Redis took
// (set, or already claimed: either way the key is claimed), and remembers
// those it set for Release (a key released while in flight is released
// once the run ends, see forgetBackfill).
func (r *backfillRun) settle(d *Deduper, cmds []*redis.BoolCmd) {
	var recs []pendingRecord
	now := d.now()
	for i, c := range cmds {
		if c.Err() == nil {
			r.written[i] = true
			d.backfilled.Add(1)
			if c.Val() {
				e := r.entries[i]
				recs = append(recs, pendingRecord{key: r.keys[i], rec: claimRecord{
					written: strconv.FormatInt(claimValue(e.tag, r.nonce), 10),
					prev:    "", prevAt: -1, px: windowMillis(e.end.Sub(now)),
					until: recordUntil(now, e.end.Sub(now)),
				}})
			}
		}
	}
	d.records.put(recs, now)
}

// endBackfill ends a run: the claims Redis did not take go back to the
// backfill, unless they were released meanwhile, and the Releases waiting
// for the run go on.
func (d *Deduper) endBackfill(r *backfillRun) {
	if r == nil {
		return
	}
	d.mu.Lock()
	for i, k := range r.keys {
		if d.inflight[k] == r {
			delete(d.inflight, k)
		}
		if !r.written[i] && !r.released[k] {
			if later, ok := d.backfill[k]; ok {
				// Granted again meanwhile: the later claim holds the key.
				d.backfill[k] = mergeBackfill(r.entries[i], later)
			} else {
				d.addBackfillLocked(k, r.entries[i])
			}
		}
	}
	d.mu.Unlock()
	close(r.done)
}

// forgetBackfill takes key out of the backfill. When its backfill is in
// flight, it returns a channel closed when that round trip has ended.
func (d *Deduper) forgetBackfill(key string) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.backfill, key)
	d.backfillLen.Store(int64(len(d.backfill)))
	if r := d.inflight[key]; r != nil {
		r.released[key] = true
		return r.done
	}
	return nil
}
