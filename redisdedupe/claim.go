package redisdedupe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim records that key's subject was exposed to variant, in the Redis
// every instance shares. first reports that key's subject was not exposed
// to variant within the last window, on any instance: the exposure is new
// and is sent. crossover reports that key held another variant: the
// subject crossed over, and key now holds variant for a new window. A
// crossover back to a variant exposed within the window is not first
// (see the package doc). Exactly one of several concurrent claims of a key
// and variant is first, a crossover's included.
//
// Claim waits for Redis as the package doc describes: up to
// (1 + retries) × timeout, then the fallback answers. A ctx that ends stops
// the wait: the fallback answers, and Redis is not counted unavailable for
// it. The error is always nil.
func (d *Deduper) Claim(ctx context.Context, key, variant string, window time.Duration) (first, crossover bool, err error) {
	f, c, err := d.ClaimBatch(ctx, []string{key}, []string{variant}, window)
	if err != nil {
		return false, false, err
	}
	return f[0], c[0], nil
}

// ClaimBatch is Claim for each key, in one round trip to Redis (a
// pipeline): first[i] and crossover[i] answer keys[i] with variants[i], in
// order: a key repeated in keys is answered as if claimed one after the
// other. A crossover costs a second round trip, for the crossovers of the
// batch only.
// The error is nil unless keys and variants differ in length.
func (d *Deduper) ClaimBatch(ctx context.Context, keys, variants []string, window time.Duration) (first, crossover []bool, err error) {
	if len(variants) != len(keys) {
		return nil, nil, fmt.Errorf("redisdedupe: ClaimBatch given %d keys and %d variants", len(keys), len(variants))
	}
	first, crossover = make([]bool, len(keys)), make([]bool, len(keys))
	if len(keys) == 0 {
		return first, crossover, nil
	}
	b := d.newBatch(keys, variants, window)
	d.claims.Add(int64(len(keys)))
	admitted, probe := d.admit()
	if !admitted {
		d.noteFallbacks(int64(len(keys)))
		d.fallbackClaims(ctx, b, first, crossover, nil)
		return first, crossover, nil
	}

	// The claims: SET key value NX GET PX window, in one round trip, with
	// the backfill ahead of them. Every attempt reads the old value: go-redis
	// itself resends a pipeline whose answer was lost on a broken
	// connection, and the resent SET NX then finds the value our first send
	// set, which the nonce tells from another instance's.
	run := d.takeBackfill()
	defer d.endBackfill(run)
	var sets []*redis.StringCmd
	var bf []*redis.BoolCmd
	res, lastErr := d.send(ctx, probe, func() []redis.Cmder {
		bf = run.cmds(ctx, d.prefix, b.nonce^1, d.now())
		sets = b.setCmds(ctx, d.prefix)
		all := make([]redis.Cmder, 0, len(bf)+len(sets))
		for _, c := range bf {
			all = append(all, c)
		}
		for _, c := range sets {
			all = append(all, c)
		}
		return all
	})
	switch res {
	case gaveUp:
		// The caller gave up waiting; Redis may be fine.
		d.probeOver()
		d.noteFallbacks(int64(len(keys)))
		d.fallbackClaims(ctx, b, first, crossover, nil)
		return first, crossover, nil
	case fellBack:
		d.failed(lastErr, len(keys))
		d.fallbackClaims(ctx, b, first, crossover, nil)
		return first, crossover, nil
	}
	d.answered()
	run.settle(d, bf)
	failed, crossed := b.settleSets(sets, first)

	// The crossovers, if any: each moves its key to the new variant, if no
	// other claim did it first, in a second round trip.
	var counted []int // keys that fell back, already counted
	if len(crossed) > 0 {
		groups := b.crossGroups(crossed)
		var scripts []*redis.Cmd
		res, lastErr := d.send(ctx, false, func() []redis.Cmder {
			scripts = b.crossoverCmds(ctx, d.prefix, groups)
			all := make([]redis.Cmder, len(scripts))
			for i, c := range scripts {
				all[i] = c
			}
			return all
		})
		switch res {
		case gaveUp:
			d.noteFallbacks(int64(len(crossed)))
			counted = crossed
		case fellBack:
			d.failed(lastErr, len(crossed))
			counted = crossed
		default:
			failed = append(failed, b.settleCrossovers(scripts, groups, first, crossover)...)
		}
	}
	if len(failed) > 0 {
		// Keys that failed on their own (one node of a cluster
		// unreachable) fall back.
		d.errs.Add(1)
		d.noteFallbacks(int64(len(failed)))
	}
	fell := append(failed, counted...)
	if len(fell) > 0 {
		d.fallbackClaims(ctx, b, first, crossover, fell)
	}
	d.records.put(b.recs, b.now)
	// Write-through: the fallback learns what Redis said, so that in an
	// outage this instance still knows the users it saw and their variants.
	for i, k := range b.keys {
		if containsInt(fell, i) {
			continue
		}
		_, _, _ = d.fallback.Claim(ctx, k, variants[i], window)
		// This instance may know better than Redis: a claim the fallback
		// granted during an outage whose backfill never reached Redis (past
		// the backfill limit, or refused while Redis loaded its data) is new
		// to Redis, but its exposure was sent.
		if first[i] {
			if fresh, _, err := d.outageGrants.Claim(ctx, k, variants[i], window); err == nil && !fresh {
				first[i], crossover[i] = false, false
				d.fallbackKnew.Add(1)
			} else if err == nil {
				_ = d.outageGrants.Release(ctx, k) // only a probe
			}
		}
	}
	return first, crossover, nil
}

