// Package redisdedupe shares exposure's dedupe window across app instances
// through Redis.
//
// Web apps run several instances behind a load balancer. With the default
// in-memory deduper each instance remembers only the users it served, so a
// user who hits three instances is exposed three times. A [Deduper] keeps the
// claims in Redis instead, so that exactly one instance sends each
// (user, experiment, variant) exposure per window:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	dedupe, err := redisdedupe.NewDeduper(rdb)
//	if err != nil {
//		return err // a nil client or a bad option, named
//	}
//	tracker, err := exposure.NewTracker(
//		exposure.WithDeduper(dedupe),
//		// WithExperiments, WithSink, ...
//	)
//
// A claim is one SET key token NX PX window; all the claims of one call go
// to Redis in one pipelined round trip ([Deduper.ClaimBatch]). The Tracker
// claims off the request path, in a stage of its own that gathers the
// claims of many requests into one ClaimBatch: no request waits for Redis,
// and one round trip serves many requests. Any [redis.UniversalClient]
// works: single node, cluster, sentinel or ring.
//
// # Slow Redis: wait, retry, then fall back
//
// Because no request waits for it, the Deduper waits for Redis to be right
// rather than fast. A round trip may take up to the timeout ([WithTimeout],
// 2s by default); one that Redis has not answered by then is sent again
// ([WithRetries], once by default), and the retry reads back each key to
// recognize a claim the lost round trip did make. Only when every attempt
// timed out, or Redis refused the connection or answered with an error,
// does the fallback deduper ([WithFallback], in memory by default) answer
// instead. A loaded machine that makes a healthy Redis take 100 ms, or a
// connection that went stale, therefore costs time, not duplicates. The
// worst a claim waits is (1 + retries) × timeout: 4s by default, in the
// Tracker's claim stage, not in a request.
//
// After a fallback the Deduper stops asking Redis for a cool-down
// ([WithCooldown], 1s by default), so a dead Redis does not cost every
// claim the timeout. Then one call at a time probes Redis (a single
// attempt; other concurrent calls keep using the fallback); the first answer
// switches back to Redis. There is no circuit that stays open. A round trip
// abandoned at the timeout that succeeds later (Redis was slow, not gone)
// ends the cool-down at once. Fallbacks are counted ([Deduper.Stats]) and
// logged once per interval ([WithLogInterval]), not once per claim.
//
// NewDeduper connects in the background, so that the first claim does not
// pay for dialing.
//
// # What falling back costs
//
// While Redis is unavailable each instance dedupes the users it serves, in
// its own memory: exposures keep flowing, and a user is exposed at most
// once per instance that serves them during the outage (three instances:
// at worst three exposures of one user, where Redis would have allowed
// one). Two things keep the outage from costing more:
//
//   - The fallback also remembers every claim Redis answered
//     (write-through), so an instance does not expose again, during the
//     outage, the users it saw before it.
//   - The claims the fallback granted are written to Redis (SET NX with
//     the rest of their window; at most [WithBackfillLimit] of them, 10,000
//     by default) in the first round trip after Redis answers again, all of
//     them, ahead of that round trip's claims. From then on no other
//     instance exposes those users again.
//
// What the backfill cannot repair is what was already sent: a user exposed
// by two instances during the outage, or by one during the outage and by
// another after Redis came back but before the first instance's backfill
// reached it (its next claim after the cool-down), was exposed twice.
// Claims beyond the backfill limit are not written (Stats.BackfillDropped).
//
// A Redis that restarts without persistence forgets its claims: users
// claimed before are exposed once more. Mixpanel deduplicates retries by
// $insert_id, not repeated exposures, so give Redis persistence (or a
// replica) if that matters to you.
package redisdedupe

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/options"
	"github.com/redis/go-redis/v9"
)

// Defaults of the options.
const (
	defaultKeyPrefix     = "exposure:"
	defaultTimeout       = 2 * time.Second
	defaultRetries       = 1
	defaultCooldown      = time.Second
	defaultLogInterval   = time.Minute
	defaultBackfillLimit = 10000
)

