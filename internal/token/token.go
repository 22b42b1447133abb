// Package token signs and verifies the tokens of exposures confirmed by a
// browser: an assignment, bound to its subject, that a page carries and
// posts back once the variant was seen.
//
// A token is the unpadded base64url encoding of
//
//	version   1 byte, [Version]
//	issued    uvarint, Unix milliseconds when the page was rendered
//	age       uvarint, milliseconds from the evaluation to issued
//	8 fields  uvarint length + bytes each: flag key, experiment, variant,
//	          distinct id, user id, device id, targeting key, reason
//	mac       32 bytes, HMAC-SHA256(key, domain || all of the above)
//
// Everything is canonical (shortest uvarints, strict base64, no trailing
// bytes), so a token has exactly one spelling and the MAC binds every
// field, the subject included: a token confirms its own subject's
// assignment and nothing else. The domain string separates these MACs from
// anything else the same key might sign.
package token

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

const (
	// Version is the first byte of every token this package writes; a token
	// of another version is malformed.
	Version = 1
	// MaxLen bounds an encoded token: a token that would be longer is not
	// signed, and a longer string is not parsed.
	MaxLen = 4096
	// ClockSkew is how far in the future a token's issue time may be, for
	// app instances whose clocks disagree.
	ClockSkew = time.Minute
	// MinKeyBytes is the shortest key [NewCodec] accepts.
	MinKeyBytes = 32

	// maxMillis bounds times in tokens (about year 37 000), so that parsed
	// times never overflow.
	maxMillis = 1 << 50
	macSize   = 32 // HMAC-SHA256
)

// domain is written into every MAC before the token's bytes.
var domain = []byte("exposure beacon token v1\x00")

var encoding = base64.RawURLEncoding.Strict()

// Token is the content of a token: when it was issued and the assignment
// it confirms.
type Token struct {
	// IssuedMS is when the page was rendered, in Unix milliseconds.
	IssuedMS uint64
	// AgeMS is how long before IssuedMS the flag was evaluated, in
	// milliseconds; at most IssuedMS.
	AgeMS uint64

	FlagKey, Experiment, Variant string
	DistinctID, UserID, DeviceID string
	TargetingKey, Reason         string
}

// Issued returns IssuedMS as a time.
func (t *Token) Issued() time.Time { return time.UnixMilli(int64(t.IssuedMS)) }

// Evaluated returns when the flag was evaluated: IssuedMS - AgeMS.
func (t *Token) Evaluated() time.Time { return time.UnixMilli(int64(t.IssuedMS - t.AgeMS)) }

// fields lists the eight string fields in their order on the wire.
func (t *Token) fields() [8]*string {
	return [8]*string{&t.FlagKey, &t.Experiment, &t.Variant, &t.DistinctID,
		&t.UserID, &t.DeviceID, &t.TargetingKey, &t.Reason}
}

// appendPayload appends the signed part of t (everything but the MAC).
func (t *Token) appendPayload(b []byte) []byte {
	b = append(b, Version)
	b = binary.AppendUvarint(b, t.IssuedMS)
	b = binary.AppendUvarint(b, t.AgeMS)
	for _, f := range t.fields() {
		b = binary.AppendUvarint(b, uint64(len(*f)))
		b = append(b, *f...)
	}
	return b
}

var errMalformed = errors.New("token: malformed")

// parse decodes the structure of a token without checking its MAC: the
// fields, the signed payload and the MAC.
func parse(s string) (t Token, payload, mac []byte, err error) {
	if len(s) == 0 || len(s) > MaxLen {
		return t, nil, nil, errMalformed
	}
	raw, err := encoding.DecodeString(s)
	// The decoder skips \r and \n: the length check refuses them, so that
	// a token has one spelling.
	if err != nil || encoding.EncodedLen(len(raw)) != len(s) ||
		len(raw) < 1+macSize || raw[0] != Version {
		return t, nil, nil, errMalformed
	}
	payload, mac = raw[:len(raw)-macSize], raw[len(raw)-macSize:]
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
	if t.IssuedMS, ok = uvarint(); !ok || t.IssuedMS > maxMillis {
		return Token{}, nil, nil, errMalformed
	}
	if t.AgeMS, ok = uvarint(); !ok || t.AgeMS > t.IssuedMS {
		return Token{}, nil, nil, errMalformed
	}
	// One string for all the fields, each a substring of it: one
	// allocation instead of eight.
	all := string(rest)
	for _, f := range t.fields() {
		n, ok := uvarint()
		if !ok || n > uint64(len(rest)) {
			return Token{}, nil, nil, errMalformed
		}
		at := len(all) - len(rest)
		*f = all[at : at+int(n)]
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return Token{}, nil, nil, errMalformed
	}
	return t, payload, mac, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
