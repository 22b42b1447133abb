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
// A claim is one SET key 1 NX PX window; all claims of one commit go to Redis
// in one pipelined round trip ([Deduper.ClaimBatch]). Any
// [redis.UniversalClient] works: single node, cluster, sentinel or ring.
//
// # When Redis is down or slow
//
// The request path never waits on Redis for longer than the timeout
// ([WithTimeout], 50ms by default) and never fails because of it. A claim
// that Redis does not answer in time, or answers with an error, is answered by
// the fallback deduper ([WithFallback], in memory by default) instead: during
// an outage each instance still dedupes its own users, so exposures keep
// flowing, at worst one per instance. Such claims are counted
// ([Deduper.Stats]) and logged once per interval ([WithLogInterval]), not once
// per request.
//
// After a failure the Deduper stops asking Redis for a short cool-down
// ([WithCooldown], 1s by default), so a dead Redis does not cost every request
// the timeout. Then one claim at a time probes Redis (the others keep using
// the fallback until it answers); the first answer switches back to Redis.
// There is no circuit that stays open. A call abandoned at the timeout that
// succeeds later (Redis was slow once) ends the cool-down at once.
//
// NewDeduper connects in the background, so that the first request does not pay
// for dialing. Size the client's pool for your concurrency (PoolSize,
// MinIdleConns): a claim that must dial a new connection under load can
// outlast the timeout.
//
// Two things keep the outage from causing more duplicates than it must:
//
//   - The fallback also remembers every claim Redis answered (write-through),
//     so during an outage an instance does not expose again the users it
//     already saw.
//   - The claims the fallback granted during the outage are written to Redis
//     when it answers again (SET NX with the rest of their window, at most
//     [WithBackfillLimit] of them), in the same round trip as the next claims,
//     so the other instances do not expose those users again either.
//
// A Redis that restarts without persistence forgets its claims: users
// claimed before are exposed once more. Mixpanel deduplicates retries by
// $insert_id, not repeated exposures, so give Redis persistence (or a
// replica) if that matters to you.
package redisdedupe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/redis/go-redis/v9"
)

// Defaults of the options.
const (
	defaultKeyPrefix     = "exposure:"
	defaultTimeout       = 50 * time.Millisecond
	defaultCooldown      = time.Second
	defaultLogInterval   = time.Minute
	defaultBackfillLimit = 10000
)

// fallbackCapacity is how many keys the default fallback holds, as many as
// the Tracker's own in-memory deduper.
const fallbackCapacity = 1_000_000

// warmUpTimeout bounds the connection NewDeduper opens in the background.
const warmUpTimeout = 5 * time.Second

// backfillChunk is the most backfill claims added to one round trip.
const backfillChunk = 256

// errTimeout is what a round trip abandoned at the timeout reports.
var errTimeout = errors.New("redisdedupe: no answer from Redis within the timeout")

// Deduper is an [exposure.BatchDeduper] that keeps claims in Redis, with a
// fallback deduper for when Redis is unavailable. Create it with
// [NewDeduper]; it is
// safe for concurrent use. Its methods never return an error: a failed Redis
// call is answered by the fallback and counted in [Deduper.Stats].
type Deduper struct {
	client        redis.UniversalClient
	prefix        string
	timeout       time.Duration
	cooldown      time.Duration
	logInterval   time.Duration
	backfillLimit int
	fallback      exposure.Deduper
	log           *slog.Logger
	now           func() time.Time
	inline        bool // the client honors context deadlines

	// up is true while Redis answers; it is the lock-free fast path of every
	// claim. The rest of the health state is under mu.
	up              atomic.Bool
	mu              sync.Mutex
	downSince       time.Time
	downUntil       time.Time // no Redis calls before this, while !up
	probing         bool      // a claim is asking Redis whether it is back
	lastLog         time.Time
	unlogged        int64                // fallbacks since the last warning
	fallbacksAtDown int64                // Stats.Fallbacks when Redis went down
	backfill        map[string]time.Time // fallback claims to write to Redis, by key: end of window
	// backfillLen is len(backfill), written under mu, read without it so
	// that claims skip the lock when there is nothing to backfill.
	backfillLen atomic.Int64

	claims, fallbacks, errs, timeouts, roundTrips, releases, backfilled, backfillDropped atomic.Int64
}

