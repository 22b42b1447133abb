package exposure

// Exposure confirmed by the browser. A variant rendered below the fold, in a
// hidden element or in a tab nobody looks at was rendered but not seen. For
// such render sites the template function "exposureBeacon" puts a signed
// token on the element instead of marking it; a small script served by
// [Tracker.BeaconHandler] posts the token back once the element was visible
// long enough, and only then is the exposure committed, through the same
// dedupe and delivery as every other exposure.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// Defaults of the browser confirmation; see [WithBeaconKeys].
const (
	// DefaultBeaconExpiry is how long a beacon token stays valid after the
	// page that carries it was rendered.
	DefaultBeaconExpiry = time.Hour
	// DefaultBeaconRatio is the share of an element that must be inside the
	// viewport for it to count as visible.
	DefaultBeaconRatio = 0.5
	// DefaultBeaconDwell is how long an element must stay visible before
	// the browser confirms it.
	DefaultBeaconDwell = time.Second
	// MinBeaconKeyBytes is the shortest key WithBeaconKeys accepts.
	MinBeaconKeyBytes = 32
)

// BeaconStats are the counters of browser-confirmed exposures.
type BeaconStats struct {
	// Issued is tokens rendered by the "exposureBeacon" template function.
	Issued uint64
	// NotIssued is "exposureBeacon" calls that rendered nothing: no
	// WithBeaconKeys, no scope, or a flag not assigned in the scope (that
	// last case also counts in Stats.UnassignedMarks).
	NotIssued uint64
	// Accepted is confirmations with a valid token; each was committed,
	// and a repeat of an earlier exposure counts in Stats.Duplicates.
	Accepted uint64
	// Rejected is every request the handler refused, for any of the
	// reasons below.
	Rejected uint64
	// Malformed is bodies that are not a token of a known version.
	Malformed uint64
	// Forged is well-formed tokens whose signature matches no key.
	Forged uint64
	// Expired is genuine tokens outside their validity: older than the
	// expiry, or issued more than a minute in the future (clock skew).
	Expired uint64
	// TooLarge is bodies over 8 KiB.
	TooLarge uint64
	// WrongMethod is requests with a method other than GET, HEAD or POST.
	WrongMethod uint64
}

type beaconCounters struct {
	issued, notIssued, accepted, rejected             atomic.Uint64
	malformed, forged, expired, tooLarge, wrongMethod atomic.Uint64
}

// beaconConfig is what the beacon options set; zero values mean defaults.
type beaconConfig struct {
	keys   [][]byte
	expiry time.Duration
	ratio  float64
	dwell  time.Duration
	tuned  []string // options other than WithBeaconKeys that were given
}

// WithBeaconKeys enables exposures confirmed by the browser (the
// "exposureBeacon" template function and [Tracker.BeaconHandler]) and sets
// the keys that sign and verify their tokens. The first key signs; every key
// verifies, so keys rotate without losing confirmations in flight: put the
// new key first, keep the old one second for at least the token expiry,
// then drop it. Each key must have at least [MinBeaconKeyBytes] bytes of
// secret randomness (crypto/rand), the same on every app instance. A later
// WithBeaconKeys replaces an earlier one.
func WithBeaconKeys(keys ...[]byte) Option {
	return func(c *config) error {
		if len(keys) == 0 {
			return fmt.Errorf("%w: WithBeaconKeys given no key", ErrInvalidConfig)
		}
		var errs []error
		cp := make([][]byte, len(keys))
		for i, k := range keys {
			if len(k) < MinBeaconKeyBytes {
				// Never the key itself: only its position and length.
				errs = append(errs, fmt.Errorf("%w: WithBeaconKeys key %d is %d bytes; each key needs at least %d",
					ErrInvalidConfig, i, len(k), MinBeaconKeyBytes))
				continue
			}
			cp[i] = append([]byte(nil), k...)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		c.beacon.keys = cp
		return nil
	}
}

// WithBeaconExpiry sets how long a beacon token stays valid after its page
// was rendered. Default [DefaultBeaconExpiry]. A page left open longer
// confirms nothing; a shorter expiry narrows the window in which a copied
// token can be replayed (replays are deduplicated anyway). Needs
// [WithBeaconKeys].
func WithBeaconExpiry(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return fmt.Errorf("%w: WithBeaconExpiry must be at least 1s, got %v", ErrInvalidConfig, d)
		}
		c.beacon.expiry = d
		c.beacon.tuned = append(c.beacon.tuned, "WithBeaconExpiry")
		return nil
	}
}

