package token

// Tests of the token format, inside the package: they build tokens with
// chosen issue times and fields, and spell non-canonical ones.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	testKeyA = bytes.Repeat([]byte("a"), MinKeyBytes)
	testKeyB = bytes.Repeat([]byte("b"), MinKeyBytes)
	testT0   = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

const testExpiry = time.Hour

func testCodec(t testing.TB, keys ...[]byte) *Codec {
	t.Helper()
	c, err := NewCodec(keys, testExpiry, "")
	require.NoError(t, err)
	return c
}

// appCodec is a Codec of the named application, with keys.
func appCodec(t testing.TB, application string, keys ...[]byte) *Codec {
	t.Helper()
	c, err := NewCodec(keys, testExpiry, application)
	require.NoError(t, err)
	return c
}

func testToken() Token {
	return Token{
		IssuedMS: uint64(testT0.UnixMilli()), AgeMS: 250,
		FlagKey: "accessories", Experiment: "Accessories Panel", Variant: "Carousel",
		ProviderVariant: "carousel",
		DistinctID:      "u-1", UserID: "u-1", DeviceID: "d-9",
		TargetingKey: "u-1", Reason: "SPLIT",
	}
}

// Version-1 tokens as the release before version 2 signed them, with
// testKeyA: testToken without its ProviderVariant, and the empty Token.
const (
	goldenV1      = "AYC0teugNPoBC2FjY2Vzc29yaWVzEUFjY2Vzc29yaWVzIFBhbmVsCENhcm91c2VsA3UtMQN1LTEDZC05A3UtMQVTUExJVDSe5eG9DENz3VDXFpnnat-m4_VVVF6G39Lq78Tz2_sH"
	goldenV1Empty = "AQAAAAAAAAAAAAC0_e2XQlInpFxqdCqHXSE7PojiDpyjUq7XIQcbDYO_gw"
	// goldenV2 is testToken as the release before version 3 signed it,
	// with testKeyA.
	goldenV2 = "AoC0teugNPoBC2FjY2Vzc29yaWVzEUFjY2Vzc29yaWVzIFBhbmVsCENhcm91c2VsCGNhcm91c2VsA3UtMQN1LTEDZC05A3UtMQVTUExJVM7F5MD8pfp61-d0b0gpFUioj8U3i7zujsL2ttH82qqI"
)

// signVersion signs t in the format of version v with key, as the release
// that wrote version v did.
func signVersion(t testing.TB, key []byte, tok *Token, v byte) string {
	t.Helper()
	b, ok := testCodec(t, key).appendSign(nil, tok, v)
	require.True(t, ok)
	return string(b)
}

// largestToken has every field at MaxFieldBytes, in multi-byte UTF-8, and
// the largest times: the longest token an assignment can produce.
func largestToken() Token {
	tok := Token{IssuedMS: maxMillis, AgeMS: maxMillis}
	spellings := []string{"é", "€", "𝄞", "x"} // 2, 3, 4 and 1 bytes
	for i, f := range tok.fields() {
		r := spellings[i%len(spellings)]
		s := strings.Repeat(r, MaxFieldBytes/len(r))
		*f = s + strings.Repeat("x", MaxFieldBytes-len(s))
	}
	return tok
}

func TestNewCodecRefusesBadConfiguration(t *testing.T) {
	secret := bytes.Repeat([]byte("s3cr3t!"), 4) // 28 bytes
	tests := []struct {
		name   string
		keys   [][]byte
		expiry time.Duration
		app    string
		want   string
	}{
		{"no key", nil, time.Hour, "", "no key"},
		{"short key", [][]byte{testKeyA, secret}, time.Hour, "", "key 1 is 28 bytes; each key needs at least 32"},
		{"zero expiry", [][]byte{testKeyA}, 0, "", "expiry must be positive"},
		{"negative expiry", [][]byte{testKeyA}, -time.Second, "", "expiry must be positive"},
		{"long application", [][]byte{testKeyA}, time.Hour, strings.Repeat("a", MaxApplicationBytes+1), "application name is 256 bytes, over 255"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCodec(tc.keys, tc.expiry, tc.app)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cr3t", "a key never appears in an error")
		})
	}
}

