package exposure

// Tests of the beacon token format, inside the package: they build tokens
// with chosen issue times and fields, which the public API never does.

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	testKeyA = bytes.Repeat([]byte("a"), MinBeaconKeyBytes)
	testKeyB = bytes.Repeat([]byte("b"), MinBeaconKeyBytes)
	testT0   = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

func testBeacon(t testing.TB, keys ...[]byte) *beacon {
	t.Helper()
	b, err := newBeacon(&beaconConfig{keys: keys})
	require.NoError(t, err)
	return b
}

func testToken() beaconToken {
	a := Assignment{
		FlagKey: "accessories", Experiment: "Accessories Panel", Variant: "Carousel",
		Identity:    Identity{DistinctID: "u-1", UserID: "u-1", DeviceID: "d-9"},
		Reason:      "SPLIT",
		EvaluatedAt: testT0.Add(-250 * time.Millisecond),
		Context:     openfeature.NewEvaluationContext("u-1", nil),
	}
	return tokenFor(&a, testT0)
}

func TestBeaconTokenRoundTrip(t *testing.T) {
	b := testBeacon(t, testKeyA)
	tok := testToken()
	s := b.sign(&tok)
	require.NotEmpty(t, s)
	assert.Less(t, len(s), 200, "a typical token stays compact")
	assert.NotContains(t, s, "=", "unpadded")
	assert.Equal(t, s, strings.Map(func(r rune) rune {
		if r == '+' || r == '/' {
			return -1
		}
		return r
	}, s), "URL-safe alphabet")

	got, verdict := b.verify(s, testT0.Add(time.Minute))
	require.Equal(t, beaconOK, verdict)
	assert.Equal(t, tok, got)

	a := got.assignment()
	assert.Equal(t, "accessories", a.FlagKey)
	assert.Equal(t, "Accessories Panel", a.Experiment)
	assert.Equal(t, "Carousel", a.Variant)
	assert.Equal(t, Identity{DistinctID: "u-1", UserID: "u-1", DeviceID: "d-9"}, a.Identity)
	assert.Equal(t, "SPLIT", a.Reason)
	assert.Equal(t, "u-1", a.Context.TargetingKey())
	assert.Equal(t, "u-1", a.Context.Attribute(AttributeUserID))
	assert.Equal(t, "d-9", a.Context.Attribute(AttributeDeviceID))
	assert.True(t, a.EvaluatedAt.Equal(testT0.Add(-250*time.Millisecond)), "evaluated at %v", a.EvaluatedAt)
}

