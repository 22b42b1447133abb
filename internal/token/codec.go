package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"
)

// A Codec seals tokens with its first key and verifies them against all of
// its keys, so that keys rotate without losing tokens in flight. It is safe
// for concurrent use.
type Codec struct {
	keys        [][]byte
	macs        []sync.Pool // one per key: reusable HMAC states (versions 1 to 3)
	prfs        []sync.Pool // one per key: HMAC states under its derived encryption key (versions 4 and 5)
	expiry      time.Duration
	application string
	domains     [len(formats)][]byte // by version, for this application
}

// encryptionInfo is the HKDF info that derives a key's encryption key,
// for versions 4 and 5 (whose additional data differ).
const encryptionInfo = "exposure beacon token v4 aes-256-gcm"

// MaxApplicationBytes bounds the application name of [NewCodec].
const MaxApplicationBytes = 255

// NewCodec returns a Codec for keys (the first signs, every one verifies)
// whose tokens are valid for expiry after they were issued, for
// application: it signs tokens bound to that name and verifies only tokens
// bound to it (see the package documentation; "" is a valid name, the one
// of the tokens of versions 1 and 2). It copies the keys. It returns an
// error for no key, a key shorter than [MinKeyBytes] (naming its position
// and length, never its bytes), an expiry that is not positive or an
// application name over [MaxApplicationBytes].
func NewCodec(keys [][]byte, expiry time.Duration, application string) (*Codec, error) {
	var errs []error
	if len(keys) == 0 {
		errs = append(errs, errors.New("token: no key"))
	}
	if len(application) > MaxApplicationBytes {
		errs = append(errs, fmt.Errorf("token: the application name is %d bytes, over %d", len(application), MaxApplicationBytes))
	}
	c := &Codec{keys: make([][]byte, len(keys)), macs: make([]sync.Pool, len(keys)), prfs: make([]sync.Pool, len(keys)),
		expiry: expiry, application: application}
	for v := range formats {
		if formatOf(byte(v)) != nil {
			c.domains[v] = domainOf(byte(v), application)
		}
	}
	for i, k := range keys {
		if len(k) < MinKeyBytes {
			errs = append(errs, fmt.Errorf("token: key %d is %d bytes; each key needs at least %d", i, len(k), MinKeyBytes))
			continue
		}
		key := append([]byte(nil), k...)
		c.keys[i] = key
		c.macs[i].New = func() any { return hmac.New(sha256.New, key) }
		enc, err := hkdf.Key(sha256.New, key, nil, encryptionInfo, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("token: key %d: %w", i, err))
			continue
		}
		c.prfs[i].New = func() any { return hmac.New(sha256.New, enc) }
	}
	if expiry <= 0 {
		errs = append(errs, fmt.Errorf("token: expiry must be positive, got %v", expiry))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Expiry returns how long a token stays valid after it was issued.
func (c *Codec) Expiry() time.Duration { return c.expiry }

// Application returns the name of the application the Codec's tokens are
// bound to.
func (c *Codec) Application() string { return c.application }

// appendMAC appends the MAC of payload under key number key to dst. The
// payload's first byte is its version, which must be known: it chooses the
// domain.
func (c *Codec) appendMAC(key int, dst, payload []byte) []byte {
	h := c.macs[key].Get().(hash.Hash)
	h.Reset()
	h.Write(c.domains[payload[0]])
	h.Write(payload)
	dst = h.Sum(dst)
	c.macs[key].Put(h)
	return dst
}

// scratchPool holds the buffers signing writes the raw token into, reused
// across calls.
var scratchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

// Dropped counts what a signer left out of a token to keep it within
// [MaxLen] (see the package documentation): evaluation context
// attributes, event properties (of the assignment and of its related
// assignments) and whole related assignments.
type Dropped struct {
	Attributes, Properties, Related int
}

// Any reports whether anything was left out.
func (d Dropped) Any() bool { return d != Dropped{} }

// AppendSign appends the token for t, in the format of [Version] and
// sealed with the first key, to dst. What does not fit in [MaxLen] (see
// the package documentation) is left out, and dropped says what. ok is
// false, and dst returned unchanged, only when the fields alone do not
// fit, which cannot happen when every field is at most [MaxFieldBytes]
// long.
func (c *Codec) AppendSign(dst []byte, t *Token) (b []byte, dropped Dropped, ok bool) {
	return c.seal(dst, t, Version)
}

// appendSign is AppendSign in the format of version v, which must be
// known; tests sign the earlier versions with it.
func (c *Codec) appendSign(dst []byte, t *Token, v byte) ([]byte, bool) {
	if isSealed(v) {
		b, _, ok := c.seal(dst, t, v)
		return b, ok
	}
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	raw := t.appendPayload((*sp)[:0], v)
	raw = c.appendMAC(0, raw, raw)
	*sp = raw
	if encoding.EncodedLen(len(raw)) > MaxLen {
		return dst, false
	}
	return encoding.AppendEncode(dst, raw), true
}

// aeadOf returns the AES-256-GCM of the token key for salt under key
// number key: HMAC-SHA256(encryption key, salt).
func (c *Codec) aeadOf(key int, salt []byte) cipher.AEAD {
	h := c.prfs[key].Get().(hash.Hash)
	h.Reset()
	h.Write(salt)
	var tk [sha256.Size]byte
	h.Sum(tk[:0])
	c.prfs[key].Put(h)
	block, err := aes.NewCipher(tk[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// zeroNonce is the GCM nonce of every token: each token has a key of its
// own, used once.
var zeroNonce [12]byte

// seal writes a sealed token of version v (4 or 5).
func (c *Codec) seal(dst []byte, t *Token, v byte) ([]byte, Dropped, bool) {
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	raw := append((*sp)[:0], v)
	raw = append(raw, make([]byte, saltSize)...)
	if _, err := rand.Read(raw[1 : 1+saltSize]); err != nil {
		panic(err) // crypto/rand never fails
	}
	raw = t.appendBody(raw, v)
	budget := maxRaw - tagSize - len(raw)
	var dropped Dropped
	if v == assignmentsVersion {
		var ok bool
		if raw, budget, dropped, ok = appendAssignments(raw, t, budget); !ok {
			*sp = raw
			return dst, Dropped{}, false
		}
	}
	if budget < 1 {
		*sp = raw
		return dst, Dropped{}, false
	}
	raw, dropped.Attributes = appendAttributes(raw, t.Attributes, budget)
	aead := c.aeadOf(0, raw[1:1+saltSize])
	body := raw[1+saltSize:]
	raw = aead.Seal(raw[:1+saltSize], zeroNonce[:], body, c.domains[v])
	*sp = raw
	return encoding.AppendEncode(dst, raw), dropped, true
}

// open verifies and decrypts raw, a sealed token, with every key.
func (c *Codec) open(raw []byte) (Token, Verdict) {
	v := raw[0]
	salt, sealed := raw[1:1+saltSize], raw[1+saltSize:]
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	for i := range c.keys {
		body, err := c.aeadOf(i, salt).Open((*sp)[:0], zeroNonce[:], sealed, c.domains[v])
		if err != nil {
			continue
		}
		*sp = body
		t, rest, err := parseBody(body, v)
		if err != nil {
			return Token{}, Malformed
		}
		if v == assignmentsVersion {
			if rest, err = parseAssignments(&t, rest); err != nil {
				return Token{}, Malformed
			}
		}
		if t.Attributes, err = parseAttributes(rest); err != nil {
			return Token{}, Malformed
		}
		return t, OK
	}
	return Token{}, Forged
}

// Sign returns the token for t sealed with the first key, or "" when it
// would be longer than [MaxLen].
func (c *Codec) Sign(t *Token) string {
	var buf [512]byte
	b, _, _ := c.AppendSign(buf[:0], t)
	return string(b)
}

// A Verdict is the outcome of [Codec.Verify].
type Verdict int

const (
	// OK is a genuine token within its validity.
	OK Verdict = iota
	// Malformed is a string that is not the one spelling of a token of a
	// known version.
	Malformed
	// Forged is a well-formed token whose MAC matches no key: signed with
	// another key or for another application.
	Forged
	// Expired is a genuine token older than the expiry, or issued more
	// than [ClockSkew] in the future.
	Expired
)

func (v Verdict) String() string {
	switch v {
	case OK:
		return "ok"
	case Malformed:
		return "malformed"
	case Forged:
		return "forged"
	case Expired:
		return "expired"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Verify parses s, a token of any known version, checks its
// authenticity against every key (in constant time per key: GCM's tag for
// version 4, the MAC for the others) and its validity at now. It returns
// the token only when the verdict is [OK]; a version-1 token has no
// ProviderVariant, only versions 4 and 5 have Attributes, and only
// version 5 has Properties and Related. A token of
// another application is [Forged], and so is every token of versions 1
// and 2 (of the unnamed application) when the Codec's application has a
// name.
func (c *Codec) Verify(s string, now time.Time) (Token, Verdict) {
	var t Token
	if len(s) > 0 && s[0] == 'B' { // base64 of the version bytes 4 and 5: 0b000001|0…
		raw, ok := decode(s)
		if !ok || !isSealed(raw[0]) {
			return Token{}, Malformed
		}
		var verdict Verdict
		if t, verdict = c.open(raw); verdict != OK {
			return Token{}, verdict
		}
	} else {
		var version byte
		var payload, mac []byte
		var err error
		t, version, payload, mac, err = parse(s)
		if err != nil {
			return Token{}, Malformed
		}
		if !formats[version].named && c.application != "" {
			return Token{}, Forged
		}
		var buf [macSize]byte
		genuine := false
		for i := range c.keys {
			if hmac.Equal(c.appendMAC(i, buf[:0], payload), mac) {
				genuine = true
				break
			}
		}
		if !genuine {
			return Token{}, Forged
		}
	}
	issued := t.Issued()
	if now.Sub(issued) > c.expiry || issued.Sub(now) > ClockSkew {
		return Token{}, Expired
	}
	return t, OK
}
