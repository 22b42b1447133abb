package token

// Tests of version 5's event properties and related assignments.

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// propertiesToken is typicalToken with properties of every type and a
// holdout around its experiment.
func propertiesToken() Token {
	tok := typicalToken()
	tok.Properties = map[string]any{
		"$experiment_id": "exp-42", "empty": "", "on": true, "off": false,
		"zero": int64(0), "min": int64(math.MinInt64), "max": int64(math.MaxInt64), "neg": int64(-3),
		"ratio": 0.25, "whole float": 2.0, "negative zero": math.Copysign(0, -1), "huge": math.MaxFloat64,
	}
	tok.Related = []Related{
		{Experiment: "Holdout 2026", Variant: "in", ProviderVariant: "in",
			Properties: map[string]any{"$experiment_id": "hold-1", "layer": int64(2)}},
		{Experiment: "Renamed", Variant: "Control", ProviderVariant: "control"},
	}
	return tok
}

// Properties and related assignments come back exactly: every value of
// the type it went in with (an int64 stays an int64, a whole float64 stays
// a float64, -0 keeps its sign), the provider variant of a related
// assignment whether it is its variant or not.
func TestPropertiesRoundTrip(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := propertiesToken()
	s, dropped, ok := c.AppendSign(nil, &tok)
	require.True(t, ok)
	assert.Zero(t, dropped)
	t.Logf("a token with %d properties, %d related assignments and %d attributes is %d characters",
		len(tok.Properties), len(tok.Related), len(tok.Attributes), len(s))
	got, verdict := c.Verify(string(s), testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, tok, got)
	for k, v := range tok.Properties {
		assert.IsType(t, v, got.Properties[k], "property %q", k)
	}
	assert.True(t, math.Signbit(got.Properties["negative zero"].(float64)), "-0 keeps its sign")
	assert.Equal(t, int64(math.MinInt64), got.Properties["min"])

	// A NaN travels as its bits.
	tok.Properties = map[string]any{"nan": math.NaN()}
	got, verdict = c.Verify(c.Sign(&tok), testT0)
	require.Equal(t, OK, verdict)
	require.IsType(t, float64(0), got.Properties["nan"])
	assert.True(t, math.IsNaN(got.Properties["nan"].(float64)))

	// A related assignment with no provider variant of its own comes back
	// with its variant.
	tok = testToken()
	tok.Related = []Related{{Experiment: "Holdout", Variant: "out"}}
	got, verdict = c.Verify(c.Sign(&tok), testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, []Related{{Experiment: "Holdout", Variant: "out", ProviderVariant: "out"}}, got.Related)
	assert.Nil(t, got.Properties, "no property comes back as nil")
}

// A property of a type a property cannot have is left out and counted.
func TestPropertiesOfOtherTypesAreDropped(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := testToken()
	tok.Properties = map[string]any{"int": 7, "nil": nil, "slice": []string{"a"}, "ok": "yes"}
	tok.Related = []Related{{Experiment: "H", Variant: "in", Properties: map[string]any{"f32": float32(1), "ok": int64(1)}}}
	s, dropped, ok := c.AppendSign(nil, &tok)
	require.True(t, ok)
	assert.Equal(t, Dropped{Properties: 4}, dropped)
	got, verdict := c.Verify(string(s), testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, map[string]any{"ok": "yes"}, got.Properties)
	assert.Equal(t, map[string]any{"ok": int64(1)}, got.Related[0].Properties)
}

// A version-5 token is authenticated as a whole: no bit of it can change,
// its properties and related assignments included, and it does not open
// as version 4.
func TestTamperedVersion5IsRefused(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := propertiesToken()
	raw, err := encoding.DecodeString(c.Sign(&tok))
	require.NoError(t, err)
	require.Equal(t, byte(5), raw[0])
	for pos := range raw {
		for _, flip := range []byte{1, 0x80} {
			mutated := bytes.Clone(raw)
			mutated[pos] ^= flip
			if _, verdict := c.Verify(encoding.EncodeToString(mutated), testT0); verdict == OK {
				t.Fatalf("byte %d xor %#x verified", pos, flip)
			}
		}
	}
	_, verdict := c.Verify(encoding.EncodeToString(append([]byte{4}, raw[1:]...)), testT0)
	assert.Equal(t, Forged, verdict, "relabelled as version 4")
	_, verdict = appCodec(t, "shop", testKeyA).Verify(encoding.EncodeToString(raw), testT0)
	assert.Equal(t, Forged, verdict, "another application")
}