// A batch is one ClaimBatch call's claims, as they are stored.
type batch struct {
	keys     []string // stored keys, without the prefix
	variants []string
	tags     []int64
	values   []string // claimValue, in decimal, each with its own nonce
	window   time.Duration
	px       int64
	nonce    uint32 // this call's: every value it writes derives from it
	// read is, for each key that crossed over, what its SET read (see
	// settleSets): what a retry falls back on (see settleCrossovers).
	read map[string]heldState
	// recs are the claims that wrote a key, for Release (see release.go).
	recs []pendingRecord
	now  time.Time
}

// heldState is what a SET of the batch learned of a key: the value it read,
// or claimed when the key was free (or already this call's).
type heldState struct {
	tag     int64 // the tag this call makes the key hold, so far
	value   string
	claimed bool
	own     int64 // the tag the SET claimed the key with
}

func (d *Deduper) newBatch(keys, variants []string, window time.Duration) *batch {
	b := &batch{
		keys:     make([]string, len(keys)),
		variants: variants,
		tags:     make([]int64, len(keys)),
		values:   make([]string, len(keys)),
		window:   window,
		px:       windowMillis(window),
		nonce:    rand.Uint32(),
		now:      d.now(),
	}
	for i, k := range keys {
		b.keys[i] = d.storedKey(k)
		b.tags[i] = d.variantTag(variants[i])
		b.values[i] = strconv.FormatInt(claimValue(b.tags[i], claimNonce(b.nonce, i)), 10)
	}
	return b
}

func (b *batch) setCmds(ctx context.Context, prefix string) []*redis.StringCmd {
	out := make([]*redis.StringCmd, len(b.keys))
	for i, k := range b.keys {
		out[i] = redis.NewStringCmd(ctx, "set", prefix+k, b.values[i], "nx", "get", "px", b.px)
	}
	return out
}

// settleSets reads the answered SETs into first. It returns the indexes of
// the keys whose SET failed on its own, and of those whose key held
// another variant (crossed: the second round trip moves them).
func (b *batch) settleSets(sets []*redis.StringCmd, first []bool) (failed, crossed []int) {
	// What this call makes each key hold, so far: a key repeated in the
	// batch is decided here, by the occurrences before it.
	held := make(map[string]heldState, len(b.keys))
	for i, set := range sets {
		k, tag := b.keys[i], b.tags[i]
		if h, ok := held[k]; ok {
			if h.tag != tag {
				crossed = append(crossed, i)
				h.tag = tag
				held[k] = h
			}
			continue
		}
		err := set.Err()
		h := heldState{tag: tag, value: set.Val(), own: tag}
		switch {
		case errors.Is(err, redis.Nil):
			first[i], h.claimed = true, true // the key was free: this SET claimed it
			b.record(k, b.values[i], "", -1, recordUntil(b.now, b.window))
		case err != nil:
			failed = append(failed, i)
			continue
		case valueCurrent(set.Val()) == b.values[i]:
			// Set by a send of ours whose answer was lost.
			first[i], h.claimed = true, true
			b.record(k, b.values[i], "", -1, recordUntil(b.now, b.window))
		case valueTag(set.Val()) == tag:
			// A duplicate: the window is not refreshed.
		default:
			crossed = append(crossed, i)
		}
		held[k] = h
	}
	if len(crossed) > 0 {
		b.read = held
	}
	return failed, crossed
}

// valueCurrent is the current part of a value read from Redis.
func valueCurrent(v string) string {
	current, _ := splitValue(v)
	return current
}