func TestNewCodecCopiesKeys(t *testing.T) {
	key := bytes.Clone(testKeyA)
	c := testCodec(t, key)
	tok := testToken()
	before := c.Sign(&tok)
	key[0] ^= 1
	assert.Equal(t, before, c.Sign(&tok), "changing the caller's slice changed the key")
	assert.Equal(t, testExpiry, c.Expiry())
}

func TestRoundTrip(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := testToken()
	s := c.Sign(&tok)
	require.NotEmpty(t, s)
	assert.Less(t, len(s), 200, "a typical token stays compact")
	assert.NotContains(t, s, "=", "unpadded")
	assert.NotContains(t, s, "+", "URL-safe alphabet")
	assert.NotContains(t, s, "/", "URL-safe alphabet")

	got, verdict := c.Verify(s, testT0.Add(time.Minute))
	require.Equal(t, OK, verdict)
	assert.Equal(t, tok, got)
	assert.True(t, got.Issued().Equal(testT0))
	assert.True(t, got.Evaluated().Equal(testT0.Add(-250*time.Millisecond)))

	prefixed, ok := c.AppendSign([]byte("x="), &tok)
	require.True(t, ok)
	assert.Equal(t, "x="+s, string(prefixed), "AppendSign appends")
}

func TestVerdicts(t *testing.T) {
	signer := testCodec(t, testKeyA)
	tok := testToken()
	good := signer.Sign(&tok)
	other := testCodec(t, testKeyB).Sign(&tok)

	// Same payload, another subject, the original MAC: the subject is bound.
	moved := tok
	moved.DistinctID = "u-2"
	raw, err := encoding.DecodeString(good)
	require.NoError(t, err)
	rebound := encoding.EncodeToString(append(moved.appendPayload(nil, Version), raw[len(raw)-macSize:]...))

	v4 := append([]byte{4}, raw[1:]...)
	v0 := append([]byte{0}, raw[1:]...)

	// A version-1 payload with the MAC of the version-2 domain, and the
	// other way round: each version's MACs are its own.
	crossMAC := func(payload []byte, domain []byte) string {
		h := hmac.New(sha256.New, testKeyA)
		h.Write(domain)
		h.Write(payload)
		return encoding.EncodeToString(h.Sum(bytes.Clone(payload)))
	}
	v1UnderV2 := crossMAC(tok.appendPayload(nil, 1), formats[2].domain)
	v2UnderV1 := crossMAC(tok.appendPayload(nil, 2), formats[1].domain)
	v2UnderV3 := crossMAC(tok.appendPayload(nil, 2), domainOf(3, ""))
	v3UnderV2 := crossMAC(tok.appendPayload(nil, 3), formats[2].domain)
	// A version-3 token relabelled as version 2 (the same fields): the
	// domains differ.
	relabelled2 := encoding.EncodeToString(append([]byte{2}, raw[1:]...))
	// A version-3 token relabelled as version 1: one field too many.
	relabelled := encoding.EncodeToString(append([]byte{1}, raw[1:]...))

	tests := []struct {
		name  string
		token string
		now   time.Time
		want  Verdict
	}{
		{"genuine", good, testT0, OK},
		{"at the expiry", good, testT0.Add(testExpiry), OK},
		{"after the expiry", good, testT0.Add(testExpiry + time.Millisecond), Expired},
		{"issued within the clock skew", good, testT0.Add(-ClockSkew), OK},
		{"issued too far in the future", good, testT0.Add(-ClockSkew - time.Millisecond), Expired},
		{"another key", other, testT0, Forged},
		{"another subject", rebound, testT0, Forged},
		{"version 1, from two releases before", goldenV1, testT0, OK},
		{"version 2, from the release before", goldenV2, testT0, OK},
		{"another application", appCodec(t, "shop", testKeyA).Sign(&tok), testT0, Forged},
		{"version 1 under the version-2 domain", v1UnderV2, testT0, Forged},
		{"version 2 under the version-1 domain", v2UnderV1, testT0, Forged},
		{"version 2 under the version-3 domain", v2UnderV3, testT0, Forged},
		{"version 3 under the version-2 domain", v3UnderV2, testT0, Forged},
		{"version 3 relabelled as version 2", relabelled2, testT0, Forged},
		{"version 3 relabelled as version 1", relabelled, testT0, Malformed},
		{"unknown version 4", encoding.EncodeToString(v4), testT0, Malformed},
		{"unknown version 0", encoding.EncodeToString(v0), testT0, Malformed},
		{"truncated", good[:len(good)-3], testT0, Malformed},
		{"padded", good + "==", testT0, Malformed},
		{"with a line break", good[:20] + "\r\n" + good[20:], testT0, Malformed},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+", testT0, Malformed},
		{"empty", "", testT0, Malformed},
		{"too long", strings.Repeat("A", MaxLen+1), testT0, Malformed},
		{"garbage", "not a token", testT0, Malformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, verdict := signer.Verify(tc.token, tc.now)
			assert.Equal(t, tc.want, verdict, "verdict %v", verdict)
			if verdict != OK {
				assert.Zero(t, got, "a refused token returns nothing")
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{OK: "ok", Malformed: "malformed", Forged: "forged", Expired: "expired", 9: "Verdict(9)"} {
		assert.Equal(t, want, v.String())
	}
}

func TestKeyRotation(t *testing.T) {
	tok := testToken()
	old := testCodec(t, testKeyA).Sign(&tok)
	rotated := testCodec(t, testKeyB, testKeyA)
	_, verdict := rotated.Verify(old, testT0)
	assert.Equal(t, OK, verdict, "the old key still verifies")
	fresh := rotated.Sign(&tok)
	assert.NotEqual(t, old, fresh, "the first key signs")
	_, verdict = testCodec(t, testKeyB).Verify(fresh, testT0)
	assert.Equal(t, OK, verdict)
	_, verdict = testCodec(t, testKeyA).Verify(fresh, testT0)
	assert.Equal(t, Forged, verdict, "a retired key no longer verifies")
}

func TestTooLargeIsNotSigned(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := testToken()
	tok.DistinctID = strings.Repeat("x", MaxLen)
	assert.Empty(t, c.Sign(&tok))
	dst, ok := c.AppendSign([]byte("keep"), &tok)
	assert.False(t, ok)
	assert.Equal(t, "keep", string(dst), "dst is returned unchanged")

	// The largest token that fits is signed and verifies.
	tok.DistinctID = ""
	base := len(c.Sign(&tok))
	tok.DistinctID = strings.Repeat("x", (MaxLen-base)*3/4-3)
	s := c.Sign(&tok)
	require.NotEmpty(t, s)
	assert.LessOrEqual(t, len(s), MaxLen)
	_, verdict := c.Verify(s, testT0)
	assert.Equal(t, OK, verdict)
}

func TestParseRejectsNonCanonicalVarints(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := testToken()
	payload := tok.appendPayload(nil, Version)
	// Re-spell "issued" with one redundant continuation byte and sign it:
	// even a validly signed non-canonical token does not parse.
	n := uvarintLen(tok.IssuedMS)
	long := binary.AppendUvarint(nil, tok.IssuedMS)
	long[n-1] |= 0x80
	long = append(long, 0)
	odd := append(append(append([]byte{}, payload[:1]...), long...), payload[1+n:]...)
	s := encoding.EncodeToString(c.appendMAC(0, odd, odd))
	_, _, _, _, err := parse(s)
	assert.ErrorIs(t, err, errMalformed)
	_, verdict := c.Verify(s, testT0)
	assert.Equal(t, Malformed, verdict)
}

func TestParseRejectsImpossibleTimes(t *testing.T) {
	c := testCodec(t, testKeyA)
	for name, tok := range map[string]Token{
		"age above issued": {IssuedMS: 10, AgeMS: 11},
		"issued too late":  {IssuedMS: maxMillis + 1},
	} {
		t.Run(name, func(t *testing.T) {
			raw := tok.appendPayload(nil, Version)
			s := encoding.EncodeToString(c.appendMAC(0, raw, raw))
			_, verdict := c.Verify(s, testT0)
			assert.Equal(t, Malformed, verdict)
		})
	}
}

func TestSignAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector empties sync.Pools at random")
	}
	c := testCodec(t, testKeyA)
	tok := testToken()
	dst := make([]byte, 0, 512)
	c.AppendSign(dst, &tok) // warm the pools
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := c.AppendSign(dst[:0], &tok); !ok {
			t.Fatal("not signed")
		}
	})
	assert.Zero(t, allocs, "signing into a buffer with room allocates")
}