// Version 4, signed by the release before, still verifies: with its
// attributes, and without properties or related assignments.
func TestVersion4StillVerifies(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := typicalToken()
	s := signVersion(t, testKeyA, &tok, 4)
	raw, err := encoding.DecodeString(s)
	require.NoError(t, err)
	require.Equal(t, byte(4), raw[0])
	got, verdict := c.Verify(s, testT0)
	require.Equal(t, OK, verdict)
	assert.Equal(t, tok, got)
	assert.Nil(t, got.Properties)
	assert.Nil(t, got.Related)
}

// What does not fit in MaxLen is left out, whole and counted, in this
// order of priority: related assignments (in order), then the token's own
// properties, then the properties of the related assignments, then the
// attributes, each in key order. The token never passes MaxLen.
func TestPropertiesThatDoNotFitAreDropped(t *testing.T) {
	c := testCodec(t, testKeyA)
	big := func(prefix string, n int) map[string]any {
		m := map[string]any{}
		for i := range n {
			m[prefix+string(rune('a'+i))] = strings.Repeat("v", 250)
		}
		return m
	}
	for _, tc := range []struct {
		name string
		tok  Token
	}{{"typical fields", testToken()}, {"largest fields", largestToken()}} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			tok.Attributes = map[string]any{"segment": strings.Repeat("s", 300)} // larger than a property
			tok.Properties = big("p", 20)                                        // 5 KB: more than fit
			tok.Related = []Related{
				{Experiment: "Holdout", Variant: "in", Properties: big("r", 3)},
				{Experiment: strings.Repeat("e", 255), Variant: strings.Repeat("v", 255), ProviderVariant: strings.Repeat("p", 255)},
			}
			s, dropped, ok := c.AppendSign(nil, &tok)
			require.True(t, ok)
			assert.LessOrEqual(t, len(s), MaxLen)
			got, verdict := c.Verify(string(s), tok.Issued())
			require.Equal(t, OK, verdict)
			assert.Equal(t, len(tok.Related), len(got.Related)+dropped.Related, "every related assignment is kept or counted")
			kept := len(got.Properties)
			for _, r := range got.Related {
				kept += len(r.Properties)
			}
			assert.Equal(t, 20+3, kept+dropped.Properties, "every property is kept or counted")
			assert.Positive(t, dropped.Properties)
			require.NotEmpty(t, got.Related, "the related assignments come before the properties")
			assert.Equal(t, "Holdout", got.Related[0].Experiment)
			for k, v := range got.Properties {
				assert.Equal(t, tok.Properties[k], v, "a kept property is whole")
			}
			// The own properties kept are the first in key order.
			for i := range len(got.Properties) {
				assert.Contains(t, got.Properties, "p"+string(rune('a'+i)))
			}
			if len(got.Properties) < 20 {
				assert.Empty(t, got.Related[0].Properties, "the related assignments' properties come after the token's own")
				assert.Equal(t, 1, dropped.Attributes, "attributes come last")
			}
		})
	}

	// Related assignments that do not fit are dropped whole, in order.
	tok := largestToken()
	for range 16 {
		tok.Related = append(tok.Related, Related{Experiment: strings.Repeat("e", 255), Variant: strings.Repeat("v", 255)})
	}
	s, dropped, ok := c.AppendSign(nil, &tok)
	require.True(t, ok)
	assert.LessOrEqual(t, len(s), MaxLen)
	got, verdict := c.Verify(string(s), tok.Issued())
	require.Equal(t, OK, verdict)
	assert.Positive(t, dropped.Related)
	assert.Len(t, got.Related, 16-dropped.Related)
	assert.Equal(t, 1, len(got.Related), "the largest fields leave room for one related assignment of 255-byte names")
}

