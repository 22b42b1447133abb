// Package redisdedupe shares exposure's dedupe window across app instances
// through Redis.
//
// Web apps run several instances behind a load balancer. With the default
// in-memory deduper each instance remembers only the users it served, so a
// user who hits three instances is exposed three times. A [Deduper] keeps the
// claims in Redis instead, so that exactly one instance sends each
// (user, experiment, variant) exposure per window, and a user moved to
// another variant (a crossover) is counted once per move, on whichever
// instance sees the move first:
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
// # What a claim answers
//
// Within the window, each (user, experiment, variant) is sent at most
// once, and every change of the user's variant is reported as a
// crossover, the same contract as exposure's in-memory deduper. A user
// served a, b, a, b is sent a and b once each, and counted as three
// crossovers: Claim answers first for a new user, neither for the variant
// the user holds, first and crossover for a move to a variant not exposed
// within the window, and crossover alone for a move back to one that was
// (counted, not sent). A user who flips between two variants (two beacon
// tokens replayed in turn, or targeting that flips) therefore costs no
// more exposures than one who does not.
//
// The variants exposed before are remembered with the key, whose window
// restarts at every change: they are forgotten when the latest change's
// window ends, not each one's own (conservative: fewer repeats, never
// more). A key lists at most 16 of them, dropping the oldest, so that a
// user flipping among more variants cannot grow it; those dropped may be
// sent again.
//
// # What Redis holds
//
// Redis holds one key per (user, experiment): 16 raw bytes of a hash after
// the prefix, holding an integer, the latest variant's tag and a nonce,
// with the window as its expiry (about 133 bytes of Redis memory per key;
// the layout before crossovers took about 181). A claim is one
// SET key value NX GET PX window, which also answers what the key held:
// nothing (a first claim), the same variant (a duplicate: the window is not
// refreshed) or another one (a crossover, which a Lua script then moves to
// the new variant unless another claim moved it first: a second round trip,
// for crossovers only). Only that script makes the value a short string
// that also lists the variants exposed before; keys that never crossed
// over keep the integer. It needs Redis 7.0 or later. All the claims of one
// call go to Redis in one pipelined round trip ([Deduper.ClaimBatch]). The Tracker
// claims off the request path, in a stage of its own that gathers the
// claims of many requests into one ClaimBatch: no request waits for Redis,
// and one round trip serves many requests. Any [redis.UniversalClient]
// works: single node, cluster, sentinel or ring.
//
// # Release
//
// The Tracker releases a claim whose exposure it could not queue. Since one
// key holds every variant of a (user, experiment), [Deduper.Release] does
// not delete it blindly: it undoes the claim only if the key still holds
// the value that claim wrote, and puts back what the claim replaced (the
// variant held before, with the variants it listed and the rest of its
// window). A release never takes back a claim another instance made since,
// nor the record of a variant already sent. What each claim wrote and
// replaced is remembered in memory for a short time (see Release).
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
//     instance exposes those users again. A user that crossed over during
//     the outage is written holding the latest variant and listing the
//     earlier ones, so that no other instance sends those again either.
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
	"errors"
	"fmt"
	"log/slog"
	"net"
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
// fallback deduper for when Redis is unavailable. Within the window it
// sends each (key, variant) at most once, across every instance sharing
// the Redis, and reports every change of a key's variant as a crossover
// (see the package doc). Create it with
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
	inline       bool // the client honors context deadlines

	// up is true while Redis answers; it is the lock-free fast path of every
	// claim. The rest of the health state is under mu.
	up              atomic.Bool
	mu              sync.Mutex
	downSince       time.Time
	downUntil       time.Time // no Redis calls before this, while !up
	probing         bool      // a call is asking Redis whether it is back
	lastLog         time.Time
	unlogged        int64                    // fallbacks since the last warning
	fallbacksAtDown int64                    // Stats.Fallbacks when Redis went down
	backfill        map[string]backfillEntry // fallback claims to write to Redis, by key
	inflight        map[string]*backfillRun
	// backfillLen is len(backfill), written under mu, read without it so
	// that claims skip the lock when there is nothing to backfill.
	backfillLen atomic.Int64

	// records are the latest claims written to Redis, for Release.
	records claimRecords

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
// keys. Keys are the prefix followed by 16 raw bytes of the Tracker's
// dedupe key, a hash: no user id appears in Redis. A prefix of up to 12
// bytes costs no memory: Redis rounds a key of up to 28 bytes up to 32.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) error {
		c.prefix = prefix
		return nil
	}
}

// WithKeySecret keys the hash under which claims are stored. Without it a
// Redis key is the prefix and the Tracker's dedupe key, an unkeyed SHA-256
// of (distinct id, experiment), and its value carries an unkeyed hash of
// the variant: anyone who can read the Redis and has a list of candidate
// ids (emails, account numbers) can tell which of them were exposed to
// which variant, by hashing the candidates. With a secret, the key is
// HMAC-SHA256(secret, dedupe key) and the variant's tag is keyed too,
// which cannot be tested without the secret. Every instance sharing the Redis needs the
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
		backfill:      make(map[string]backfillEntry),
		inflight:      make(map[string]*backfillRun),
		records:       claimRecords{max: releaseMemory},
		inline:        honorsDeadlines(client),
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
		if err == nil || errors.Is(err, redis.Nil) {
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