var _ exposure.BatchDeduper = (*Deduper)(nil)

// An Option configures a [Deduper]; see [NewDeduper]. An option given a
// bad value returns an error wrapping exposure.ErrInvalidConfig that names
// it, and NewDeduper reports every such error at once.
type Option func(*config) error

type config struct {
	prefix        string
	timeout       time.Duration
	cooldown      time.Duration
	logInterval   time.Duration
	backfillLimit int
	fallback      exposure.Deduper
	log           *slog.Logger
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

// WithTimeout sets the longest a claim or release waits for Redis before the
// fallback answers instead. Default 50ms. It must be positive.
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

// WithCooldown sets how long the Deduper stops asking Redis after a failed
// call; every claim meanwhile goes straight to the fallback. After the
// cool-down one claim at a time asks Redis again, and the first answer brings
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
// outage are remembered, to be written to Redis when it answers again; beyond
// it new ones are not remembered (counted in Stats.BackfillDropped). 0 disables the
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
		cooldown:      defaultCooldown,
		logInterval:   defaultLogInterval,
		backfillLimit: defaultBackfillLimit,
	}
	var errs []error
	if isNil(client) {
		errs = append(errs, configErr("NewDeduper given a nil redis client"))
	}
	for i, o := range opts {
		if o == nil {
			errs = append(errs, configErr("NewDeduper: option %d is nil", i))
			continue
		}
		if err := o(&c); err != nil {
			errs = append(errs, err)
		}
	}
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
	if c.log == nil {
		c.log = slog.Default()
	}
	d := &Deduper{
		client:        client,
		prefix:        c.prefix,
		timeout:       c.timeout,
		cooldown:      c.cooldown,
		logInterval:   c.logInterval,
		backfillLimit: c.backfillLimit,
		fallback:      c.fallback,
		log:           c.log,
		now:           time.Now,
		backfill:      make(map[string]time.Time),
		inline:        honorsDeadlines(client),
	}
	d.up.Store(true)
	// Connect now, off the request path and with more time than a claim
	// has, so that the first claim does not pay for dialing (a dial that
	// outlasts the claim's timeout is abandoned and would start a
	// cool-down).
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
// Claim waits at most the timeout. A canceled ctx does not stop it: a commit
// runs as the response finishes, when the request's context may already be
// canceled. The error is always nil.
func (d *Deduper) Claim(ctx context.Context, key string, window time.Duration) (bool, error) {
	first, _ := d.ClaimBatch(ctx, []string{key}, window)
	return first[0], nil
}