// The property and related blocks are parsed strictly too: sorted unique
// keys, only the kinds of a property, one spelling of a related
// assignment's provider variant, no count beyond the bytes.
func TestVersion5BodiesParseStrictly(t *testing.T) {
	c := testCodec(t, testKeyA)
	tok := testToken()
	body := tok.appendBody(nil, assignmentsVersion)
	block := func(entries ...[]byte) []byte {
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
	related := func(exp, variant, pv string, props []byte) []byte {
		b := appendString(nil, exp)
		b = appendString(b, variant)
		b = appendString(b, pv)
		return append(b, props...)
	}
	none := block()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		rest []byte
		want Verdict
	}{
		{"nothing", cat(none, none, none), OK},
		{"properties", cat(block(entry("a", int64(1)), entry("b", "x"), entry("c", 1.5), entry("d", true)), none, none), OK},
		{"a related assignment", cat(none, block(related("H", "in", "", none)), none), OK},
		{"a related assignment, its own provider variant", cat(none, block(related("H", "in", "IN", none)), none), OK},
		{"no blocks", nil, Malformed},
		{"no related block", none, Malformed},
		{"no attribute block", cat(none, none), Malformed},
		{"trailing bytes", cat(none, none, none, []byte{0}), Malformed},
		{"a property nil", cat(block(entry("a", nil)), none, none), Malformed},
		{"a property int", cat(block(entry("a", 1)), none, none), Malformed},
		{"a property JSON", cat(block(entry("a", []int{1})), none, none), Malformed},
		{"properties unsorted", cat(block(entry("b", true), entry("a", true)), none, none), Malformed},
		{"a property twice", cat(block(entry("a", true), entry("a", false)), none, none), Malformed},
		{"the provider variant spelled when it is the variant", cat(none, block(related("H", "in", "in", none)), none), Malformed},
		{"a related count too large", cat(none, []byte{2}, related("H", "in", "", none), none), Malformed},
		{"a related name past the end", cat(none, []byte{1, 9, 'H', 0, 0, 0}, none), Malformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, verdict := c.Verify(sealBodyOf(c, assignmentsVersion, cat(body, tc.rest)), testT0)
			assert.Equal(t, tc.want, verdict)
		})
	}
}

// FuzzSealedVersion5 fuzzes the parser of version 5 behind the AEAD: any
// body the key holder seals either is refused as malformed or opens to a
// token that seals back to the same body.
func FuzzSealedVersion5(f *testing.F) {
	c := testCodec(f, testKeyA)
	encode := func(tok *Token) []byte {
		body := tok.appendBody(nil, assignmentsVersion)
		body, left, dropped, ok := appendAssignments(body, tok, maxRaw)
		require.True(f, ok)
		require.Zero(f, dropped)
		body, _ = appendAttributes(body, tok.Attributes, left)
		return body
	}
	for _, tok := range []Token{propertiesToken(), testToken(), {}} {
		body := encode(&tok)
		f.Add(body)
		f.Add(body[:len(body)-1])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxRaw-sealOverhead {
			return
		}
		got, verdict := c.Verify(sealBodyOf(c, assignmentsVersion, body), testT0)
		switch verdict {
		case Malformed, Expired:
			return
		case OK:
		default:
			t.Fatalf("verdict %v for a body sealed with the key", verdict)
		}
		re := got.appendBody(nil, assignmentsVersion)
		re, left, dropped, ok := appendAssignments(re, &got, maxRaw)
		if !ok || dropped.Any() {
			t.Fatalf("%x opened to a token that does not encode whole", body)
		}
		re, n := appendAttributes(re, got.Attributes, left)
		if n != 0 || !bytes.Equal(re, body) {
			t.Fatalf("not canonical: %x re-encoded as %x", body, re)
		}
	})
}
