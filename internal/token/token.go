// Package token signs and verifies the tokens of exposures confirmed by a
// browser: an assignment, bound to its subject, that a page carries and
// posts back once the variant was seen.
//
// A token is the unpadded base64url encoding of
//
//	version   1 byte, 3 ([Version]), 2 or 1
//	issued    uvarint, Unix milliseconds when the page was rendered
//	age       uvarint, milliseconds from the evaluation to issued
//	fields    uvarint length + bytes each, in this order: flag key,
//	          experiment, variant, provider variant (versions 2 and 3),
//	          distinct id, user id, device id, targeting key, reason
//	mac       32 bytes, HMAC-SHA256(key, domain || all of the above)
//
// # Applications
//
// The domain of version 3 names the application the token was issued for
// (see [NewCodec]): "exposure beacon token v3", a zero byte, the uvarint
// length of the application name and the name. The name is not on the
// wire; a Codec verifies only the tokens of its own application, so a
// token of another application that shares the key is [Forged].
//
// # Earlier versions
//
// Signing writes version 3 only. Verification also accepts versions 1
// and 2, the formats of earlier releases (version 1 has no provider
// variant and verifies with ProviderVariant empty), so that pages rendered
// before a deploy still confirm for as long as their tokens are valid.
// Their domains name no application: they are tokens of the unnamed
// application "", and a Codec of a named application refuses them as
// Forged. Versions 1 and 2 can be dropped one token expiry after every
// instance signs version 3.
//
// Everything is canonical (shortest uvarints, strict base64, no trailing
// bytes, one field list per version), so a token has exactly one spelling
// and the MAC binds every field, the subject included: a token confirms its
// own subject's assignment and nothing else. The domain string, one per
// version (and per application in version 3), separates these MACs from
// anything else the same key might sign, each version's MACs from the
// others' and each application's from the others'.
package token

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

const (
	// Version is the version of every token this package signs. Verify
	// also accepts versions 1 and 2 (see the package documentation).
	Version = 3
	// MaxLen bounds an encoded token: a token that would be longer is not
	// signed, and a longer string is not parsed.
	MaxLen = 4096
	// MaxFieldBytes is the longest field the exposure pipeline lets into
	// an assignment (Mixpanel's limit, enforced by the root package when a
	// flag is assigned and by Tracker.Confirm). A token whose fields are
	// each at most this long always fits in [MaxLen]: the package does not
	// compile otherwise.
	MaxFieldBytes = 255
	// ClockSkew is how far in the future a token's issue time may be, for
	// app instances whose clocks disagree.
	ClockSkew = time.Minute
	// MinKeyBytes is the shortest key [NewCodec] accepts.
	MinKeyBytes = 32

	// maxMillis bounds times in tokens (about year 37 000), so that parsed
	// times never overflow.
	maxMillis = 1 << 50
	macSize   = 32 // HMAC-SHA256

	// maxRawLen is the decoded length of the largest token of bounded
	// fields: the version byte, two times of at most 8 uvarint bytes
	// (maxMillis < 2^56), nine fields of a 2-byte length and
	// MaxFieldBytes, and the MAC.
	maxRawLen = 1 + 2*8 + 9*(2+MaxFieldBytes) + macSize
	// MaxBoundedLen is the encoded length of that token (3150).
	MaxBoundedLen = (maxRawLen*8 + 5) / 6
)

// A compile-time proof that a token of bounded fields is always signed:
// the constant conversion fails to compile if MaxBoundedLen > MaxLen.
const _ = uint(MaxLen - MaxBoundedLen)

// fieldCount is the number of string fields of a Token.
const fieldCount = 9

// A format is what distinguishes the versions: the MAC's domain and which
// of the Token's fields are on the wire, in order.
type format struct {
	domain []byte
	fields []int // indexes into Token.fields()
	// named is whether the domain goes on with the application's name
	// (version 3); the earlier versions are of the unnamed application.
	named bool
}