// ClaimBatch is Claim for each key, in one round trip to Redis (a pipeline);
// first[i] answers keys[i]. A key repeated in keys is first at most once.
// The error is always nil.
func (d *Deduper) ClaimBatch(ctx context.Context, keys []string, window time.Duration) ([]bool, error) {
	first := make([]bool, len(keys))
	if len(keys) == 0 {
		return first, nil
	}
	d.claims.Add(int64(len(keys)))
	ctx = context.WithoutCancel(ctx)
	if !d.admit() {
		d.noteFallbacks(int64(len(keys)))
		d.fallbackClaims(ctx, keys, window, first, nil)
		return first, nil
	}

	px := windowMillis(window)
	pending := d.takeBackfill()
	cmds := make([]*redis.BoolCmd, len(keys))
	for i, k := range keys {
		cmds[i] = redis.NewBoolCmd(ctx, "set", d.prefix+k, 1, "px", px, "nx")
	}
	err, done := d.roundTrip(ctx, len(keys), func(ctx context.Context) error {
		if len(keys) == 1 && len(pending) == 0 {
			return d.client.Process(ctx, cmds[0])
		}
		_, err := d.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, b := range pending {
				_ = p.Process(ctx, b.cmd)
			}
			for _, c := range cmds {
				_ = p.Process(ctx, c)
			}
			return nil
		})
		return err
	})
	// After a timeout the abandoned call still owns cmds: read them only
	// when it is done. roundTrip recorded the failure.
	if !done {
		d.restoreBackfill(pending)
		d.fallbackClaims(ctx, keys, window, first, nil)
		return first, nil
	}
	if err != nil && !answeredAny(cmds, pending) {
		// The round trip failed as a whole (connection refused, ...).
		d.failed(err, len(keys))
		d.restoreBackfill(pending)
		d.fallbackClaims(ctx, keys, window, first, nil)
		return first, nil
	}

	// Redis answered. A command can still fail on its own (in a cluster,
	// one node of several may be unreachable): those keys fall back one by
	// one.
	d.answered()
	d.settleBackfill(pending)
	var failed []int
	for i, c := range cmds {
		if c.Err() != nil {
			failed = append(failed, i)
			continue
		}
		first[i] = c.Val()
	}
	if len(failed) > 0 {
		d.errs.Add(1)
		d.noteFallbacks(int64(len(failed)))
		d.fallbackClaims(ctx, keys, window, first, failed)
	}
	// Write-through: the fallback learns what Redis said, so that in an
	// outage this instance still knows the users it saw.
	for i, k := range keys {
		if !containsInt(failed, i) {
			_, _ = d.fallback.Claim(ctx, k, window)
		}
	}
	return first, nil
}

// Release undoes a claim whose exposure could not be queued, so that the next
// render sends it: it deletes key from Redis and from the fallback. It waits
// at most the timeout; while Redis is unavailable only the fallback forgets
// the claim. The error is always nil.
func (d *Deduper) Release(ctx context.Context, key string) error {
	d.releases.Add(1)
	ctx = context.WithoutCancel(ctx)
	_ = d.fallback.Release(ctx, key)
	if d.backfillLen.Load() > 0 {
		d.mu.Lock()
		delete(d.backfill, key)
		d.backfillLen.Store(int64(len(d.backfill)))
		d.mu.Unlock()
	}
	if !d.admit() {
		return nil
	}
	cmd := redis.NewIntCmd(ctx, "del", d.prefix+key)
	err, done := d.roundTrip(ctx, 0, func(ctx context.Context) error { return d.client.Process(ctx, cmd) })
	if !done {
		return nil
	}
	if err != nil {
		d.failed(err, 0)
		return nil
	}
	d.answered()
	return nil
}

// Stats are a Deduper's counters since NewDeduper.
type Stats struct {
	// Claims is the number of keys claimed: 1 per Claim, len(keys) per
	// ClaimBatch.
	Claims int64
	// Fallbacks is the number of those claims the fallback deduper answered
	// because Redis failed, did not answer within the timeout, or was cooling
	// down after a failure.
	Fallbacks int64
	// Errors is the number of Redis calls that failed, timeouts included
	// (one per round trip, not per key).
	Errors int64
	// Timeouts is the number of Errors that were calls abandoned at the
	// timeout.
	Timeouts int64
	// RoundTrips is the number of calls made to Redis (one per ClaimBatch,
	// Claim or Release that asked Redis).
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
	// they ride along with the next round trips, a few hundred at a time.
	BackfillPending int
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
		RoundTrips:      d.roundTrips.Load(),
		Releases:        d.releases.Load(),
		Backfilled:      d.backfilled.Load(),
		BackfillDropped: d.backfillDropped.Load(),
		Down:            !d.up.Load(),
	}
}

