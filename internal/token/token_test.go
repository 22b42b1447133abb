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

// typicalAttributes are a typical evaluation context's attributes: five,
// of the kinds an application sets.
func typicalAttributes() map[string]any {
	return map[string]any{
		"$user_id": "u-1", "country": "FR", "plan": "pro", "beta": true, "age_days": int64(412),
	}
}

// typicalToken is testToken with typicalAttributes.
func typicalToken() Token {
	tok := testToken()
	tok.Attributes = typicalAttributes()
	return tok
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

// signNamed signs t in the format of version v for application, with
// testKeyA.
func signNamed(t testing.TB, application string, tok *Token, v byte) string {
	t.Helper()
	b, ok := appCodec(t, application, testKeyA).appendSign(nil, tok, v)
	require.True(t, ok)
	return string(b)
}

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
	before3 := signVersion(t, key, &tok, 3)
	b, ok := c.appendSign(nil, &tok, 3)
	require.True(t, ok)
	require.Equal(t, before3, string(b))
	key[0] ^= 1
	b, _ = c.appendSign(nil, &tok, 3)
	assert.Equal(t, before3, string(b), "changing the caller's slice changed the MAC key")
	_, verdict := c.Verify(before, testT0)
	assert.Equal(t, OK, verdict, "changing the caller's slice changed the encryption key")
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

	prefixed, dropped, ok := c.AppendSign([]byte("x="), &tok)
	require.True(t, ok)
	assert.Zero(t, dropped)
	assert.True(t, strings.HasPrefix(string(prefixed), "x="), "AppendSign appends")
	got, verdict = c.Verify(string(prefixed[2:]), testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, tok, got)
	assert.NotEqual(t, s, string(prefixed[2:]), "each token has its own salt")

	typical := typicalToken()
	s = c.Sign(&typical)
	t.Logf("a typical token (5 attributes) is %d characters", len(s))
	assert.Less(t, len(s), 250, "a typical token with five attributes stays compact")
	got, verdict = c.Verify(s, testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, typical, got, "the attributes come back with their types")
}

func TestVerdicts(t *testing.T) {
	signer := testCodec(t, testKeyA)
	tok := testToken()
	good := signVersion(t, testKeyA, &tok, 3)
	sealed := signer.Sign(&tok)
	other := testCodec(t, testKeyB).Sign(&tok)
	other3 := signVersion(t, testKeyB, &tok, 3)

	// Same payload, another subject, the original MAC: the subject is bound.
	moved := tok
	moved.DistinctID = "u-2"
	raw, err := encoding.DecodeString(good)
	require.NoError(t, err)
	rebound := encoding.EncodeToString(append(moved.appendPayload(nil, 3), raw[len(raw)-macSize:]...))

	v6 := append([]byte{6}, raw[1:]...)
	v5 := append([]byte{5}, raw[1:]...)
	v4 := append([]byte{4}, raw[1:]...)
	sealedRaw, err := encoding.DecodeString(sealed)
	require.NoError(t, err)
	sealedAs3 := encoding.EncodeToString(append([]byte{3}, sealedRaw[1:]...))
	flipped := bytes.Clone(sealedRaw)
	flipped[len(flipped)/2] ^= 1
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
	// Version 4's body under a version-3 MAC: the MAC is of the right key,
	// but version 4 is sealed.
	v4UnderMAC := crossMAC(tok.appendPayload(nil, 4), domainOf(4, ""))
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
		{"sealed", sealed, testT0, OK},
		{"sealed, after the expiry", sealed, testT0.Add(testExpiry + time.Millisecond), Expired},
		{"sealed, issued too far in the future", sealed, testT0.Add(-ClockSkew - time.Millisecond), Expired},
		{"sealed with another key", other, testT0, Forged},
		{"sealed, one bit flipped", encoding.EncodeToString(flipped), testT0, Forged},
		{"sealed, truncated to its overhead", encoding.EncodeToString(sealedRaw[:sealOverhead]), testT0, Forged},
		{"sealed, shorter than its overhead", encoding.EncodeToString(sealedRaw[:sealOverhead-1]), testT0, Malformed},
		{"sealed relabelled as version 3", sealedAs3, testT0, Malformed}, // its body is not a version-3 one
		{"version 3 relabelled as version 4", encoding.EncodeToString(v4), testT0, Forged},
		{"version 4 body with a MAC", v4UnderMAC, testT0, Forged},
		{"sealed, another application", appCodec(t, "shop", testKeyA).Sign(&tok), testT0, Forged},
		{"at the expiry", good, testT0.Add(testExpiry), OK},
		{"after the expiry", good, testT0.Add(testExpiry + time.Millisecond), Expired},
		{"issued within the clock skew", good, testT0.Add(-ClockSkew), OK},
		{"issued too far in the future", good, testT0.Add(-ClockSkew - time.Millisecond), Expired},
		{"another key", other3, testT0, Forged},
		{"another subject", rebound, testT0, Forged},
		{"version 1, from two releases before", goldenV1, testT0, OK},
		{"version 2, from the release before", goldenV2, testT0, OK},
		{"another application", signNamed(t, "shop", &tok, 3), testT0, Forged},
		{"version 1 under the version-2 domain", v1UnderV2, testT0, Forged},
		{"version 2 under the version-1 domain", v2UnderV1, testT0, Forged},
		{"version 2 under the version-3 domain", v2UnderV3, testT0, Forged},
		{"version 3 under the version-2 domain", v3UnderV2, testT0, Forged},
		{"version 3 relabelled as version 2", relabelled2, testT0, Forged},
		{"version 3 relabelled as version 1", relabelled, testT0, Malformed},
		{"unknown version 6", encoding.EncodeToString(v6), testT0, Malformed},
		{"version 3 relabelled as version 5", encoding.EncodeToString(v5), testT0, Forged},
		{"sealed relabelled as version 4", encoding.EncodeToString(append([]byte{4}, sealedRaw[1:]...)), testT0, Forged},
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
	dst, _, ok := c.AppendSign([]byte("keep"), &tok)
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
	payload := tok.appendPayload(nil, 3)
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
			raw := tok.appendPayload(nil, 3)
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
		if _, _, ok := c.AppendSign(dst[:0], &tok); !ok {
			t.Fatal("not signed")
		}
	})
	// AES's key schedule and the GCM of each token's own key.
	assert.LessOrEqual(t, allocs, 3.0, "sealing into a buffer with room allocates only the token's cipher")
}