func TestSignsVersion3WithTheProviderVariant(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := testToken()
	s := c.Sign(&tok)
	raw, err := encoding.DecodeString(s)
	require.NoError(t, err)
	assert.Equal(t, byte(3), raw[0], "signing writes version 3 only")
	got, verdict := c.Verify(s, testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, "carousel", got.ProviderVariant)
}

func TestVersion1StillVerifies(t *testing.T) {
	// The version-1 encoder the tests keep is the one of the release
	// before: it spells the recorded tokens byte for byte.
	old := testToken()
	old.ProviderVariant = ""
	require.Equal(t, goldenV1, signVersion(t, testKeyA, &old, 1))
	empty := Token{}
	require.Equal(t, goldenV1Empty, signVersion(t, testKeyA, &empty, 1))

	c := testCodec(t, testKeyA)
	got, verdict := c.Verify(goldenV1, testT0.Add(testExpiry))
	require.Equal(t, OK, verdict)
	assert.Equal(t, old, got, "every field but the provider variant, which is empty")
	_, verdict = c.Verify(goldenV1, testT0.Add(testExpiry+time.Millisecond))
	assert.Equal(t, Expired, verdict, "a version-1 token expires like any other")
	_, verdict = testCodec(t, testKeyB).Verify(goldenV1, testT0)
	assert.Equal(t, Forged, verdict)

	// The same content in both versions: two tokens, two MACs.
	assert.NotEqual(t, goldenV1, c.Sign(&old))
}