// fallbackCapacity is how many keys the default fallback holds, as many as
// the Tracker's own in-memory deduper.
const fallbackCapacity = 1_000_000

// warmUpTimeout bounds the connection NewDeduper opens in the background.
const warmUpTimeout = 5 * time.Second

// errTimeout is what a round trip abandoned at the timeout reports.
var errTimeout = errors.New("redisdedupe: no answer from Redis within the timeout")

// Deduper is an [exposure.BatchDeduper] that keeps claims in Redis, with a
// fallback deduper for when Redis is unavailable. Create it with
// [NewDeduper]; it is safe for concurrent use. Its methods never return an
// error: a failed Redis call is answered by the fallback and counted in
// [Deduper.Stats].
type Deduper struct {
	client        redis.UniversalClient
	prefix        string
	timeout       time.Duration
	retries       int
	cooldown      time.Duration
	logInterval   time.Duration
	backfillLimit int
	fallback      exposure.Deduper
	log           *slog.Logger
	keySecret     []byte // nil: keys are stored as given
	// outageGrants remembers the claims the fallback granted during an
	// outage, for their window: Redis may not learn them (see settleClaims).
	outageGrants exposure.Deduper
	now          func() time.Time
	inline       bool   // the client honors context deadlines
	id           string // this Deduper's part of every claim's token
	seq          atomic.Uint64

	// up is true while Redis answers; it is the lock-free fast path of every
	// claim. The rest of the health state is under mu.
	up              atomic.Bool
	mu              sync.Mutex
	downSince       time.Time
	downUntil       time.Time // no Redis calls before this, while !up
	probing         bool      // a call is asking Redis whether it is back
	lastLog         time.Time
	unlogged        int64                // fallbacks since the last warning
	fallbacksAtDown int64                // Stats.Fallbacks when Redis went down
	backfill        map[string]time.Time // fallback claims to write to Redis, by key: end of window
	inflight        map[string]*backfillRun
	// backfillLen is len(backfill), written under mu, read without it so
	// that claims skip the lock when there is nothing to backfill.
	backfillLen atomic.Int64

	claims, fallbacks, errs, timeouts, retried, roundTrips, releases, backfilled, backfillDropped, fallbackKnew atomic.Int64
}

var _ exposure.BatchDeduper = (*Deduper)(nil)

// An Option configures a [Deduper]; see [NewDeduper]. An option given a
// bad value returns an error wrapping exposure.ErrInvalidConfig that names
// it, and NewDeduper reports every such error at once.
type Option func(*config) error

type config struct {
	prefix        string
	timeout       time.Duration
	retries       int
	cooldown      time.Duration
	logInterval   time.Duration
	backfillLimit int
	fallback      exposure.Deduper
	log           *slog.Logger
	keySecret     []byte
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: redisdedupe: "+format, append([]any{exposure.ErrInvalidConfig}, args...)...)
}

// WithKeyPrefix sets the prefix of every Redis key the Deduper writes, so that
// its keys do not collide with others in the same database and several
// environments can share one Redis. Default "exposure:"; "" writes the bare
// keys. Keys are the prefix followed by the Tracker's
// dedupe key, a hash: no user id appears in Redis.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) error {
		c.prefix = prefix
		return nil
	}
}

// WithKeySecret keys the hash under which claims are stored. Without it a
// Redis key is the prefix and the Tracker's dedupe key, an unkeyed SHA-256
// of (distinct id, experiment, variant): anyone who can read the Redis and
// has a list of candidate ids (emails, account numbers) can tell which of
// them were exposed to which variant, by hashing the candidates. With a
// secret, the key is HMAC-SHA256(secret, dedupe key), which cannot be
// tested without the secret. Every instance sharing the Redis needs the
// same secret; changing it forgets every claim (exposures are sent again
// once). The secret must be at least 32 bytes.
func WithKeySecret(secret []byte) Option {
	return func(c *config) error {
		if len(secret) < 32 {
			// Never the secret itself: only its length.
			return configErr("WithKeySecret: the secret is %d bytes; it needs at least 32", len(secret))
		}
		c.keySecret = bytes.Clone(secret)
		return nil
	}
}

