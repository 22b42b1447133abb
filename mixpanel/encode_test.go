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
