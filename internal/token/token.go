// Package token seals and verifies the tokens of exposures confirmed by a
// client (a browser, a single-page app, a mobile app): an assignment,
// bound to its subject and to the evaluation context it was drawn with,
// that the client carries and posts back once the variant was seen.
//
// # Version 5: sealed, with properties and related assignments
//
// Signing writes version 5, the unpadded base64url encoding of
//
//	version   1 byte, 5
//	salt      16 random bytes
//	sealed    AES-256-GCM ciphertext of the body, with its 16-byte tag
//
// The body is, in this order:
//
//	issued    uvarint, Unix milliseconds when the token was issued
//	age       uvarint, milliseconds from the evaluation to issued
//	fields    uvarint length + bytes each: flag key, experiment, variant,
//	          provider variant, distinct id, user id, device id,
//	          targeting key, reason
//	properties  the assignment's event properties (see below)
//	related   uvarint count, then for each other assignment of the same
//	          evaluation (a holdout, say): experiment, variant and
//	          provider variant (uvarint length + bytes each; the provider
//	          variant empty when it is the variant) and its properties
//	attributes  the evaluation context's attributes (see below)
//
// A related assignment shares the flag key, the subject, the reason, the
// times and the attributes of the token's own.
//
// Version 4 is the same without the properties and related blocks.
//
// Each token has a key of its own: HMAC-SHA256 of its salt under an
// encryption key derived with HKDF-SHA256 from the beacon key (info
// "exposure beacon token v4 aes-256-gcm", for versions 4 and 5), so the
// beacon key itself never meets AES and the HMAC keys of the earlier
// versions never meet the derived one. A fresh key per token lets the
// GCM nonce be fixed (zero): random 96-bit nonces under one key would be
// safe for only about 2^32 tokens, which a busy application issues in
// months, while 128-bit salts are safe for 2^48 and more. The additional data is the domain
// "exposure beacon token v5" (or "… v4"), a zero byte, the uvarint length
// of the application's name and the name (see [NewCodec]), so a token of
// another application or another version does not open.
//
// The body is encrypted, not only authenticated: the attributes of the
// evaluation context (a country, a plan, a segment the server computed)
// are not readable by the client that carries the token, and neither are
// the ids. A client learns only the token's length.
//
// # Attributes
//
// The attribute block is a uvarint count and, in strictly increasing
// byte order of their keys, each attribute: its key (uvarint length +
// bytes), a kind byte and its value:
//
//	0 nil   1 false   2 true
//	3 string   uvarint length + bytes
//	4 int      zig-zag varint, decoded as int
//	5 int64    zig-zag varint, decoded as int64
//	6 float64  8 bytes, IEEE 754 little-endian
//	7 JSON     uvarint length + encoding/json of the value
//
// Every other value (nested maps and slices, time.Time, other integer
// types) travels as its JSON and comes back as encoding/json decodes it
// into an any (maps, slices, float64, string, bool, nil); a value JSON
// cannot encode is dropped.
//
// # Properties
//
// A property block (the assignment's own, and each related assignment's)
// is a uvarint count and, in strictly increasing byte order of their
// names, each property: its name (uvarint length + bytes), a kind byte
// and its value, as an attribute's, of the kinds 1 false, 2 true, 3
// string, 5 int64 and 6 float64 only: a property's value is a string, a
// bool, an int64 or a float64 and comes back as exactly that. A value of
// another type is left out by the signer (and counted).
//
// # Size
//
// A token is at most [MaxLen] characters. The fields never give way: what
// follows them gets what they leave, at least [MinAttributeBytes]. Of
// that, first the related assignments are taken in order, each whole
// without its properties, then the token's own properties, then the
// properties of each related assignment kept, each property in name
// order, and last the attributes in key order, each whole: whatever does
// not fit in what is left is left out, and the signer reports what (see
// [Dropped]). A property is in the event a sink sends and a related
// assignment is an exposure of its own, while an attribute only refines
// what a vendor sink evaluates again: they come first.
//
// # Earlier versions
//
// Verification also accepts version 4 (above) and versions 3, 2 and 1,
// whose body is in clear and signed with HMAC-SHA256 under the beacon key
// itself:
//
//	version   1 byte, 3, 2 or 1
//	issued, age, fields as above (version 1 has no provider variant)
//	mac       32 bytes, HMAC-SHA256(key, domain || all of the above)
//
// They carry no attributes. The domain of version 3 names the application
// as version 4's additional data does; versions 1 and 2 name none: they
// are tokens of the unnamed application "", and a Codec of a named
// application refuses them as Forged. Versions 1 to 4 can be dropped one
// token expiry after every instance signs version 5.
//
// Everything is canonical (shortest uvarints, strict base64, no trailing
// bytes, one field list per version, sorted unique attribute keys), so a
// token of versions 1 to 3 has exactly one spelling and its MAC binds
// every field, the subject included; a sealed token (versions 4 and 5) is
// authenticated as a whole by GCM, and parsed as strictly. Either way a token confirms its own subject's
// assignment and nothing else.
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
	// also accepts versions 1 to 4 (see the package documentation).
	Version = 5
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

	saltSize = 16 // versions 4 and 5: the salt of the token's own key
	tagSize  = 16 // versions 4 and 5: the GCM tag
	// sealOverhead is what versions 4 and 5 add to their body.
	sealOverhead = 1 + saltSize + tagSize

	// maxRaw is the longest decoded token whose encoding fits in MaxLen.
	maxRaw = MaxLen * 6 / 8

	// maxBodyLen is the body of the largest token of bounded fields: two
	// times of at most 8 uvarint bytes (maxMillis < 2^56) and nine fields
	// of a 2-byte length and MaxFieldBytes.
	maxBodyLen = 2*8 + 9*(2+MaxFieldBytes)
	// maxRawLen is the decoded length of the largest version-5 token of
	// bounded fields and no property, related assignment or attribute
	// (three counts of 0, one byte each).
	maxRawLen = sealOverhead + maxBodyLen + 3
	// MaxBoundedLen is the encoded length of that token (3154).
	MaxBoundedLen = (maxRawLen*8 + 5) / 6
	// MinAttributeBytes is the room for what follows the fields (the
	// blocks of properties, related assignments and attributes, their
	// counts included) that every token of bounded fields has, whatever
	// its fields: 710 bytes, as encoded.
	MinAttributeBytes = maxRaw - sealOverhead - maxBodyLen
)