func TestVersion2StillVerifiesForTheUnnamedApplication(t *testing.T) {
	tok := testToken()
	require.Equal(t, goldenV2, signVersion(t, testKeyA, &tok, 2), "the version-2 encoder of the release before")
	got, verdict := testCodec(t, testKeyA).Verify(goldenV2, testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, tok, got)
}

// A token is bound to the application that issued it: a Codec of another
// application, even with the same key, refuses it as forged. The tokens
// of versions 1 and 2, which name no application, are tokens of the
// unnamed application "".
func TestApplicationBinding(t *testing.T) {
	tok := testToken()
	shop := appCodec(t, "shop", testKeyA)
	blog := appCodec(t, "blog", testKeyA)
	unnamed := testCodec(t, testKeyA)
	assert.Equal(t, "shop", shop.Application())
	// Names that would collide if the domain did not carry the length.
	shopX := appCodec(t, "shop\x00", testKeyA)

	tests := []struct {
		name   string
		token  string
		codec  *Codec
		expect Verdict
	}{
		{"its own application", shop.Sign(&tok), shop, OK},
		{"another application, same key", shop.Sign(&tok), blog, Forged},
		{"a named application's token at the unnamed one", shop.Sign(&tok), unnamed, Forged},
		{"the unnamed application's token at a named one", unnamed.Sign(&tok), shop, Forged},
		{"a name that is a prefix of another", shop.Sign(&tok), shopX, Forged},
		{"version 2 at a named application", goldenV2, shop, Forged},
		{"version 1 at a named application", goldenV1, shop, Forged},
		{"version 2 at the unnamed application", goldenV2, unnamed, OK},
		{"version 1 at the unnamed application", goldenV1, unnamed, OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, verdict := tc.codec.Verify(tc.token, testT0)
			assert.Equal(t, tc.expect, verdict)
		})
	}
	// Rotation works within an application.
	rotated := appCodec(t, "shop", testKeyB, testKeyA)
	_, verdict := rotated.Verify(shop.Sign(&tok), testT0)
	assert.Equal(t, OK, verdict)
}

// TestLargestAssignmentIsSigned is why a render site never fails to issue
// a token: the root package refuses any assignment field over 255 bytes,
// and a token with every field at that bound, in multi-byte UTF-8 and with
// the largest times, is signed and verifies back identically.
func TestLargestAssignmentIsSigned(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := largestToken()
	for i, f := range tok.fields() {
		require.Len(t, *f, MaxFieldBytes, "field %d", i)
	}
	s := c.Sign(&tok)
	require.NotEmpty(t, s, "the largest assignment is signed")
	assert.Len(t, s, MaxBoundedLen, "MaxBoundedLen is the length of the largest token")
	assert.LessOrEqual(t, len(s), MaxLen)
	got, verdict := c.Verify(s, tok.Issued())
	require.Equal(t, OK, verdict)
	assert.Equal(t, tok, got)
}