// WithTimeout sets how long one round trip to Redis may take before it
// counts as lost: it is then retried ([WithRetries]), and when every
// attempt was lost the fallback answers. Default 2s, long enough for a
// healthy Redis on a loaded machine: the Tracker claims off the request
// path, so a long wait delays exposures, never a page. It must be positive.
//
// Give the client ContextTimeoutEnabled: true (a *redis.Client,
// *redis.ClusterClient or *redis.Ring): it then ends each call at the
// timeout itself, and the call runs on the caller's goroutine. Otherwise the
// Deduper runs each call on a goroutine of its own, stops waiting at the
// timeout, and the call goes on in the background until the client's own
// read and write timeouts end it; that costs a goroutine hand-off per call.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return configErr("WithTimeout(%v): the timeout must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetries sets how many times a round trip that Redis did not answer
// within the timeout is sent again before the fallback answers. A retry
// reads each key back, so that a claim the lost round trip made in Redis
// is still this call's. Default 1; 0 falls back at the first timeout. A
// probe after the cool-down is never retried. It must not be negative.
func WithRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return configErr("WithRetries(%d): the number of retries must not be negative", n)
		}
		c.retries = n
		return nil
	}
}

// WithCooldown sets how long the Deduper stops asking Redis after a
// fallback; every claim meanwhile goes straight to the fallback. After the
// cool-down one call at a time asks Redis again, and the first answer brings
// every claim back to Redis. Default 1s; 0 retries Redis
// on the next claim. It must not be negative.
func WithCooldown(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return configErr("WithCooldown(%v): the cool-down must not be negative", d)
		}
		c.cooldown = d
		return nil
	}
}

// WithFallback sets the deduper that answers while Redis is unavailable, and
// that also remembers the claims Redis answered (see the package doc). It
// should be local and fast. Default: an exposure.NewMemoryDeduper of
// 1,000,000 keys of about 40 bytes each.
func WithFallback(f exposure.Deduper) Option {
	return func(c *config) error {
		if f == nil {
			return configErr("WithFallback given a nil Deduper")
		}
		c.fallback = f
		return nil
	}
}

// WithLogger sets where the Deduper reports that Redis became unavailable
// (a warning, at most once per log interval) and that it answers again (info).
// Default: [slog.Default] at the time NewDeduper is called.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return configErr("WithLogger given a nil logger")
		}
		c.log = l
		return nil
	}
}

// WithLogInterval sets the least time between two "Redis unavailable"
// warnings: a Redis that stays down is reported once per interval, with the
// number of claims that fell back meanwhile, not once per request. Default 1
// minute. It must be positive.
func WithLogInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return configErr("WithLogInterval(%v): the interval must be positive", d)
		}
		c.logInterval = d
		return nil
	}
}

// WithBackfillLimit sets how many claims granted by the fallback during an
// outage are remembered, to be written to Redis when it answers again (all
// of them in the first round trip after the outage, about 60 bytes each);
// beyond it new ones are not remembered (counted in Stats.BackfillDropped),
// and other instances may expose those users again. 0 disables the
// backfill. Default 10,000. It must not be negative.
func WithBackfillLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return configErr("WithBackfillLimit(%d): the limit must not be negative", n)
		}
		c.backfillLimit = n
		return nil
	}
}

