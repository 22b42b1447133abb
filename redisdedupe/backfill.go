package redisdedupe

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The backfill: the claims the fallback granted during an outage, written
// to Redis (SET NX with the rest of their window) ahead of the claims of the
// first round trip that reaches Redis again.

// A backfillEntry is one claim granted by the fallback: the end of its
// window and its variant's tag.
type backfillEntry struct {
	end time.Time
	tag int64
}

// addBackfillLocked remembers a fallback claim for the backfill, unless the
// limit is reached.
func (d *Deduper) addBackfillLocked(key string, e backfillEntry) {
	if _, ok := d.backfill[key]; !ok && len(d.backfill) >= d.backfillLimit {
		d.backfillDropped.Add(1)
		return
	}
	d.backfill[key] = e
	d.backfillLen.Store(int64(len(d.backfill)))
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
	out := make([]*redis.BoolCmd, len(r.keys))
	for i, k := range r.keys {
		v := strconv.FormatInt(claimValue(r.entries[i].tag, nonce), 10)
		out[i] = redis.NewBoolCmd(ctx, "set", prefix+k, v, "px", windowMillis(r.entries[i].end.Sub(now)), "nx")
	}
	return out
}

// settle records which of an answered attempt's backfill claims Redis took
// (set, or already claimed: either way the key is claimed).
func (r *backfillRun) settle(d *Deduper, cmds []*redis.BoolCmd) {
	for i, c := range cmds {
		if c.Err() == nil {
			r.written[i] = true
			d.backfilled.Add(1)
		}
	}
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
			if _, ok := d.backfill[k]; !ok {
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