// FuzzParse checks the parser on any input: it never panics, it accepts
// only the one canonical spelling of a token of a known version, and a
// token verifies only if signing its fields with the key in its version
// gives it back. The seed corpus (and testdata/fuzz) runs in every
// `go test`.
func FuzzParse(f *testing.F) {
	c := testCodec(f, testKeyA)
	tok := testToken()
	good := c.Sign(&tok)
	largest := largestToken()
	empty := Token{}
	for _, s := range []string{good, goldenV1, goldenV1Empty, goldenV2} {
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(s[:10])
		f.Add(s + "A")
		f.Add(strings.ToUpper(s))
	}
	f.Add("")
	f.Add("AQ")
	f.Add("AQAA")
	f.Add("Ag")
	f.Add("AgAA")
	f.Add("Aw")
	f.Add("AwAA")
	f.Add("BA")
	f.Add(encoding.EncodeToString(bytes.Repeat([]byte{0xff}, 64)))
	for _, v := range []byte{1, 2, 3} {
		f.Add(encoding.EncodeToString(append([]byte{v, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}, make([]byte, 40)...)))
		f.Add(encoding.EncodeToString(append([]byte{v}, make([]byte, 10+macSize)...))) // empty fields, one count too many or few
	}
	f.Add(c.Sign(&empty))
	f.Add(c.Sign(&largest))
	f.Add(testCodec(f, testKeyB).Sign(&tok))

	f.Fuzz(func(t *testing.T, s string) {
		got, version, payload, mac, err := parse(s)
		if err != nil {
			if _, verdict := c.Verify(s, testT0); verdict != Malformed {
				t.Fatalf("parse failed but Verify said %v", verdict)
			}
			return
		}
		if version < 1 || version > 3 {
			t.Fatalf("parsed version %d", version)
		}
		if version == 1 && got.ProviderVariant != "" {
			t.Fatalf("a version-1 token with a provider variant: %q", s)
		}
		// Canonical: re-encoding the parsed token in its version spells the input.
		if re := encoding.EncodeToString(append(got.appendPayload(nil, version), mac...)); re != s {
			t.Fatalf("not canonical: %q parsed and re-encoded as %q", s, re)
		}
		if !bytes.Equal(payload, got.appendPayload(nil, version)) {
			t.Fatalf("payload %x differs from the parsed fields", payload)
		}
		_, verdict := c.Verify(s, got.Issued())
		if signed, _ := c.appendSign(nil, &got, version); verdict == OK && string(signed) != s {
			t.Fatalf("verified a token the key did not sign: %q", s)
		}
		if verdict == Malformed {
			t.Fatalf("parsed but Verify said malformed: %q", s)
		}
	})
}

// FuzzTamper flips bits of a genuine token of either version: no change of
// any bit verifies.
func FuzzTamper(f *testing.F) {
	c := testCodec(f, testKeyA)
	tok := testToken()
	tokens := [][]byte{}
	for _, s := range []string{c.Sign(&tok), goldenV1} { // versions 3 and 1
		raw, err := encoding.DecodeString(s)
		require.NoError(f, err)
		tokens = append(tokens, raw)
	}
	for v1, raw := range tokens {
		for _, pos := range []uint{0, 1, 5, 12, 30, 40, uint(len(raw) - macSize - 1), uint(len(raw) - macSize), uint(len(raw) - 1)} {
			f.Add(v1 == 1, pos, byte(1))
			f.Add(v1 == 1, pos, byte(0x80))
			f.Add(v1 == 1, pos, byte(3)) // byte 0: version 3 to 0, version 1 to 2
		}
	}
	f.Fuzz(func(t *testing.T, v1 bool, pos uint, flip byte) {
		if flip == 0 {
			return
		}
		raw := tokens[0]
		if v1 {
			raw = tokens[1]
		}
		mutated := bytes.Clone(raw)
		mutated[pos%uint(len(mutated))] ^= flip
		if _, verdict := c.Verify(encoding.EncodeToString(mutated), testT0); verdict == OK {
			t.Fatalf("a token (version 1: %v) with byte %d xor %#x verified", v1, pos%uint(len(mutated)), flip)
		}
	})
}