// A compile-time proof that a token of bounded fields is always signed:
// the constant conversion fails to compile if MaxBoundedLen > MaxLen.
const _ = uint(MaxLen - MaxBoundedLen)

// fieldCount is the number of string fields of a Token.
const fieldCount = 9

// sealedVersion is the first version whose body is encrypted (version
// 4); assignmentsVersion (5) is sealed too, and adds the event properties
// and the related assignments.
const (
	sealedVersion      = 4
	assignmentsVersion = 5
)

// isSealed reports whether version v is sealed rather than signed in clear.
func isSealed(v byte) bool { return v == sealedVersion || v == assignmentsVersion }

// A format is what distinguishes the versions: the domain of the MAC (or
// of the AEAD's additional data) and which of the Token's fields are on
// the wire, in order.
type format struct {
	domain []byte
	fields []int // indexes into Token.fields()
	// named is whether the domain goes on with the application's name
	// (versions 3 and 4); versions 1 and 2 are of the unnamed application.
	named bool
}

// formats are the versions Verify accepts, by version byte.
var formats = [...]format{
	1: {[]byte("exposure beacon token v1\x00"), []int{0, 1, 2, 4, 5, 6, 7, 8}, false},
	2: {[]byte("exposure beacon token v2\x00"), []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, false},
	3: {[]byte("exposure beacon token v3\x00"), []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, true},
	4: {[]byte("exposure beacon token v4\x00"), []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, true},
	5: {[]byte("exposure beacon token v5\x00"), []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, true},
}

// domainOf is the domain of version v (which must be known) for
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

// Token is the content of a token: when it was issued, the assignment it
// confirms and the evaluation context's attributes.
type Token struct {
	// IssuedMS is when the token was issued, in Unix milliseconds.
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

	// Attributes are the evaluation context's attributes (versions 4 and
	// 5; nil in the earlier versions, and when there are none). See the
	// package documentation for the values that come back as they went in.
	Attributes map[string]any

	// Properties are the event properties of the assignment (version 5;
	// nil when there are none): string, bool, int64 and float64 values,
	// which come back with their types. A value of another type is left
	// out (and counted as dropped).
	Properties map[string]any
	// Related are the other experiments the same evaluation assigned
	// (version 5; nil when there are none). They share the token's flag
	// key, subject, reason, times and attributes.
	Related []Related
}

