// Package exposure counts a user in an experiment only when the variant is
// on their screen.
//
// Feature-flag SDKs assign a user to a variant when a flag is evaluated, but
// the user is only exposed when the variant is drawn. exposure records each
// experiment evaluation made through OpenFeature as a pending [Assignment]
// (see [Tracker.Hook]) and turns it into one deduplicated [Exposure] only when
// a render site calls [MarkRendered] (or the "exposed" template function).
// Exposures are delivered to [Sink]s asynchronously, in batches, with retries;
// the request path never blocks on the network and never fails because of
// this package.
//
// A typical web app wires it like this:
//
//	tracker, err := exposure.New(
//		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
//		exposure.WithSink(sink),
//	)
//	openfeature.AddHooks(tracker.Hook())
//	http.ListenAndServe(addr, tracker.Middleware(mux))
//	// in a handler: client.StringValue(r.Context(), "checkout-redesign", "control", evalCtx)
//	// in the template: {{ exposed .Ctx "checkout-redesign" }}
//	defer tracker.Close(ctx)
package exposure

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// Flag-metadata keys that providers set to mark an evaluation as part of an
// experiment. The adapters in providers/ fill them; any provider may.
const (
	// MetadataExperimentName is the experiment's name (string).
	MetadataExperimentName = "experiment.name"
	// MetadataExperimentVariant is the name of the variant the subject was
	// assigned (string).
	MetadataExperimentVariant = "experiment.variant"
	// MetadataInExperiment says whether the subject is part of the
	// experiment's sample (bool). false means the evaluation is not an
	// assignment, even for a registered flag.
	MetadataInExperiment = "experiment.inExperiment"
)

// Identity is the subject of an assignment, in the terms of Mixpanel's
// Simplified ID Merge.
type Identity struct {
	// DistinctID is the Mixpanel distinct_id: the user id when known, else
	// "$device:<device id>", else the evaluation's targeting key.
	DistinctID string
	// DeviceID is the anonymous device id ($device_id), if known.
	DeviceID string
	// UserID is the identified user id ($user_id), if known.
	UserID string
}

// Assignment is a subject's variant of one experiment, as decided by a flag
// evaluation. It is pending until the variant is rendered.
type Assignment struct {
	FlagKey    string // the OpenFeature flag key
	Experiment string // canonical experiment name (Mixpanel "Experiment name")
	Variant    string // variant name (Mixpanel "Variant name")
	// ProviderVariant is the variant as the provider named it, before
	// Experiment.Variants renamed it: what a vendor sink compares with a
	// fresh evaluation.
	ProviderVariant string
	Identity        Identity
	// Reason is the OpenFeature resolution reason, such as "TARGETING_MATCH".
	Reason      string
	EvaluatedAt time.Time
	// Context is the evaluation context the flag was evaluated with, for
	// vendor sinks that rebuild their user from it.
	Context openfeature.EvaluationContext
}

// Exposure is an assignment whose variant was rendered. Time and InsertID
// are fixed when it is committed and reused on every delivery attempt, so
// that the destination can deduplicate retries.
type Exposure struct {
	Assignment
	// Time is when the exposure was committed.
	Time time.Time
	// InsertID is deterministic for (subject, experiment, variant, Time):
	// 32 lowercase hexadecimal characters.
	InsertID string
}

// Tracker turns rendered experiment assignments into delivered exposures.
// It is safe for concurrent use. Create it with [New] and stop it with
// [Tracker.Close], which delivers what is queued.
type Tracker struct {
	reg      *registry
	deduper  Deduper
	window   time.Duration
	log      *slog.Logger
	identity func(openfeature.EvaluationContext) (Identity, error)
	now      func() time.Time
	queues   []*queue
	hook     *hook
	beacon   *beacon  // browser-confirmed exposures (beacon.go)
	audit    *auditor // audit.go: per-experiment accounting for DebugHandler and metrics

	counters     trackerCounters
	unscopedOnce sync.Once
	dedupeLog    rateLimitedLog
	misuseLog    rateLimitedLog
	closeOnce    sync.Once
	closeErr     error
}