// admit reports whether this call may ask Redis: always while Redis is up;
// while it is down, only one call at a time after the cool-down (the probe).
func (d *Deduper) admit() bool {
	if d.up.Load() {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.up.Load() {
		return true
	}
	if d.probing || d.now().Before(d.downUntil) {
		return false
	}
	d.probing = true
	return true
}

// roundTrip runs call with a context that ends at the timeout, and returns
// when it does or at the timeout, whichever comes first: a client that
// ignores context deadlines cannot hold the request longer.
//
// When call is abandoned at the timeout, roundTrip records the failure
// itself (n claims fall back) and returns done == false; call may still be
// running and owns its commands. If it then succeeds after all, Redis is
// alive but was slow once (a cold connection, a pause): the cool-down ends
// early, and the next claim asks Redis again.
func (d *Deduper) roundTrip(ctx context.Context, n int, call func(context.Context) error) (err error, done bool) {
	d.roundTrips.Add(1)
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	if d.inline {
		// The client ends its own calls at ctx's deadline: no goroutine.
		defer cancel()
		err := call(ctx)
		if err != nil && timedOut(ctx, err) {
			d.timeouts.Add(1)
			d.failed(errTimeout, n)
			return errTimeout, false
		}
		return err, true
	}
	const (
		pending int32 = iota
		finished
		abandoned
	)
	var state atomic.Int32
	result := make(chan error, 1)
	recorded := make(chan struct{})
	go func() {
		defer cancel()
		err := call(ctx)
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
		return err, true
	case <-ctx.Done():
		if !state.CompareAndSwap(pending, abandoned) {
			return <-result, true // answered just in time
		}
		d.timeouts.Add(1)
		d.failed(errTimeout, n)
		close(recorded)
		return errTimeout, false
	}
}

// lateAnswer records that a call abandoned at the timeout succeeded: the
// cool-down ends now.
func (d *Deduper) lateAnswer() {
	d.mu.Lock()
	d.downUntil = time.Time{}
	d.mu.Unlock()
}

// failed records a failed Redis call that made n claims fall back.
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

type backfillClaim struct {
	key string
	end time.Time
	cmd *redis.BoolCmd
}

// takeBackfill removes up to backfillChunk pending backfill claims, as
// commands to send ahead of the next claims.
func (d *Deduper) takeBackfill() []backfillClaim {
	if d.backfillLen.Load() == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() { d.backfillLen.Store(int64(len(d.backfill))) }()
	now := d.now()
	var out []backfillClaim
	for k, end := range d.backfill {
		if len(out) == backfillChunk {
			break
		}
		delete(d.backfill, k)
		rest := end.Sub(now)
		if rest < time.Millisecond {
			d.backfillDropped.Add(1)
			continue
		}
		cmd := redis.NewBoolCmd(context.Background(), "set", d.prefix+k, 1, "px", windowMillis(rest), "nx")
		out = append(out, backfillClaim{key: k, end: end, cmd: cmd})
	}
	return out
}

// restoreBackfill puts back claims whose round trip failed.
func (d *Deduper) restoreBackfill(pending []backfillClaim) {
	if len(pending) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range pending {
		if _, ok := d.backfill[b.key]; !ok {
			d.addBackfillLocked(b.key, b.end)
		}
	}
}

// settleBackfill counts the backfill claims Redis took and puts back those
// that failed on their own.
func (d *Deduper) settleBackfill(pending []backfillClaim) {
	var failed []backfillClaim
	for _, b := range pending {
		if b.cmd.Err() != nil {
			failed = append(failed, b)
			continue
		}
		d.backfilled.Add(1)
	}
	d.restoreBackfill(failed)
}

func answeredAny(cmds []*redis.BoolCmd, pending []backfillClaim) bool {
	for _, c := range cmds {
		if c.Err() == nil {
			return true
		}
	}
	for _, b := range pending {
		if b.cmd.Err() == nil {
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