// NewDeduper returns a Deduper that claims keys in Redis through client,
// which the caller keeps and closes.
//
// A nil client, a nil option and an option given a bad value (a negative
// timeout, say) are errors wrapping exposure.ErrInvalidConfig that name
// what is wrong; NewDeduper reports all of them at once, joined.
func NewDeduper(client redis.UniversalClient, opts ...Option) (*Deduper, error) {
	c := config{
		prefix:        defaultKeyPrefix,
		timeout:       defaultTimeout,
		retries:       defaultRetries,
		cooldown:      defaultCooldown,
		logInterval:   defaultLogInterval,
		backfillLimit: defaultBackfillLimit,
	}
	var errs []error
	if isNil(client) {
		errs = append(errs, configErr("NewDeduper given a nil redis client"))
	}
	errs = append(errs, options.Apply(&c, "redisdedupe.NewDeduper", opts)...)
	if len(errs) == 1 {
		return nil, errs[0]
	}
	if len(errs) > 1 {
		return nil, errors.Join(errs...)
	}
	if c.fallback == nil {
		fallback, err := exposure.NewMemoryDeduper(fallbackCapacity)
		if err != nil {
			return nil, err // unreachable: the capacity is positive
		}
		c.fallback = fallback
	}
	outageGrants, err := exposure.NewMemoryDeduper(fallbackCapacity)
	if err != nil {
		return nil, err // unreachable: the capacity is positive
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	d := &Deduper{
		client:        client,
		prefix:        c.prefix,
		keySecret:     c.keySecret,
		timeout:       c.timeout,
		retries:       c.retries,
		cooldown:      c.cooldown,
		logInterval:   c.logInterval,
		backfillLimit: c.backfillLimit,
		fallback:      c.fallback,
		outageGrants:  outageGrants,
		log:           c.log,
		now:           time.Now,
		backfill:      make(map[string]time.Time),
		inflight:      make(map[string]*backfillRun),
		inline:        honorsDeadlines(client),
		id:            hex.EncodeToString(id[:]),
	}
	d.up.Store(true)
	// Connect now, off the request path and with more time than a claim
	// has, so that the first claim does not pay for dialing.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), warmUpTimeout)
		defer cancel()
		_ = client.Ping(ctx).Err()
	}()
	return d, nil
}

// isNil reports whether client is nil, including a typed nil pointer such
// as a (*redis.Client)(nil) in the interface.
func isNil(client redis.UniversalClient) bool {
	if client == nil {
		return true
	}
	switch c := client.(type) {
	case *redis.Client:
		return c == nil
	case *redis.ClusterClient:
		return c == nil
	case *redis.Ring:
		return c == nil
	}
	return false
}

// Claim reports whether key was not claimed within the last window, by any
// instance sharing the Redis; if so it is now claimed for window. Exactly one
// of several concurrent claims of a key wins.
//
// Claim waits for Redis as the package doc describes: up to
// (1 + retries) × timeout, then the fallback answers. A ctx that ends stops
// the wait: the fallback answers, and Redis is not counted unavailable for
// it. The error is always nil.
func (d *Deduper) Claim(ctx context.Context, key string, window time.Duration) (bool, error) {
	first, _ := d.ClaimBatch(ctx, []string{key}, window)
	return first[0], nil
}