// New returns a Tracker configured by opts. It fails with an error
// wrapping [ErrInvalidConfig], naming the offending value, when an option
// is invalid, when two experiments share a flag or a name (names that differ
// only in case, spaces, dashes or underscores count as the same), when an
// experiment name is empty or longer than 255 bytes, or when no sink is
// given.
func New(opts ...Option) (*Tracker, error) {
	c := config{window: DefaultDedupeWindow, identity: DefaultIdentity, now: clock.Now}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			errs = append(errs, err)
		}
	}
	reg, err := newRegistry(c.experiments)
	if err != nil {
		errs = append(errs, err)
	}
	bcn, err := newBeacon(&c.beacon)
	if err != nil {
		errs = append(errs, err)
	}
	if len(c.sinks) == 0 {
		errs = append(errs, fmt.Errorf("%w: no sink: add at least one WithSink", ErrInvalidConfig))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.deduper == nil {
		c.deduper = NewMemoryDeduper(DefaultDedupeCapacity)
	}
	t := &Tracker{
		reg: reg, deduper: c.deduper, window: c.window, log: c.logger,
		identity: c.identity, now: c.now, beacon: bcn,
	}
	t.hook = &hook{t: t}
	if err := t.startAudit(&c); err != nil { // audit.go
		return nil, err
	}
	for _, s := range c.sinks {
		t.queues = append(t.queues, newQueue(s.sink, s.cfg, c.logger))
	}
	return t, nil
}

// commit claims each assignment in the deduper and queues the new ones to
// every sink. It never blocks on a sink; it waits on the deduper only as long
// as the deduper allows (redisdedupe bounds it with a timeout).
func (t *Tracker) commit(ctx context.Context, as []Assignment) {
	if len(as) == 0 {
		return
	}
	// The default deduper is claimed by a hash of the assignment's fields;
	// any other by the stable string key, built only for it.
	md, fast := t.deduper.(*MemoryDeduper)
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
		firsts = t.claim(ctx, keys, firsts)
	}
	var now time.Time
	for i := range as {
		if !firsts[i] {
			t.counters.duplicates.Add(1)
			t.audit.duplicate(&as[i]) // audit.go
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
			} else {
				t.audit.dropped(e) // audit.go
			}
		}
		if queued {
			t.counters.committed.Add(1)
			t.audit.exposed(e) // audit.go
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
func (t *Tracker) claim(ctx context.Context, keys []string, firsts []bool) []bool {
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
		t.counters.dedupeErrors.Add(uint64(len(keys)))
		for range keys {
			firsts = append(firsts, true)
		}
		return firsts
	}
	for _, k := range keys {
		first, err := t.deduper.Claim(ctx, k, t.window)
		if err != nil {
			t.logDedupeError(err)
			t.counters.dedupeErrors.Add(1)
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

// dedupeKey identifies (subject, experiment, variant) for a Deduper: 32
// hex characters of a SHA-256, the same in every process so that a shared
// deduper works.
func dedupeKey(a *Assignment) string {
	var buf [256]byte
	sum := sha256.Sum256(appendAssignmentKey(buf[:0], a))
	return hex.EncodeToString(sum[:16])
}

// insertID is deterministic for (subject, experiment, variant, time in
// ms), so every retry of an exposure carries the same $insert_id.
func insertID(a *Assignment, at time.Time) string {
	var buf [256]byte
	b := binary.BigEndian.AppendUint64(appendAssignmentKey(buf[:0], a), uint64(at.UnixMilli()))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func appendAssignmentKey(b []byte, a *Assignment) []byte {
	b = append(b, a.Identity.DistinctID...)
	b = append(b, 0)
	b = append(b, a.Experiment...)
	b = append(b, 0)
	return append(b, a.Variant...)
}

// Flush delivers everything queued when it is called and waits until it is
// delivered, has failed for good, or ctx ends. It reports exposures that
// failed for good during the flush with an error wrapping [ErrUndelivered].
func (t *Tracker) Flush(ctx context.Context) error {
	type result struct {
		failed int
		err    error
	}
	results := make([]result, len(t.queues))
	var wg sync.WaitGroup
	for i, q := range t.queues {
		wg.Go(func() {
			n, err := q.flush(ctx)
			results[i] = result{n, err}
		})
	}
	wg.Wait()
	var errs []error
	failed := 0
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
		failed += r.failed
	}
	if failed > 0 {
		errs = append(errs, fmt.Errorf("%w: %d exposure(s) failed for good", ErrUndelivered, failed))
	}
	return errors.Join(errs...)
}

// Close stops accepting exposures, delivers everything queued, and waits
// for retries in flight until ctx ends. Then it aborts them and returns an
// error wrapping [ErrUndelivered] that says how many exposures were not
// delivered. Close never leaves a goroutine behind; a second call returns
// the first one's result.
func (t *Tracker) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		defer t.stopAudit() // audit.go: unregister metrics
		counts := make([]uint64, len(t.queues))
		var wg sync.WaitGroup
		for i, q := range t.queues {
			wg.Go(func() { counts[i] = q.close(ctx) })
		}
		wg.Wait()
		var total uint64
		for _, n := range counts {
			total += n
		}
		if total > 0 {
			t.closeErr = fmt.Errorf("%w: %d exposure(s) still pending when the context ended", ErrUndelivered, total)
		}
	})
	return t.closeErr
}