// Related is an assignment to another experiment by the same evaluation
// as the token's own (a holdout around it, say): what differs from the
// token's assignment.
type Related struct {
	Experiment, Variant string
	// ProviderVariant is the variant as the provider named it. An empty
	// one travels as "the same as Variant", and comes back as Variant.
	ProviderVariant string
	// Properties are the related assignment's event properties, as
	// [Token.Properties].
	Properties map[string]any
}

// Issued returns IssuedMS as a time.
func (t *Token) Issued() time.Time { return time.UnixMilli(int64(t.IssuedMS)) }

// Evaluated returns when the flag was evaluated: IssuedMS - AgeMS.
func (t *Token) Evaluated() time.Time { return time.UnixMilli(int64(t.IssuedMS - t.AgeMS)) }

// fields lists every string field, in the order of versions 2 to 4.
func (t *Token) fields() [fieldCount]*string {
	return [fieldCount]*string{&t.FlagKey, &t.Experiment, &t.Variant, &t.ProviderVariant,
		&t.DistinctID, &t.UserID, &t.DeviceID, &t.TargetingKey, &t.Reason}
}

// appendBody appends the times and the fields of t in the format of
// version v, which must be known. Fields a version does not carry are
// left out.
func (t *Token) appendBody(b []byte, v byte) []byte {
	b = binary.AppendUvarint(b, t.IssuedMS)
	b = binary.AppendUvarint(b, t.AgeMS)
	all := t.fields()
	for _, i := range formats[v].fields {
		b = binary.AppendUvarint(b, uint64(len(*all[i])))
		b = append(b, *all[i]...)
	}
	return b
}

// appendPayload appends the signed part of a token of version 1 to 3
// (everything but the MAC): the version byte and the body.
func (t *Token) appendPayload(b []byte, v byte) []byte {
	return t.appendBody(append(b, v), v)
}

var errMalformed = errors.New("token: malformed")

// decode returns the bytes of s, the one spelling of a token of a known
// version, or false.
func decode(s string) ([]byte, bool) {
	if len(s) == 0 || len(s) > MaxLen {
		return nil, false
	}
	raw, err := encoding.DecodeString(s)
	// The decoder skips \r and \n: the length check refuses them, so that
	// a token has one spelling.
	if err != nil || encoding.EncodedLen(len(raw)) != len(s) || len(raw) < 1 || formatOf(raw[0]) == nil {
		return nil, false
	}
	min := 1 + macSize
	if isSealed(raw[0]) {
		min = sealOverhead
	}
	if len(raw) < min {
		return nil, false
	}
	return raw, true
}

// parse decodes the structure of a token of version 1 to 3 without
// checking its MAC: the fields, the version, the signed payload and the
// MAC. A sealed token is not parsed without its key (see Codec.open).
func parse(s string) (t Token, version byte, payload, mac []byte, err error) {
	raw, ok := decode(s)
	if !ok || isSealed(raw[0]) {
		return t, 0, nil, nil, errMalformed
	}
	payload, mac = raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	t, rest, err := parseBody(payload[1:], raw[0])
	if err != nil || len(rest) != 0 {
		return Token{}, 0, nil, nil, errMalformed
	}
	return t, raw[0], payload, mac, nil
}

// parseBody parses the times and fields of version v at the start of b and
// returns the rest.
func parseBody(b []byte, v byte) (t Token, rest []byte, err error) {
	rest = b
	uvarint := func() (uint64, bool) {
		x, n := binary.Uvarint(rest)
		if n <= 0 || n != uvarintLen(x) { // truncated, overflowing or not the shortest form
			return 0, false
		}
		rest = rest[n:]
		return x, true
	}
	var ok bool
	if t.IssuedMS, ok = uvarint(); !ok || t.IssuedMS > maxMillis {
		return Token{}, nil, errMalformed
	}
	if t.AgeMS, ok = uvarint(); !ok || t.AgeMS > t.IssuedMS {
		return Token{}, nil, errMalformed
	}
	// One string for all the fields, each a substring of it: one
	// allocation instead of nine.
	all := string(rest)
	fields := t.fields()
	for _, i := range formats[v].fields {
		n, ok := uvarint()
		if !ok || n > uint64(len(rest)) {
			return Token{}, nil, errMalformed
		}
		at := len(all) - len(rest)
		*fields[i] = all[at : at+int(n)]
		rest = rest[n:]
	}
	return t, rest, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