func TestBeaconTokenVerdicts(t *testing.T) {
	signer := testBeacon(t, testKeyA)
	tok := testToken()
	good := signer.sign(&tok)
	other := testBeacon(t, testKeyB).sign(&tok)

	// Same payload, another subject, the original MAC: the subject is bound.
	moved := tok
	moved.distinctID = "u-2"
	raw, err := beaconEncoding.DecodeString(good)
	require.NoError(t, err)
	rebound := beaconEncoding.EncodeToString(append(moved.appendPayload(nil), raw[len(raw)-beaconMACSize:]...))

	v2 := append([]byte{2}, raw[1:]...)

	tests := []struct {
		name  string
		token string
		now   time.Time
		want  beaconVerdict
	}{
		{"genuine", good, testT0, beaconOK},
		{"at the expiry", good, testT0.Add(DefaultBeaconExpiry), beaconOK},
		{"after the expiry", good, testT0.Add(DefaultBeaconExpiry + time.Millisecond), beaconExpired},
		{"issued within the clock skew", good, testT0.Add(-beaconClockSkew), beaconOK},
		{"issued too far in the future", good, testT0.Add(-beaconClockSkew - time.Millisecond), beaconExpired},
		{"another key", other, testT0, beaconForged},
		{"another subject", rebound, testT0, beaconForged},
		{"unknown version", beaconEncoding.EncodeToString(v2), testT0, beaconMalformed},
		{"truncated", good[:len(good)-3], testT0, beaconMalformed},
		{"padded", good + "==", testT0, beaconMalformed},
		{"with a line break", good[:20] + "\r\n" + good[20:], testT0, beaconMalformed},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+", testT0, beaconMalformed},
		{"empty", "", testT0, beaconMalformed},
		{"too long", strings.Repeat("A", maxBeaconToken+1), testT0, beaconMalformed},
		{"garbage", "not a token", testT0, beaconMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := signer.verify(tc.token, tc.now)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestBeaconKeyRotation(t *testing.T) {
	tok := testToken()
	old := testBeacon(t, testKeyA).sign(&tok)
	rotated := testBeacon(t, testKeyB, testKeyA)
	_, verdict := rotated.verify(old, testT0)
	assert.Equal(t, beaconOK, verdict, "the old key still verifies")
	fresh := rotated.sign(&tok)
	assert.NotEqual(t, old, fresh, "the first key signs")
	_, verdict = testBeacon(t, testKeyB).verify(fresh, testT0)
	assert.Equal(t, beaconOK, verdict)
	_, verdict = testBeacon(t, testKeyA).verify(fresh, testT0)
	assert.Equal(t, beaconForged, verdict, "a retired key no longer verifies")
}

func TestBeaconTokenTooLargeIsNotIssued(t *testing.T) {
	b := testBeacon(t, testKeyA)
	tok := testToken()
	tok.distinctID = strings.Repeat("x", maxBeaconToken)
	assert.Empty(t, b.sign(&tok))
}

func TestParseBeaconTokenRejectsNonCanonicalVarints(t *testing.T) {
	b := testBeacon(t, testKeyA)
	tok := testToken()
	payload := tok.appendPayload(nil)
	// Re-spell "issued" with one redundant continuation byte and sign it:
	// even a validly signed non-canonical token does not parse.
	n := uvarintLen(tok.issuedMS)
	long := binary.AppendUvarint(nil, tok.issuedMS)
	long[n-1] |= 0x80
	long = append(long, 0)
	odd := append(append(append([]byte{}, payload[:1]...), long...), payload[1+n:]...)
	s := beaconEncoding.EncodeToString(b.mac(0, odd, odd))
	_, _, _, err := parseBeaconToken(s)
	assert.ErrorIs(t, err, errBeaconMalformed)
}

// FuzzParseBeaconToken checks the parser on any input: it never panics, it
// accepts only the one canonical spelling of a token, and a token verifies
// only if signing its fields with the key gives it back. The seed corpus
// runs in every `go test`.
func FuzzParseBeaconToken(f *testing.F) {
	b := testBeacon(f, testKeyA)
	tok := testToken()
	good := b.sign(&tok)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:10])
	f.Add(good + "A")
	f.Add(strings.ToUpper(good))
	f.Add("")
	f.Add("AQ")
	f.Add("AQAA")
	f.Add(beaconEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 64)))
	f.Add(beaconEncoding.EncodeToString(append([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}, make([]byte, 40)...)))
	empty := beaconToken{}
	f.Add(b.sign(&empty))
	f.Add(testBeacon(f, testKeyB).sign(&tok))

	f.Fuzz(func(t *testing.T, s string) {
		got, payload, mac, err := parseBeaconToken(s)
		if err != nil {
			_, verdict := b.verify(s, testT0)
			if verdict != beaconMalformed {
				t.Fatalf("parse failed but verify said %v", verdict)
			}
			return
		}
		// Canonical: re-encoding the parsed token spells the input.
		if re := beaconEncoding.EncodeToString(append(got.appendPayload(nil), mac...)); re != s {
			t.Fatalf("not canonical: %q parsed and re-encoded as %q", s, re)
		}
		if !bytes.Equal(payload, got.appendPayload(nil)) {
			t.Fatalf("payload %x differs from the parsed fields", payload)
		}
		issued := time.UnixMilli(int64(got.issuedMS))
		_, verdict := b.verify(s, issued)
		if verdict == beaconOK && b.sign(&got) != s {
			t.Fatalf("verified a token the key did not sign: %q", s)
		}
		if verdict == beaconMalformed {
			t.Fatalf("parsed but verify said malformed: %q", s)
		}
	})
}

// FuzzBeaconTokenTamper flips bits of a genuine token: no change of any
// bit verifies.
func FuzzBeaconTokenTamper(f *testing.F) {
	b := testBeacon(f, testKeyA)
	tok := testToken()
	raw, err := beaconEncoding.DecodeString(b.sign(&tok))
	require.NoError(f, err)
	for _, pos := range []uint{0, 1, 5, 12, 30, uint(len(raw) - beaconMACSize), uint(len(raw) - 1)} {
		f.Add(pos, byte(1))
		f.Add(pos, byte(0x80))
	}
	f.Fuzz(func(t *testing.T, pos uint, flip byte) {
		if flip == 0 {
			return
		}
		mutated := append([]byte(nil), raw...)
		mutated[pos%uint(len(mutated))] ^= flip
		if _, verdict := b.verify(beaconEncoding.EncodeToString(mutated), testT0); verdict == beaconOK {
			t.Fatalf("a token with byte %d xor %#x verified", pos%uint(len(mutated)), flip)
		}
	})
}