// storedKey is the key as it is stored: key itself, or its keyed hash with
// WithKeySecret.
func (d *Deduper) storedKey(key string) string {
	if d.keySecret == nil {
		return key
	}
	m := hmac.New(sha256.New, d.keySecret)
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// ClaimBatch is Claim for each key, in one round trip to Redis (a pipeline);
// first[i] answers keys[i]. A key repeated in keys is first at most once.
// The error is always nil.
func (d *Deduper) ClaimBatch(ctx context.Context, keys []string, window time.Duration) ([]bool, error) {
	first := make([]bool, len(keys))
	if len(keys) == 0 {
		return first, nil
	}
	if d.keySecret != nil {
		stored := make([]string, len(keys))
		for i, k := range keys {
			stored[i] = d.storedKey(k)
		}
		keys = stored
	}
	d.claims.Add(int64(len(keys)))
	admitted, probe := d.admit()
	if !admitted {
		d.noteFallbacks(int64(len(keys)))
		d.fallbackClaims(ctx, keys, window, first, nil)
		return first, nil
	}

	run := d.takeBackfill()
	defer d.endBackfill(run)
	token := d.id + "." + strconv.FormatUint(d.seq.Add(1), 36)
	px := windowMillis(window)
	attempts := 1
	if !probe {
		attempts += d.retries
	}
	var lastErr error
	for attempt := range attempts {
		if attempt > 0 {
			d.retried.Add(1)
		}
		// Every attempt reads its keys back: go-redis itself resends a
		// pipeline whose answer was lost on a broken connection, and the
		// resent SET NX then finds the key our first send set. The token
		// tells our claim from another instance's.
		c := newClaimCmds(ctx, d.prefix, keys, token, px, true)
		bf := run.cmds(ctx, d.prefix, token+backfillTokenSuffix, d.now())
		err, out := d.roundTrip(ctx, func(ctx context.Context) error {
			if len(c.all) == 1 && len(bf) == 0 {
				return d.client.Process(ctx, c.all[0])
			}
			_, err := d.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, b := range bf {
					_ = p.Process(ctx, b)
				}
				for _, cmd := range c.all {
					_ = p.Process(ctx, cmd)
				}
				return nil
			})
			return err
		})
		switch {
		case out == canceled:
			// The caller gave up waiting; Redis may be fine.
			d.probeOver()
			d.noteFallbacks(int64(len(keys)))
			d.fallbackClaims(ctx, keys, window, first, nil)
			return first, nil
		case out == abandoned:
			// The abandoned call still owns its commands: try again with
			// new ones, which recognize what it may have claimed.
			lastErr = err
			continue
		case err != nil && !c.answeredAny() && !answeredAny(bf):
			// Refused, or failed as a whole: Redis is unavailable. No
			// retry: it would not answer sooner.
			lastErr = err
		default:
			d.answered()
			run.settle(d, bf)
			d.settleClaims(ctx, keys, window, first, c, token)
			return first, nil
		}
		break
	}
	d.failed(lastErr, len(keys))
	d.fallbackClaims(ctx, keys, window, first, nil)
	return first, nil
}

// backfillTokenSuffix marks the tokens of backfill SETs, so that a claim's
// read-back never takes a key its own call's backfill wrote for its own.
const backfillTokenSuffix = ".b"

// claimCmds are the commands of one attempt: SET key token NX PX window for
// each key and, in a retry, GET key after it.
type claimCmds struct {
	sets []*redis.BoolCmd
	gets []*redis.StringCmd // nil unless verifying
	all  []redis.Cmder      // in the order sent
}

func newClaimCmds(ctx context.Context, prefix string, keys []string, token string, px int64, verify bool) *claimCmds {
	c := &claimCmds{sets: make([]*redis.BoolCmd, len(keys))}
	if verify {
		c.gets = make([]*redis.StringCmd, len(keys))
	}
	for i, k := range keys {
		c.sets[i] = redis.NewBoolCmd(ctx, "set", prefix+k, token, "px", px, "nx")
		c.all = append(c.all, c.sets[i])
		if verify {
			c.gets[i] = redis.NewStringCmd(ctx, "get", prefix+k)
			c.all = append(c.all, c.gets[i])
		}
	}
	return c
}

func (c *claimCmds) answeredAny() bool {
	for _, cmd := range c.all {
		if err := cmd.Err(); err == nil || errors.Is(err, redis.Nil) {
			return true
		}
	}
	return false
}

// settleClaims reads an answered attempt into first. A key whose SET
// failed on its own (one node of a cluster unreachable) falls back.
func (d *Deduper) settleClaims(ctx context.Context, keys []string, window time.Duration, first []bool, c *claimCmds, token string) {
	var failed []int
	var seen map[string]bool
	if c.gets != nil {
		seen = make(map[string]bool, len(keys))
	}
	for i, set := range c.sets {
		if set.Err() != nil {
			failed = append(failed, i)
			continue
		}
		first[i] = set.Val()
		if c.gets == nil {
			continue
		}
		// The key may hold this call's token, set by a send whose answer
		// was lost (resent by go-redis, or by our retry). It is this call's
		// claim, once.
		if !first[i] && c.gets[i].Err() == nil && c.gets[i].Val() == token && !seen[keys[i]] {
			first[i] = true
		}
		seen[keys[i]] = true
	}
	if len(failed) > 0 {
		d.errs.Add(1)
		d.noteFallbacks(int64(len(failed)))
		d.fallbackClaims(ctx, keys, window, first, failed)
	}
	// Write-through: the fallback learns what Redis said, so that in an
	// outage this instance still knows the users it saw.
	for i, k := range keys {
		if containsInt(failed, i) {
			continue
		}
		_, _ = d.fallback.Claim(ctx, k, window)
		// This instance may know better than Redis: a claim the fallback
		// granted during an outage whose backfill never reached Redis (past
		// the backfill limit, or refused while Redis loaded its data) is new
		// to Redis, but its exposure was sent.
		if first[i] {
			if fresh, err := d.outageGrants.Claim(ctx, k, window); err == nil && !fresh {
				first[i] = false
				d.fallbackKnew.Add(1)
			} else if err == nil {
				_ = d.outageGrants.Release(ctx, k) // only a probe
			}
		}
	}
}