// formats are the versions Verify accepts, by version byte.
var formats = [...]format{
	1: {[]byte("exposure beacon token v1\x00"), []int{0, 1, 2, 4, 5, 6, 7, 8}, false},
	2: {[]byte("exposure beacon token v2\x00"), []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, false},
	3: {[]byte("exposure beacon token v3\x00"), []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, true},
}

// domainOf is the MAC's domain of version v (which must be known) for
// application: the version's domain, and for a named format the uvarint
// length of the application's name and the name, so that no two
// applications share a domain.
func domainOf(v byte, application string) []byte {
	f := &formats[v]
	d := bytes.Clone(f.domain)
	if f.named {
		d = binary.AppendUvarint(d, uint64(len(application)))
		d = append(d, application...)
	}
	return d
}

// formatOf returns the format of version v, or nil for an unknown one.
func formatOf(v byte) *format {
	if int(v) >= len(formats) || formats[v].domain == nil {
		return nil
	}
	return &formats[v]
}

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
	// ProviderVariant is the variant as the provider named it; empty in a
	// version-1 token.
	ProviderVariant              string
	DistinctID, UserID, DeviceID string
	TargetingKey, Reason         string
}

// Issued returns IssuedMS as a time.
func (t *Token) Issued() time.Time { return time.UnixMilli(int64(t.IssuedMS)) }

// Evaluated returns when the flag was evaluated: IssuedMS - AgeMS.
func (t *Token) Evaluated() time.Time { return time.UnixMilli(int64(t.IssuedMS - t.AgeMS)) }

// fields lists every string field, in the order of versions 2 and 3.
func (t *Token) fields() [fieldCount]*string {
	return [fieldCount]*string{&t.FlagKey, &t.Experiment, &t.Variant, &t.ProviderVariant,
		&t.DistinctID, &t.UserID, &t.DeviceID, &t.TargetingKey, &t.Reason}
}

// appendPayload appends the signed part of t (everything but the MAC) in
// the format of version v, which must be known. Fields a version does not
// carry are left out.
func (t *Token) appendPayload(b []byte, v byte) []byte {
	b = append(b, v)
	b = binary.AppendUvarint(b, t.IssuedMS)
	b = binary.AppendUvarint(b, t.AgeMS)
	all := t.fields()
	for _, i := range formats[v].fields {
		b = binary.AppendUvarint(b, uint64(len(*all[i])))
		b = append(b, *all[i]...)
	}
	return b
}

var errMalformed = errors.New("token: malformed")

// parse decodes the structure of a token without checking its MAC: the
// fields, the version, the signed payload and the MAC.
func parse(s string) (t Token, version byte, payload, mac []byte, err error) {
	if len(s) == 0 || len(s) > MaxLen {
		return t, 0, nil, nil, errMalformed
	}
	raw, err := encoding.DecodeString(s)
	// The decoder skips \r and \n: the length check refuses them, so that
	// a token has one spelling.
	if err != nil || encoding.EncodedLen(len(raw)) != len(s) || len(raw) < 1+macSize {
		return t, 0, nil, nil, errMalformed
	}
	f := formatOf(raw[0])
	if f == nil {
		return t, 0, nil, nil, errMalformed
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
		return Token{}, 0, nil, nil, errMalformed
	}
	if t.AgeMS, ok = uvarint(); !ok || t.AgeMS > t.IssuedMS {
		return Token{}, 0, nil, nil, errMalformed
	}
	// One string for all the fields, each a substring of it: one
	// allocation instead of nine.
	all := string(rest)
	fields := t.fields()
	for _, i := range f.fields {
		n, ok := uvarint()
		if !ok || n > uint64(len(rest)) {
			return Token{}, 0, nil, nil, errMalformed
		}
		at := len(all) - len(rest)
		*fields[i] = all[at : at+int(n)]
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return Token{}, 0, nil, nil, errMalformed
	}
	return t, raw[0], payload, mac, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
