package bench

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countEvents counts the elements of a JSON array of objects: the whole
// body when key is "", else the top-level object's member key. With a
// marker, only elements containing it count. It checks the structure as it
// goes (strings, escapes, nesting) without building values, so that the
// loopback server keeps up with every pipeline.
func countEvents(body []byte, key string, marker []byte) (int, error) {
	i := skipSpace(body, 0)
	if key != "" {
		if i >= len(body) || body[i] != '{' {
			return 0, errors.New("body is not a JSON object")
		}
		i++
		for {
			i = skipSpace(body, i)
			if i >= len(body) || body[i] != '"' {
				return 0, fmt.Errorf("member %q not found", key)
			}
			end, err := skipString(body, i)
			if err != nil {
				return 0, err
			}
			name := body[i+1 : end-1]
			i = skipSpace(body, end)
			if i >= len(body) || body[i] != ':' {
				return 0, fmt.Errorf("expected ':' at %d", i)
			}
			i = skipSpace(body, i+1)
			if string(name) == key {
				break
			}
			if i, err = skipValue(body, i); err != nil {
				return 0, err
			}
			i = skipSpace(body, i)
			if i < len(body) && body[i] == ',' {
				i++
			}
		}
	}
	if i >= len(body) || body[i] != '[' {
		return 0, errors.New("events are not a JSON array")
	}
	i++
	n := 0
	for {
		i = skipSpace(body, i)
		if i >= len(body) {
			return 0, errors.New("unterminated array")
		}
		if body[i] == ']' {
			return n, nil
		}
		if body[i] != '{' {
			return 0, fmt.Errorf("array element at %d is not an object", i)
		}
		end, err := skipValue(body, i)
		if err != nil {
			return 0, err
		}
		if marker == nil || bytes.Contains(body[i:end], marker) {
			n++
		}
		i = skipSpace(body, end)
		if i < len(body) && body[i] == ',' {
			i++
		} else if i >= len(body) || body[i] != ']' {
			return 0, fmt.Errorf("expected ',' or ']' at %d", i)
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing value")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("unterminated object or array")
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("unexpected %q at %d", b[i], i)
		}
		return j, nil
	}
}

func TestCountEvents(t *testing.T) {
	custom := []byte(`"kind":"custom"`)
	tests := []struct {
		name    string
		body    string
		key     string
		marker  []byte
		want    int
		wantErr bool
	}{
		{"top-level array", `[{"event":"a","properties":{"x":[1,2,{"y":"]}"}]}},{"event":"b"}]`, "", nil, 2, false},
		{"empty array", ` [ ] `, "", nil, 0, false},
		{"member array after others", `{"api_key":"k[,]","n":{"a":[1]},"batch":[{"e":"\"}"},{"e":2}],"x":1}`, "batch", nil, 2, false},
		{"marker filters elements", `[{"kind":"index"},{"kind":"custom","data":{"kind":"index"}},{"kind":"custom"}]`, "", custom, 2, false},
		{"member missing", `{"other":[{}]}`, "batch", nil, 0, true},
		{"element not an object", `[{"a":1},2]`, "", nil, 0, true},
		{"unterminated", `[{"a":"b"}`, "", nil, 0, true},
		{"unterminated string", `[{"a":"b}]`, "", nil, 0, true},
		{"not an array", `{"batch":{}}`, "batch", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := countEvents([]byte(tt.body), tt.key, tt.marker)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