// WithBeaconVisibility sets when the browser counts an element as seen: at
// least ratio of it (0 < ratio <= 1) inside the viewport, or of the
// viewport covered by it for elements taller than the screen, for dwell
// without interruption while the page is in the foreground. Defaults
// [DefaultBeaconRatio] and [DefaultBeaconDwell]; an element may override
// them with data-exposure-ratio and data-exposure-dwell (milliseconds)
// attributes. Needs [WithBeaconKeys].
func WithBeaconVisibility(ratio float64, dwell time.Duration) Option {
	return func(c *config) error {
		var errs []error
		if !(ratio > 0 && ratio <= 1) { // also refuses NaN
			errs = append(errs, fmt.Errorf("%w: WithBeaconVisibility ratio must be in (0, 1], got %v", ErrInvalidConfig, ratio))
		}
		if dwell < 0 || dwell > 10*time.Minute {
			errs = append(errs, fmt.Errorf("%w: WithBeaconVisibility dwell must be between 0 and 10m, got %v", ErrInvalidConfig, dwell))
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		c.beacon.ratio, c.beacon.dwell = ratio, dwell
		c.beacon.tuned = append(c.beacon.tuned, "WithBeaconVisibility")
		return nil
	}
}

// beacon is a Tracker's browser confirmation: keys, settings, the script
// it serves and its counters. A Tracker always has one; without keys it
// issues nothing and accepts nothing.
type beacon struct {
	keys   [][]byte
	macs   []sync.Pool // one per key: reusable HMAC states
	expiry time.Duration
	ratio  float64
	dwell  time.Duration

	script     []byte // beacon.js with this Tracker's settings
	scriptETag string

	counters   beaconCounters
	misuseLog  rateLimitedLog
	noKeysOnce sync.Once
}

func newBeacon(c *beaconConfig) (*beacon, error) {
	if len(c.keys) == 0 && len(c.tuned) > 0 {
		return nil, fmt.Errorf("%w: %s given without WithBeaconKeys", ErrInvalidConfig, c.tuned[0])
	}
	b := &beacon{keys: c.keys, expiry: c.expiry, ratio: c.ratio, dwell: c.dwell}
	if b.expiry == 0 {
		b.expiry = DefaultBeaconExpiry
	}
	if b.ratio == 0 {
		b.ratio, b.dwell = DefaultBeaconRatio, DefaultBeaconDwell
	}
	if b.dwell >= b.expiry {
		return nil, fmt.Errorf("%w: WithBeaconVisibility dwell %v must be shorter than the beacon expiry %v", ErrInvalidConfig, b.dwell, b.expiry)
	}
	b.macs = make([]sync.Pool, len(b.keys))
	for i := range b.keys {
		key := b.keys[i]
		b.macs[i].New = func() any { return hmac.New(sha256.New, key) }
	}
	b.script, b.scriptETag = buildBeaconScript(b.ratio, b.dwell)
	return b, nil
}

func (b *beacon) enabled() bool { return len(b.keys) > 0 }

func (b *beacon) stats() BeaconStats {
	c := &b.counters
	return BeaconStats{
		Issued: c.issued.Load(), NotIssued: c.notIssued.Load(),
		Accepted: c.accepted.Load(), Rejected: c.rejected.Load(),
		Malformed: c.malformed.Load(), Forged: c.forged.Load(), Expired: c.expired.Load(),
		TooLarge: c.tooLarge.Load(), WrongMethod: c.wrongMethod.Load(),
	}
}

// Tokens.
//
// A token is the unpadded base64url encoding of
//
//	version   1 byte, beaconTokenVersion
//	issued    uvarint, Unix milliseconds when the page was rendered
//	age       uvarint, milliseconds from the evaluation to issued
//	8 fields  uvarint length + bytes each: flag key, experiment, variant,
//	          distinct id, user id, device id, targeting key, reason
//	mac       32 bytes, HMAC-SHA256(key, beaconMACDomain || all of the above)
//
// Everything is canonical (shortest uvarints, strict base64, no trailing
// bytes), so a token has exactly one spelling and the MAC binds every field,
// the subject included: a token confirms its own subject's assignment and
// nothing else.

const (
	beaconTokenVersion = 1
	beaconMACSize      = sha256.Size
	// maxBeaconToken bounds an encoded token; fields that do not fit are
	// not issued.
	maxBeaconToken = 4096
	// maxBeaconMillis bounds times in tokens (about year 37 000), so that
	// parsed times never overflow.
	maxBeaconMillis = 1 << 50
	// beaconClockSkew is how far in the future a token's issue time may be.
	beaconClockSkew = time.Minute
)

// beaconMACDomain separates these MACs from anything else the same key
// might sign.
var beaconMACDomain = []byte("exposure beacon token v1\x00")

var beaconEncoding = base64.RawURLEncoding.Strict()

// beaconToken is the content of a token.
type beaconToken struct {
	issuedMS, ageMS              uint64
	flagKey, experiment, variant string
	distinctID, userID, deviceID string
	targetingKey, reason         string
}

func (tok *beaconToken) fields() [8]*string {
	return [8]*string{&tok.flagKey, &tok.experiment, &tok.variant, &tok.distinctID,
		&tok.userID, &tok.deviceID, &tok.targetingKey, &tok.reason}
}

func tokenFor(a *Assignment, issued time.Time) beaconToken {
	ms := uint64(max(issued.UnixMilli(), 0))
	var age uint64
	if ev := a.EvaluatedAt.UnixMilli(); !a.EvaluatedAt.IsZero() && ev > 0 && uint64(ev) <= ms {
		age = ms - uint64(ev)
	}
	tok := beaconToken{
		issuedMS: ms, ageMS: age,
		flagKey: a.FlagKey, experiment: a.Experiment, variant: a.Variant,
		distinctID: a.Identity.DistinctID, userID: a.Identity.UserID, deviceID: a.Identity.DeviceID,
		targetingKey: a.Context.TargetingKey(), reason: a.Reason,
	}
	return tok
}

// assignment rebuilds the assignment a token was issued for. Its Context
// carries the targeting key and the $user_id and $device_id attributes; the
// other attributes of the original evaluation are not in the token.
func (tok *beaconToken) assignment() Assignment {
	attrs := map[string]any{}
	if tok.userID != "" {
		attrs[AttributeUserID] = tok.userID
	}
	if tok.deviceID != "" {
		attrs[AttributeDeviceID] = tok.deviceID
	}
	return Assignment{
		FlagKey: tok.flagKey, Experiment: tok.experiment, Variant: tok.variant,
		Identity:    Identity{DistinctID: tok.distinctID, UserID: tok.userID, DeviceID: tok.deviceID},
		Reason:      tok.reason,
		EvaluatedAt: time.UnixMilli(int64(tok.issuedMS - tok.ageMS)),
		Context:     openfeature.NewEvaluationContext(tok.targetingKey, attrs),
	}
}

// appendPayload appends the signed part of tok (everything but the MAC).
func (tok *beaconToken) appendPayload(b []byte) []byte {
	b = append(b, beaconTokenVersion)
	b = binary.AppendUvarint(b, tok.issuedMS)
	b = binary.AppendUvarint(b, tok.ageMS)
	for _, f := range tok.fields() {
		b = binary.AppendUvarint(b, uint64(len(*f)))
		b = append(b, *f...)
	}
	return b
}

var errBeaconMalformed = errors.New("malformed beacon token")

// parseBeaconToken decodes the structure of a token without checking its
// MAC: the fields, the signed payload and the MAC.
func parseBeaconToken(s string) (tok beaconToken, payload, mac []byte, err error) {
	if len(s) == 0 || len(s) > maxBeaconToken {
		return tok, nil, nil, errBeaconMalformed
	}
	raw, err := beaconEncoding.DecodeString(s)
	// The decoder skips \r and \n: the length check refuses them, so that
	// a token has one spelling.
	if err != nil || beaconEncoding.EncodedLen(len(raw)) != len(s) ||
		len(raw) < 1+beaconMACSize || raw[0] != beaconTokenVersion {
		return tok, nil, nil, errBeaconMalformed
	}
	payload, mac = raw[:len(raw)-beaconMACSize], raw[len(raw)-beaconMACSize:]
	rest := payload[1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 || n != uvarintLen(v) { // truncated, overflowing or not the shortest form
			return 0, false
		}
		rest = rest[n:]
		return v, true
	}
	var ok bool
	if tok.issuedMS, ok = uvarint(); !ok || tok.issuedMS > maxBeaconMillis {
		return beaconToken{}, nil, nil, errBeaconMalformed
	}
	if tok.ageMS, ok = uvarint(); !ok || tok.ageMS > tok.issuedMS {
		return beaconToken{}, nil, nil, errBeaconMalformed
	}
	for _, f := range tok.fields() {
		n, ok := uvarint()
		if !ok || n > uint64(len(rest)) {
			return beaconToken{}, nil, nil, errBeaconMalformed
		}
		*f = string(rest[:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return beaconToken{}, nil, nil, errBeaconMalformed
	}
	return tok, payload, mac, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (b *beacon) mac(key int, dst, payload []byte) []byte {
	h := b.macs[key].Get().(hash.Hash)
	h.Reset()
	h.Write(beaconMACDomain)
	h.Write(payload)
	dst = h.Sum(dst)
	b.macs[key].Put(h)
	return dst
}

// beaconScratch holds the buffers of one signing, reused across renders.
type beaconScratch struct{ raw, enc []byte }

var beaconScratchPool = sync.Pool{New: func() any {
	return &beaconScratch{raw: make([]byte, 0, 256), enc: make([]byte, 0, 384)}
}}

// signTo encodes the token for tok, signed with the first key, into
// sc.enc; it leaves sc.enc empty when the token would be longer than
// maxBeaconToken.
func (b *beacon) signTo(sc *beaconScratch, tok *beaconToken) {
	sc.raw = tok.appendPayload(sc.raw[:0])
	sc.raw = b.mac(0, sc.raw, sc.raw)
	sc.enc = sc.enc[:0]
	if beaconEncoding.EncodedLen(len(sc.raw)) <= maxBeaconToken {
		sc.enc = beaconEncoding.AppendEncode(sc.enc, sc.raw)
	}
}

// sign returns the token for tok, or "" when it would be too long.
func (b *beacon) sign(tok *beaconToken) string {
	sc := beaconScratchPool.Get().(*beaconScratch)
	defer beaconScratchPool.Put(sc)
	b.signTo(sc, tok)
	return string(sc.enc)
}

type beaconVerdict int

const (
	beaconOK beaconVerdict = iota
	beaconMalformed
	beaconForged
	beaconExpired
)

// verify checks a token against every key, in constant time per key, and
// its validity window at now.
func (b *beacon) verify(s string, now time.Time) (beaconToken, beaconVerdict) {
	tok, payload, mac, err := parseBeaconToken(s)
	if err != nil {
		return beaconToken{}, beaconMalformed
	}
	var buf [beaconMACSize]byte
	genuine := false
	for i := range b.keys {
		if hmac.Equal(b.mac(i, buf[:0], payload), mac) {
			genuine = true
			break
		}
	}
	if !genuine {
		return beaconToken{}, beaconForged
	}
	issued := time.UnixMilli(int64(tok.issuedMS))
	if now.Sub(issued) > b.expiry || issued.Sub(now) > beaconClockSkew {
		return beaconToken{}, beaconExpired
	}
	return tok, beaconOK
}

// beaconAssignment finds flagKey's assignment in the scope and hands its
// exposure to the browser: from now on the scope's commit does not send
// it, whether or not it is also marked rendered.
func (s *Scope) beaconAssignment(flagKey string) (Assignment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(flagKey)
	if i < 0 {
		return Assignment{}, false
	}
	s.entries[i].beacon = true
	return s.entries[i].a, true
}

// exposureBeacon is the "exposureBeacon" template function; see
// [TemplateFuncs].
func exposureBeacon(v any, flagKey string) template.HTMLAttr {
	ctx := templateContext(v)
	if ctx == nil {
		if misuseLog.allow(minuteInterval) {
			slog.Default().Warn(`exposure: template function "exposureBeacon" needs a context.Context or *http.Request as its first argument`, "got", fmt.Sprintf("%T", v), "flag", flagKey)
		}
		return ""
	}
	s := scopeFrom(ctx)
	if s == nil {
		if misuseLog.allow(minuteInterval) {
			slog.Default().Warn(`exposure: template function "exposureBeacon" got a context without scope`, "flag", flagKey, "err", ErrNoScope)
		}
		return ""
	}
	t := s.t
	b := t.beacon
	if !b.enabled() {
		b.counters.notIssued.Add(1)
		if b.misuseLog.allow(minuteInterval) {
			t.log.Warn(`exposure: template function "exposureBeacon" used, but the Tracker has no WithBeaconKeys: `+
				`no exposure will be recorded for this render site`, "flag", flagKey)
		}
		return ""
	}
	a, ok := s.beaconAssignment(flagKey)
	if !ok {
		b.counters.notIssued.Add(1)
		t.counters.unassignedMarks.Add(1)
		if b.misuseLog.allow(minuteInterval) {
			t.log.Warn(`exposure: template function "exposureBeacon" used for a flag that was not assigned`,
				"flag", flagKey, "err", fmt.Errorf("%w: flag %q", ErrNotAssigned, flagKey))
		}
		return ""
	}
	tok := tokenFor(&a, t.now())
	sc := beaconScratchPool.Get().(*beaconScratch)
	defer beaconScratchPool.Put(sc)
	b.signTo(sc, &tok)
	if len(sc.enc) == 0 {
		b.counters.notIssued.Add(1)
		if b.misuseLog.allow(minuteInterval) {
			t.log.Warn(`exposure: template function "exposureBeacon": the assignment is too large for a token; nothing will be recorded`,
				"flag", flagKey)
		}
		return ""
	}
	b.counters.issued.Add(1)
	// The token is base64url: nothing in it needs escaping in an attribute.
	const prefix = `data-exposure="`
	var attr strings.Builder
	attr.Grow(len(prefix) + len(sc.enc) + 1)
	attr.WriteString(prefix)
	attr.Write(sc.enc)
	attr.WriteByte('"')
	return template.HTMLAttr(attr.String())
}

// templateContext is the context a template function was given: a
// context.Context or an *http.Request; nil for anything else.
func templateContext(v any) context.Context {
	switch x := v.(type) {
	case *http.Request:
		if x != nil {
			return x.Context()
		}
	case context.Context:
		return x
	}
	return nil
}
