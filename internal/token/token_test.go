package token

// Tests of the token format, inside the package: they build tokens with
// chosen issue times and fields, and spell non-canonical ones.

import (
	"bytes"
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
	c, err := NewCodec(keys, testExpiry)
	require.NoError(t, err)
	return c
}

func testToken() Token {
	return Token{
		IssuedMS: uint64(testT0.UnixMilli()), AgeMS: 250,
		FlagKey: "accessories", Experiment: "Accessories Panel", Variant: "Carousel",
		DistinctID: "u-1", UserID: "u-1", DeviceID: "d-9",
		TargetingKey: "u-1", Reason: "SPLIT",
	}
}

func TestNewCodecRefusesBadConfiguration(t *testing.T) {
	secret := bytes.Repeat([]byte("s3cr3t!"), 4) // 28 bytes
	tests := []struct {
		name   string
		keys   [][]byte
		expiry time.Duration
		want   string
	}{
		{"no key", nil, time.Hour, "no key"},
		{"short key", [][]byte{testKeyA, secret}, time.Hour, "key 1 is 28 bytes; each key needs at least 32"},
		{"zero expiry", [][]byte{testKeyA}, 0, "expiry must be positive"},
		{"negative expiry", [][]byte{testKeyA}, -time.Second, "expiry must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCodec(tc.keys, tc.expiry)
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
	rebound := encoding.EncodeToString(append(moved.appendPayload(nil), raw[len(raw)-macSize:]...))

	v2 := append([]byte{2}, raw[1:]...)

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
		{"unknown version", encoding.EncodeToString(v2), testT0, Malformed},
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
	payload := tok.appendPayload(nil)
	// Re-spell "issued" with one redundant continuation byte and sign it:
	// even a validly signed non-canonical token does not parse.
	n := uvarintLen(tok.IssuedMS)
	long := binary.AppendUvarint(nil, tok.IssuedMS)
	long[n-1] |= 0x80
	long = append(long, 0)
	odd := append(append(append([]byte{}, payload[:1]...), long...), payload[1+n:]...)
	s := encoding.EncodeToString(c.appendMAC(0, odd, odd))
	_, _, _, err := parse(s)
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
			raw := tok.appendPayload(nil)
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

// FuzzParse checks the parser on any input: it never panics, it accepts
// only the one canonical spelling of a token, and a token verifies only if
// signing its fields with the key gives it back. The seed corpus runs in
// every `go test`.
func FuzzParse(f *testing.F) {
	c := testCodec(f, testKeyA)
	tok := testToken()
	good := c.Sign(&tok)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:10])
	f.Add(good + "A")
	f.Add(strings.ToUpper(good))
	f.Add("")
	f.Add("AQ")
	f.Add("AQAA")
	f.Add(encoding.EncodeToString(bytes.Repeat([]byte{0xff}, 64)))
	f.Add(encoding.EncodeToString(append([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}, make([]byte, 40)...)))
	empty := Token{}
	f.Add(c.Sign(&empty))
	f.Add(testCodec(f, testKeyB).Sign(&tok))

	f.Fuzz(func(t *testing.T, s string) {
		got, payload, mac, err := parse(s)
		if err != nil {
			if _, verdict := c.Verify(s, testT0); verdict != Malformed {
				t.Fatalf("parse failed but Verify said %v", verdict)
			}
			return
		}
		// Canonical: re-encoding the parsed token spells the input.
		if re := encoding.EncodeToString(append(got.appendPayload(nil), mac...)); re != s {
			t.Fatalf("not canonical: %q parsed and re-encoded as %q", s, re)
		}
		if !bytes.Equal(payload, got.appendPayload(nil)) {
			t.Fatalf("payload %x differs from the parsed fields", payload)
		}
		_, verdict := c.Verify(s, got.Issued())
		if verdict == OK && c.Sign(&got) != s {
			t.Fatalf("verified a token the key did not sign: %q", s)
		}
		if verdict == Malformed {
			t.Fatalf("parsed but Verify said malformed: %q", s)
		}
	})
}

// FuzzTamper flips bits of a genuine token: no change of any bit verifies.
func FuzzTamper(f *testing.F) {
	c := testCodec(f, testKeyA)
	tok := testToken()
	raw, err := encoding.DecodeString(c.Sign(&tok))
	require.NoError(f, err)
	for _, pos := range []uint{0, 1, 5, 12, 30, uint(len(raw) - macSize), uint(len(raw) - 1)} {
		f.Add(pos, byte(1))
		f.Add(pos, byte(0x80))
	}
	f.Fuzz(func(t *testing.T, pos uint, flip byte) {
		if flip == 0 {
			return
		}
		mutated := append([]byte(nil), raw...)
		mutated[pos%uint(len(mutated))] ^= flip
		if _, verdict := c.Verify(encoding.EncodeToString(mutated), testT0); verdict == OK {
			t.Fatalf("a token with byte %d xor %#x verified", pos%uint(len(mutated)), flip)
		}
	})
}