// Release undoes a claim whose exposure could not be queued, so that the next
// render sends it: it deletes key from Redis and from the fallback, and
// takes it out of the backfill. When the key's backfill is on its way to
// Redis, Release waits for that round trip first, so that the backfill
// does not claim the key again after Release deleted it. (One case remains:
// a backfill round trip abandoned at the timeout whose SET reaches Redis
// only after the Release; no client can know when a lost packet arrives.)
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
	admitted, probe := d.admit()
	if !admitted {
		return nil
	}
	attempts := 1
	if !probe {
		attempts += d.retries
	}
	var lastErr error
	for attempt := range attempts {
		if attempt > 0 {
			d.retried.Add(1)
		}
		cmd := redis.NewIntCmd(ctx, "del", d.prefix+key) // idempotent: retried as is
		err, out := d.roundTrip(ctx, func(ctx context.Context) error { return d.client.Process(ctx, cmd) })
		switch {
		case out == canceled:
			d.probeOver()
			return nil
		case out == abandoned:
			lastErr = err
			continue
		case err != nil:
			lastErr = err
		default:
			d.answered()
			return nil
		}
		break
	}
	d.failed(lastErr, 0)
	return nil
}

// Stats are a Deduper's counters since NewDeduper.
type Stats struct {
	// Claims is the number of keys claimed: 1 per Claim, len(keys) per
	// ClaimBatch.
	Claims int64
	// Fallbacks is the number of those claims the fallback deduper answered
	// because Redis refused or failed, did not answer any attempt within
	// the timeout, was cooling down after such a failure, or the caller's
	// context ended first.
	Fallbacks int64
	// Errors is the number of Redis calls that ended in a fallback (every
	// attempt timed out, or Redis failed), plus those with keys that failed
	// on their own.
	Errors int64
	// Timeouts is the number of round trips abandoned at the timeout,
	// retried or not.
	Timeouts int64
	// Retries is the number of round trips sent again because the one
	// before was abandoned at the timeout.
	Retries int64
	// RoundTrips is the number of round trips made to Redis, retries
	// included. Claims / RoundTrips is how many claims share a round trip.
	RoundTrips int64
	// Releases is the number of Release calls.
	Releases int64
	// Backfilled is the number of claims granted by the fallback during an
	// outage that were written to Redis once it answered again.
	Backfilled int64
	// BackfillDropped is the number of such claims not written, because
	// more than the backfill limit piled up or their window ended first.
	BackfillDropped int64
	// BackfillPending is the number of such claims waiting to be written:
	// all of them go with the next round trip that reaches Redis.
	BackfillPending int
	// FallbackKnew is the number of claims Redis granted that the fallback
	// had already granted during an outage (their backfill was dropped or
	// refused): answered as duplicates, since they were sent.
	FallbackKnew int64
	// Down reports whether Redis is considered unavailable now.
	Down bool
}

// Stats returns the Deduper's counters.
func (d *Deduper) Stats() Stats {
	d.mu.Lock()
	pending := len(d.backfill)
	d.mu.Unlock()
	return Stats{
		BackfillPending: pending,
		Claims:          d.claims.Load(),
		Fallbacks:       d.fallbacks.Load(),
		Errors:          d.errs.Load(),
		Timeouts:        d.timeouts.Load(),
		Retries:         d.retried.Load(),
		FallbackKnew:    d.fallbackKnew.Load(),
		RoundTrips:      d.roundTrips.Load(),
		Releases:        d.releases.Load(),
		Backfilled:      d.backfilled.Load(),
		BackfillDropped: d.backfillDropped.Load(),
		Down:            !d.up.Load(),
	}
}