// Signing writes version 5, sealed: nothing of the assignment, the
// subject or the attributes is readable in the token.
func TestSignsVersion5Sealed(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := typicalToken()
	tok.Attributes["segment"] = "whales-high-ltv"
	s := c.Sign(&tok)
	raw, err := encoding.DecodeString(s)
	require.NoError(t, err)
	assert.Equal(t, byte(5), raw[0], "signing writes version 5 only")
	for _, clear := range []string{"accessories", "Accessories Panel", "carousel", "u-1", "d-9", "SPLIT", "FR", "pro", "whales", "country", "segment"} {
		assert.NotContains(t, string(raw), clear, "readable in the token")
	}
	got, verdict := c.Verify(s, testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, "carousel", got.ProviderVariant)
	assert.Equal(t, tok, got)
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
		{"version 3 of its own application", signNamed(t, "shop", &tok, 3), shop, OK},
		{"version 3 of another application", signNamed(t, "shop", &tok, 3), blog, Forged},
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
	typical := typicalToken()
	for _, s := range []string{c.Sign(&typical), signVersion(f, testKeyA, &tok, 3)} {
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(s + "A")
	}

	f.Fuzz(func(t *testing.T, s string) {
		got, version, payload, mac, err := parse(s)
		if raw, ok := decode(s); ok && isSealed(raw[0]) {
			// Sealed: only the key holder can write a body; a token that
			// opens gives the same token when opened again.
			tok, verdict := c.Verify(s, testT0)
			if verdict == OK {
				if again, _ := c.Verify(s, testT0); !assert.ObjectsAreEqual(tok, again) {
					t.Fatalf("opened twice, differently: %q", s)
				}
			} else if verdict == Malformed {
				t.Fatalf("a well-formed sealed token is malformed: %q", s)
			}
			return
		}
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

// FuzzTamper flips bits of a genuine token of version 4 (with attributes)
// or version 1: no change of any bit verifies.
func FuzzTamper(f *testing.F) {
	c := testCodec(f, testKeyA)
	tok := typicalToken()
	tokens := [][]byte{}
	for _, s := range []string{c.Sign(&tok), goldenV1} { // versions 4 and 1
		raw, err := encoding.DecodeString(s)
		require.NoError(f, err)
		tokens = append(tokens, raw)
	}
	for v1, raw := range tokens {
		for _, pos := range []uint{0, 1, 5, 12, 30, 40, uint(len(raw) - macSize - 1), uint(len(raw) - macSize), uint(len(raw) - 1)} {
			f.Add(v1 == 1, pos, byte(1))
			f.Add(v1 == 1, pos, byte(0x80))
			f.Add(v1 == 1, pos, byte(3)) // byte 0: version 4 to 7, version 1 to 2
			f.Add(v1 == 1, pos, byte(7)) // byte 0: version 4 to 3
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

// sealBody seals body, any bytes, as the body of a version-4 token with
// c's first key: what only a key holder can do, to reach the parser
// behind the AEAD.
func sealBody(c *Codec, body []byte) string { return sealBodyOf(c, sealedVersion, body) }

// sealBodyOf is sealBody for the sealed version v.
func sealBodyOf(c *Codec, v byte, body []byte) string {
	raw := append([]byte{v}, make([]byte, saltSize)...)
	raw = c.aeadOf(0, raw[1:]).Seal(raw, zeroNonce[:], body, c.domains[v])
	return encoding.EncodeToString(raw)
}

// The attributes of an evaluation context come back with their types:
// strings, booleans, int, int64, float64 and nil as they were, anything
// else as encoding/json decodes its JSON.
func TestAttributesRoundTrip(t *testing.T) {
	c := testCodec(t, testKeyA)
	type point struct{ Y, X int }
	tests := []struct {
		name    string
		in, out any
	}{
		{"string", "FR", "FR"},
		{"empty string", "", ""},
		{"true", true, true},
		{"false", false, false},
		{"nil", nil, nil},
		{"int", -42, -42},
		{"int64", int64(1) << 60, int64(1) << 60},
		{"float64", 2.5, 2.5},
		{"int32 as JSON", int32(7), float64(7)},
		{"slice as JSON", []string{"a", "b"}, []any{"a", "b"}},
		{"map as JSON", map[string]any{"b": 1, "a": []int{2}}, map[string]any{"a": []any{float64(2)}, "b": float64(1)}},
		{"struct as JSON, fields sorted", point{Y: 1, X: 2}, map[string]any{"X": float64(2), "Y": float64(1)}},
		{"time as JSON", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := testToken()
			tok.Attributes = map[string]any{"k": tc.in, "other": "x"}
			got, verdict := c.Verify(c.Sign(&tok), testT0)
			require.Equal(t, OK, verdict)
			assert.Equal(t, map[string]any{"k": tc.out, "other": "x"}, got.Attributes)
		})
	}

	// A value JSON cannot encode is dropped, and counted.
	tok := testToken()
	tok.Attributes = map[string]any{"f": func() {}, "ok": "yes"}
	s, dropped, ok := c.AppendSign(nil, &tok)
	require.True(t, ok)
	assert.Equal(t, Dropped{Attributes: 1}, dropped)
	got, verdict := c.Verify(string(s), testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, map[string]any{"ok": "yes"}, got.Attributes)
}

// A context too large for a token keeps, in key order, the attributes that
// fit, each whole; the others are dropped and counted, and the token never
// passes MaxLen. The largest assignment still has MinAttributeBytes.
func TestAttributesThatDoNotFitAreDropped(t *testing.T) {
	c := testCodec(t, testKeyA)
	for _, tc := range []struct {
		name string
		tok  Token
	}{{"typical fields", testToken()}, {"largest fields", largestToken()}} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			tok.Attributes = map[string]any{}
			// 26 attributes of 300 bytes: 7,800 bytes, more than fit.
			for i := range 26 {
				tok.Attributes[string(rune('a'+i))] = strings.Repeat("v", 300)
			}
			tok.Attributes["zz-small"] = true // after the large ones in key order: still fits
			s, dropped, ok := c.AppendSign(nil, &tok)
			require.True(t, ok)
			assert.LessOrEqual(t, len(s), MaxLen)
			got, verdict := c.Verify(string(s), tok.Issued())
			require.Equal(t, OK, verdict)
			assert.Equal(t, len(tok.Attributes), len(got.Attributes)+dropped.Attributes, "every attribute is kept or counted")
			assert.Positive(t, dropped.Attributes)
			assert.Equal(t, true, got.Attributes["zz-small"], "a small attribute after a dropped one still fits")
			// The kept ones are the first in key order, whole.
			for i := range 26 - dropped.Attributes {
				k := string(rune('a' + i))
				assert.Equal(t, tok.Attributes[k], got.Attributes[k], "attribute %s", k)
			}
			// Nothing more would have fit: the token is within one
			// attribute of MaxLen.
			assert.Greater(t, len(s), MaxLen-(300+4)*4/3-4)
		})
	}
	// The largest fields leave MinAttributeBytes for the blocks after
	// them: with no property and no related assignment (two counts of
	// 0), that much less two bytes for the attributes.
	tok := largestToken()
	tok.Attributes = map[string]any{"k": strings.Repeat("v", MinAttributeBytes-2-1-5)} // counts, count, key, kind, length
	_, dropped, ok := c.AppendSign(nil, &tok)
	require.True(t, ok)
	assert.Zero(t, dropped, "an attribute of MinAttributeBytes fits beside the largest fields")
	tok.Attributes["k"] = strings.Repeat("v", MinAttributeBytes-2-1-5+1)
	_, dropped, _ = c.AppendSign(nil, &tok)
	assert.Equal(t, Dropped{Attributes: 1}, dropped, "one byte more does not")
}

// Bodies only a key holder could seal are still parsed strictly: one
// spelling of the times, fields and attributes.
func TestSealedBodiesParseStrictly(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := testToken()
	body := tok.appendBody(nil, sealedVersion)
	attr := func(entries ...[]byte) []byte {
		b := binary.AppendUvarint(nil, uint64(len(entries)))
		for _, e := range entries {
			b = append(b, e...)
		}
		return b
	}
	entry := func(key string, v any) []byte {
		b, ok := appendAttribute(nil, key, v)
		require.True(t, ok)
		return b
	}
	tests := []struct {
		name  string
		block []byte
		want  Verdict
	}{
		{"no attributes", attr(), OK},
		{"two, sorted", attr(entry("a", 1), entry("b", "x")), OK},
		{"no attribute block", nil, Malformed},
		{"unsorted", attr(entry("b", 1), entry("a", "x")), Malformed},
		{"a key twice", attr(entry("a", 1), entry("a", 2)), Malformed},
		{"a count too large", append([]byte{3}, attr(entry("a", 1))[1:]...), Malformed},
		{"trailing bytes", append(attr(entry("a", 1)), 0), Malformed},
		{"unknown kind", attr([]byte{1, 'a', 99}), Malformed},
		{"long int", attr([]byte{1, 'a', kindInt, 0x82, 0x00}), Malformed},
		{"short float", attr([]byte{1, 'a', kindFloat64, 0, 0}), Malformed},
		{"JSON not canonical", attr([]byte{1, 'a', kindJSON, 5, '[', '1', ',', ' ', ']'}), Malformed},
		{"JSON spaced", attr([]byte{1, 'a', kindJSON, 4, '[', ' ', '1', ']'}), Malformed},
		{"JSON invalid", attr([]byte{1, 'a', kindJSON, 1, '['}), Malformed},
		{"JSON canonical", attr([]byte{1, 'a', kindJSON, 3, '[', '1', ']'}), OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, verdict := c.Verify(sealBody(c, append(bytes.Clone(body), tc.block...)), testT0)
			assert.Equal(t, tc.want, verdict)
		})
	}
}

// FuzzSealed fuzzes the parser behind the AEAD: any body the key holder
// seals either is refused as malformed or opens to a token that seals back
// to the same body.
func FuzzSealed(f *testing.F) {
	c := testCodec(f, testKeyA)
	for _, tok := range []Token{testToken(), typicalToken(), largestToken(), {}} {
		body := tok.appendBody(nil, sealedVersion)
		body, _ = appendAttributes(body, tok.Attributes, maxRaw)
		f.Add(body)
		f.Add(body[:len(body)-1])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxRaw-sealOverhead {
			return
		}
		got, verdict := c.Verify(sealBody(c, body), testT0)
		switch verdict {
		case Malformed:
			return
		case OK, Expired:
		default:
			t.Fatalf("verdict %v for a body sealed with the key", verdict)
		}
		if verdict == Expired {
			return
		}
		re := got.appendBody(nil, sealedVersion)
		re, dropped := appendAttributes(re, got.Attributes, maxRaw)
		if dropped != 0 || !bytes.Equal(re, body) {
			t.Fatalf("not canonical: %x re-encoded as %x", body, re)
		}
	})
}