// crossoverScript moves a key through the variants of its crossovers in one
// batch, in order (one, mostly); it answers each with a code:
//
//	0: the key holds the variant (another claim moved it first): a duplicate
//	1: the key held another variant; it now holds this one, not exposed
//	   within the window: a crossover, sent
//	2: the key held another variant; it now holds this one, exposed within
//	   the window already: a crossover, not sent
//	3: the key was gone (expired or released since): a first claim
//	4: the key holds this call's last value, written by a send of ours whose
//	   answer was lost; this is not the last crossover of the key, and the
//	   code is not known (see settleCrossovers)
//
// When the key holds this call's last value the last code is read from it:
// an integer is a 3, a listed current tag a 2, else a 1.
//
// After the codes it answers, for Release, the value the key held ("" for
// none) and its expiry (PEXPIRETIME: Unix ms; -1 for none, -2 for no key).
//
// KEYS[1] is the key; ARGV: the window in ms, the number of tags listed at
// most, and the values, in order (integers below 2^53, exact as Lua
// numbers). The value written is the last value, followed by the tags of
// the other variants exposed within the window (see keys.go); every write
// starts a new window.
const crossoverScript = `local cur = redis.call('GET', KEYS[1])
local at = -2
if cur then at = redis.call('PEXPIRETIME', KEYS[1]) end
local cap, m = tonumber(ARGV[2]), #ARGV - 2
local function tagof(v)
  local n = tonumber(v)
  if not n or n < 0 or n >= 9007199254740992 then return -1 end
  return math.floor(n / 4294967296)
end
local function index(list, t)
  for i = 1, #list do if list[i] == t then return i end end
  return nil
end
local now, list = cur, {}
if cur then
  local bar = string.find(cur, '|', 1, true)
  if bar then
    now = string.sub(cur, 1, bar - 1)
    for t in string.gmatch(string.sub(cur, bar + 1), '%d+') do list[#list + 1] = tonumber(t) end
  end
end
local codes = {}
if now == ARGV[m + 2] then
  for j = 1, m - 1 do codes[j] = 4 end
  if now == cur then codes[m] = 3
  elseif index(list, tagof(now)) then codes[m] = 2
  else codes[m] = 1 end
  codes[m + 1], codes[m + 2] = cur, at
  return codes
end
local moved = false
for j = 1, m do
  local v = ARGV[j + 2]
  local t = tagof(v)
  if not now then
    codes[j], list, now, moved = 3, {}, v, true
  else
    local held = tagof(now)
    if held == t then
      codes[j] = 0
    else
      if index(list, t) then codes[j] = 2 else codes[j] = 1 end
      if held >= 0 then
        local i = index(list, held)
        if i then table.remove(list, i) end
        list[#list + 1] = held
      end
      while #list > cap do
        if list[1] == t then table.remove(list, 2) else table.remove(list, 1) end
      end
      now, moved = v, true
    end
  end
end
if moved then
  local value = now
  if #list > 0 then value = now .. '|' .. table.concat(list, ',') end
  redis.call('SET', KEYS[1], value, 'PX', ARGV[1])
end
codes[m + 1], codes[m + 2] = cur or '', at
return codes`

// A crossGroup is the crossovers of one key in a batch, in order: one
// script moves the key through all of them.
type crossGroup struct {
	key     string
	indexes []int
}

// crossGroups groups crossed (indexes, in order) by key.
func (b *batch) crossGroups(crossed []int) []crossGroup {
	var groups []crossGroup
	at := make(map[string]int, len(crossed))
	for _, i := range crossed {
		k := b.keys[i]
		if g, ok := at[k]; ok {
			groups[g].indexes = append(groups[g].indexes, i)
			continue
		}
		at[k] = len(groups)
		groups = append(groups, crossGroup{key: k, indexes: []int{i}})
	}
	return groups
}

func (b *batch) crossoverCmds(ctx context.Context, prefix string, groups []crossGroup) []*redis.Cmd {
	out := make([]*redis.Cmd, len(groups))
	for j, g := range groups {
		args := make([]any, 0, 5+len(g.indexes))
		args = append(args, "eval", crossoverScript, 1, prefix+g.key, b.px, seenCap)
		for _, i := range g.indexes {
			args = append(args, b.values[i])
		}
		out[j] = redis.NewCmd(ctx, args...)
	}
	return out
}