// admit reports whether this call may ask Redis: always while Redis is up;
// while it is down, only one call at a time after the cool-down (the
// probe, which must end with answered, failed or probeOver).
func (d *Deduper) admit() (admitted, probe bool) {
	if d.up.Load() {
		return true, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.up.Load() {
		return true, false
	}
	if d.probing || d.now().Before(d.downUntil) {
		return false, false
	}
	d.probing = true
	return true, true
}

// probeOver lets another call probe: this one ended without an answer
// either way (its caller gave up).
func (d *Deduper) probeOver() {
	d.mu.Lock()
	d.probing = false
	d.mu.Unlock()
}

// How a round trip ended.
type outcome int

const (
	returned  outcome = iota // the call returned, with or without an error
	abandoned                // at the timeout; the call may still be running
	canceled                 // the caller's context ended first
)

// roundTrip runs call with a context that ends at the timeout, and returns
// when it does or at the timeout, whichever comes first: a client that
// ignores context deadlines cannot hold the caller longer.
//
// An abandoned call may still be running and owns its commands. If it then
// succeeds after all, Redis is alive but was slow (a pause, a cold
// connection): the cool-down, if one started, ends early.
func (d *Deduper) roundTrip(ctx context.Context, call func(context.Context) error) (error, outcome) {
	d.roundTrips.Add(1)
	tctx, cancel := context.WithTimeout(ctx, d.timeout)
	if d.inline {
		// The client ends its own calls at tctx's deadline: no goroutine.
		defer cancel()
		err := call(tctx)
		switch {
		case err == nil || errors.Is(err, redis.Nil):
			return err, returned
		case ctx.Err() != nil:
			return ctx.Err(), canceled
		case timedOut(tctx, err):
			d.timeouts.Add(1)
			return errTimeout, abandoned
		}
		return err, returned
	}
	const (
		pending int32 = iota
		finished
		gaveUp
	)
	var state atomic.Int32
	result := make(chan error, 1)
	recorded := make(chan struct{})
	go func() {
		defer cancel()
		err := call(tctx)
		if state.CompareAndSwap(pending, finished) {
			result <- err
			return
		}
		<-recorded // the timeout is recorded: a late answer comes after it
		if err == nil {
			d.lateAnswer()
		}
	}()
	select {
	case err := <-result:
		return err, returned
	case <-tctx.Done():
		if !state.CompareAndSwap(pending, gaveUp) {
			return <-result, returned // answered just in time
		}
		defer close(recorded)
		if ctx.Err() != nil {
			return ctx.Err(), canceled
		}
		d.timeouts.Add(1)
		return errTimeout, abandoned
	}
}

// lateAnswer records that a call abandoned at the timeout succeeded: the
// cool-down ends now.
func (d *Deduper) lateAnswer() {
	d.mu.Lock()
	d.downUntil = time.Time{}
	d.mu.Unlock()
}

// failed records a Redis call that failed for good and made n claims fall
// back.
func (d *Deduper) failed(err error, n int) {
	d.errs.Add(1)
	d.fallbacks.Add(int64(n))
	now := d.now()
	d.mu.Lock()
	d.probing = false
	if d.up.Load() {
		d.up.Store(false)
		d.downSince = now
		d.fallbacksAtDown = d.fallbacks.Load() - int64(n)
	}
	d.downUntil = now.Add(d.cooldown)
	d.unlogged += int64(n)
	logNow := d.lastLog.IsZero() || now.Sub(d.lastLog) >= d.logInterval
	unlogged := d.unlogged
	if logNow {
		d.lastLog = now
		d.unlogged = 0
	}
	d.mu.Unlock()
	if logNow {
		d.log.Warn("redisdedupe: Redis unavailable; deduplicating exposures in this process until it answers",
			slog.String("error", err.Error()),
			slog.Int64("fallbacks", unlogged),
			slog.Duration("retry_in", d.cooldown))
	}
}

// noteFallbacks counts claims that fell back while a call still succeeded.
func (d *Deduper) noteFallbacks(n int64) {
	d.fallbacks.Add(n)
	d.mu.Lock()
	d.unlogged += n
	d.mu.Unlock()
}

// answered records that Redis answered a call.
func (d *Deduper) answered() {
	if d.up.Load() {
		return
	}
	d.mu.Lock()
	d.probing = false
	if d.up.Load() {
		d.mu.Unlock()
		return
	}
	d.up.Store(true)
	downFor := d.now().Sub(d.downSince).Round(time.Millisecond)
	fellBack := d.fallbacks.Load() - d.fallbacksAtDown
	pending := len(d.backfill)
	d.mu.Unlock()
	d.log.Info("redisdedupe: Redis answers again; deduplicating exposures across instances",
		slog.Duration("down_for", downFor),
		slog.Int64("fallbacks", fellBack),
		slog.Int("backfill_pending", pending))
}

// fallbackClaims answers keys (all of them, or those at the indexes in only)
// from the fallback, and remembers the ones it granted for the backfill. The
// caller counts them.
func (d *Deduper) fallbackClaims(ctx context.Context, keys []string, window time.Duration, first []bool, only []int) {
	end := d.now().Add(window)
	var granted []string
	claim := func(i int) {
		ok, err := d.fallback.Claim(ctx, keys[i], window)
		if err != nil {
			// Better a possible duplicate than a lost exposure.
			ok = true
		}
		first[i] = ok
		if ok {
			granted = append(granted, keys[i])
			_, _ = d.outageGrants.Claim(ctx, keys[i], window)
		}
	}
	if only == nil {
		for i := range keys {
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
	for _, k := range granted {
		d.addBackfillLocked(k, end)
	}
}

// addBackfillLocked remembers a fallback claim for the backfill, unless the
// limit is reached.
func (d *Deduper) addBackfillLocked(key string, end time.Time) {
	if _, ok := d.backfill[key]; !ok && len(d.backfill) >= d.backfillLimit {
		d.backfillDropped.Add(1)
		return
	}
	d.backfill[key] = end
	d.backfillLen.Store(int64(len(d.backfill)))
}

// A backfillRun is the backfill one ClaimBatch carries to Redis: every
// pending fallback claim, sent ahead of its own claims. Until the run ends
// its keys are in flight: a Release of one of them waits for done.
type backfillRun struct {
	keys     []string
	ends     []time.Time
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
	for k, end := range d.backfill {
		delete(d.backfill, k)
		if end.Sub(now) < time.Millisecond {
			d.backfillDropped.Add(1)
			continue
		}
		r.keys = append(r.keys, k)
		r.ends = append(r.ends, end)
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
// window. Any value claims the key; the token is as good as any.
func (r *backfillRun) cmds(ctx context.Context, prefix, token string, now time.Time) []*redis.BoolCmd {
	if r == nil {
		return nil
	}
	out := make([]*redis.BoolCmd, len(r.keys))
	for i, k := range r.keys {
		out[i] = redis.NewBoolCmd(ctx, "set", prefix+k, token, "px", windowMillis(r.ends[i].Sub(now)), "nx")
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
				d.addBackfillLocked(k, r.ends[i])
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

func answeredAny(cmds []*redis.BoolCmd) bool {
	for _, c := range cmds {
		if c.Err() == nil {
			return true
		}
	}
	return false
}

// windowMillis is window in whole milliseconds, rounded up, at least 1.
func windowMillis(window time.Duration) int64 {
	ms := int64((window + time.Millisecond - 1) / time.Millisecond)
	if ms < 1 {
		return 1
	}
	return ms
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// honorsDeadlines reports whether client ends its calls at the context's
// deadline (ContextTimeoutEnabled), so that a call can run on the caller's
// goroutine.
func honorsDeadlines(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// timedOut reports whether err ended a call at ctx's deadline: the client
// may report its own network timeout a moment before ctx notices.
func timedOut(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
