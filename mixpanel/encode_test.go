package mixpanel

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendStringIsValidJSON(t *testing.T) {
	cases := map[string]struct {
		in, want string // want: what encoding/json decodes
	}{
		"plain":            {"Checkout Redesign", "Checkout Redesign"},
		"empty":            {"", ""},
		"quote, backslash": {`a"b\c`, `a"b\c`},
		"controls":         {"a\nb\rc\td\x00e\x1f\x7f", "a\nb\rc\td\x00e\x1f\x7f"},
		"html kept":        {"<b>&</b>", "<b>&</b>"},
		"multibyte":        {"Größe 日本 🎉", "Größe 日本 🎉"},
		"invalid utf8":     {"a\xffb\xc3", "a\ufffdb\ufffd"},
		"line separators":  {"a\u2028b\u2029c", "a\u2028b\u2029c"},
		"go-only escapes":  {"\a\v", "\a\v"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := appendString(nil, tc.in)
			require.True(t, json.Valid(b), "not valid JSON: %s", b)
			var got string
			require.NoError(t, json.Unmarshal(b, &got))
			assert.Equal(t, tc.want, got)
			assert.NotContains(t, string(b), `\x`, "Go escapes are not JSON")
		})
	}
	// Escapes are exactly those JSON needs, byte for byte.
	assert.Equal(t, `"a\"b\\c\n\u0000\u2028"`, string(appendString(nil, "a\"b\\c\n\x00\u2028")))
}

func TestCutOnUTF8Boundary(t *testing.T) {
	ascii := strings.Repeat("a", 300)
	assert.Len(t, cut(ascii), MaxStringBytes)
	assert.Equal(t, "short", cut("short"))
	assert.Equal(t, strings.Repeat("x", 255), cut(strings.Repeat("x", 255)))
	for pad := 0; pad < 4; pad++ {
		// A 4-byte rune straddling byte 255 at every offset is dropped whole.
		s := strings.Repeat("a", 253-pad) + strings.Repeat("🎉", 3)
		got := cut(s)
		assert.LessOrEqual(t, len(got), MaxStringBytes)
		assert.True(t, utf8.ValidString(got), "pad %d: cut inside a rune", pad)
		assert.Greater(t, len(got), MaxStringBytes-utf8.UTFMax)
	}
}

// readLen is the length in bytes of s as Mixpanel reads it: appendString's
// JSON, decoded.
func readLen(t *testing.T, s string) int {
	t.Helper()
	var got string
	require.NoError(t, json.Unmarshal(appendString(nil, s), &got))
	return len(got)
}

func TestCutMeasuresAfterReplacement(t *testing.T) {
	cases := map[string]struct {
		in, want string
	}{
		"85 invalid bytes fit":        {strings.Repeat("\xff", 85), strings.Repeat("\xff", 85)},
		"86 invalid bytes do not":     {strings.Repeat("\xff", 86), strings.Repeat("\xff", 85)},
		"100 invalid bytes":           {strings.Repeat("\xff", 100), strings.Repeat("\xff", 85)},
		"255 invalid bytes":           {strings.Repeat("\xfe", 255), strings.Repeat("\xfe", 85)},
		"invalid after ascii":         {strings.Repeat("a", 250) + "\xff\xff", strings.Repeat("a", 250) + "\xff"},
		"invalid at the end, fits":    {strings.Repeat("a", 252) + "\xff", strings.Repeat("a", 252) + "\xff"},
		"invalid at the end, no room": {strings.Repeat("a", 253) + "\xff", strings.Repeat("a", 253)},
		"truncated rune is invalid":   {strings.Repeat("a", 100) + "\xe6\x97", strings.Repeat("a", 100) + "\xe6\x97"},
		"valid, 255 bytes":            {strings.Repeat("日", 85), strings.Repeat("日", 85)},
		"valid, straddling":           {"a" + strings.Repeat("日", 85), "a" + strings.Repeat("日", 84)},
		"stray continuation bytes":    {strings.Repeat("0", 252) + "\xb7\xb7\xb7\xb7", strings.Repeat("0", 252) + "\xb7"},
		"rune, stray byte fits":       {strings.Repeat("0", 249) + "日\xb7\xb7", strings.Repeat("0", 249) + "日\xb7"},
		"rune, stray byte does not":   {strings.Repeat("0", 250) + "日\xb7\xb7\xb7", strings.Repeat("0", 250) + "日"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := cut(tc.in)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, readLen(t, got), MaxStringBytes)
		})
	}
}

// FuzzCut checks cut's contract on any bytes: a prefix of s, at most
// MaxStringBytes as Mixpanel reads it, read as a prefix of s as read, and
// as long as the limit allows.
func FuzzCut(f *testing.F) {
	for _, s := range []string{"", "short", strings.Repeat("\xff", 100), strings.Repeat("a\xff日🎉", 80), strings.Repeat("é", 200), strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := cut(s)
		require.True(t, strings.HasPrefix(s, got))
		n := readLen(t, got)
		assert.LessOrEqual(t, n, MaxStringBytes)
		var whole, part string
		require.NoError(t, json.Unmarshal(appendString(nil, s), &whole))
		require.NoError(t, json.Unmarshal(appendString(nil, got), &part))
		assert.True(t, strings.HasPrefix(whole, part), "cut inside a rune")
		if got != s {
			// The next rune, or byte that is not UTF-8, would not fit.
			_, size := utf8.DecodeRuneInString(s[len(got):])
			assert.Greater(t, readLen(t, s[:len(got)+size]), MaxStringBytes, "cut shorter than needed")
		}
	})
}