// settleCrossovers reads the answered crossover scripts; it returns the
// indexes of the keys whose script failed on its own.
func (b *batch) settleCrossovers(scripts []*redis.Cmd, groups []crossGroup, first, crossover []bool) (failed []int) {
	for j, g := range groups {
		codes, held, heldAt, ok := crossoverAnswer(scripts[j], len(g.indexes))
		if !ok {
			failed = append(failed, g.indexes...)
			continue
		}
		var exposed []int64 // what the SET read, for code 4, moved along
		wrote, lost := -1, false
		for n, i := range g.indexes {
			code := codes[n]
			if code != 0 {
				wrote = i
			}
			if valueCurrent(held) == b.values[i] {
				lost = true // the script found a value of ours
			}
			if code == 4 {
				lost = true
				// A lost send of ours moved the key through all of the
				// group; Redis no longer tells what each move found. What
				// this call's SET read is the best guess (wrong only if
				// another instance moved the key in between: then a
				// variant may be sent twice, never lost).
				if exposed == nil {
					exposed = b.exposedAtRead(g.key)
				}
				code = 1
				if slices.Contains(exposed, b.tags[i]) {
					code = 2
				}
				exposed = append(exposed, b.tags[i])
			}
			first[i], crossover[i] = code == 1 || code == 3, code == 1 || code == 2
		}
		if wrote < 0 {
			continue
		}
		// What Release puts back: what the batch found, if the script's
		// read is that (a key this call's SET claimed was free; a lost send
		// of ours hid what it replaced: then nothing, the key is deleted).
		if lost || b.read[g.key].claimed || held == "" {
			held, heldAt = "", -1
		}
		b.record(g.key, b.values[wrote], held, heldAt, recordUntil(b.now, b.window))
	}
	return failed
}

// crossoverAnswer reads a crossover script's answer for m values: its
// codes, the value the key held and that value's expiry.
func crossoverAnswer(cmd *redis.Cmd, m int) (codes []int64, held string, heldAt int64, ok bool) {
	vals, err := cmd.Slice()
	if err != nil || len(vals) != m+2 {
		return nil, "", 0, false
	}
	codes = make([]int64, m)
	for n := range m {
		if codes[n], ok = vals[n].(int64); !ok {
			return nil, "", 0, false
		}
	}
	held, _ = vals[m].(string)
	heldAt, ok = vals[m+1].(int64)
	return codes, held, heldAt, ok
}

// exposedAtRead is the tags key's SET read as exposed within the window.
func (b *batch) exposedAtRead(key string) []int64 {
	h := b.read[key]
	if h.claimed {
		return []int64{h.own}
	}
	return exposedTags(h.value)
}

// fallbackClaims answers the batch's claims (all of them, or those at the
// indexes in only) from the fallback, and remembers the ones it granted for
// the backfill. The caller counts them.
func (d *Deduper) fallbackClaims(ctx context.Context, b *batch, first, crossover []bool, only []int) {
	end := d.now().Add(b.window)
	var granted []int
	claim := func(i int) {
		f, c, err := d.fallback.Claim(ctx, b.keys[i], b.variants[i], b.window)
		if err != nil {
			// Better a possible duplicate than a lost exposure.
			f, c = true, false
		}
		first[i], crossover[i] = f, c
		if f {
			granted = append(granted, i)
			_, _, _ = d.outageGrants.Claim(ctx, b.keys[i], b.variants[i], b.window)
		}
	}
	if only == nil {
		for i := range b.keys {
			claim(i)
		}
	} else {
		for _, i := range only {
			claim(i)
		}
	}
	if d.backfillLimit == 0 || len(granted) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, i := range granted {
		d.addBackfillLocked(b.keys[i], backfillEntry{end: end, tag: b.tags[i]})
	}
}

// How a send ended.
type sendResult int

const (
	sent     sendResult = iota // Redis answered (some commands may have failed on their own)
	gaveUp                     // the caller's context ended first
	fellBack                   // every attempt timed out, or Redis failed: the error says how
)

// send makes one round trip of the commands build makes, and sends new
// ones (build is called again) while a round trip is abandoned at the
// timeout, up to the retries; a probe is never retried. The commands of the
// last attempt are the answer.
func (d *Deduper) send(ctx context.Context, probe bool, build func() []redis.Cmder) (sendResult, error) {
	attempts := 1
	if !probe {
		attempts += d.retries
	}
	var lastErr error
	for attempt := range attempts {
		if attempt > 0 {
			d.retried.Add(1)
		}
		// An abandoned call still owns its commands: each attempt has new
		// ones.
		cmds := build()
		err, out := d.roundTrip(ctx, func(ctx context.Context) error {
			if len(cmds) == 1 {
				return d.client.Process(ctx, cmds[0])
			}
			_, err := d.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, c := range cmds {
					_ = p.Process(ctx, c)
				}
				return nil
			})
			return err
		})
		switch {
		case out == canceled:
			return gaveUp, err
		case out == abandoned:
			lastErr = err
			continue
		case err != nil && !answeredAny(cmds):
			// Refused, or failed as a whole: Redis is unavailable. No
			// retry: it would not answer sooner.
			return fellBack, err
		}
		return sent, nil
	}
	return fellBack, lastErr
}

func answeredAny(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if err := c.Err(); err == nil || errors.Is(err, redis.Nil) {
			return true
		}
	}
	return false
}
