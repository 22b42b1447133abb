package mixpaneltest

import (
	"bytes"
	"encoding/json"
)

// A small scanner over JSON already checked by json.Valid, so that the
// fake can split and inspect hundreds of thousands of events a second
// without building a map per event. Its input is always valid JSON.

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// splitArray returns the elements of the JSON array b, as sub-slices.
func splitArray(b []byte) []json.RawMessage {
	var out []json.RawMessage
	i := skipWS(b, 0) + 1 // '['
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] == ']' {
			return out
		}
		end := skipValue(b, i)
		out = append(out, json.RawMessage(b[i:end]))
		i = skipWS(b, end)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
}

// members iterates over the members of the object starting at b[i] == '{'
// without allocating.
type members struct {
	b []byte
	i int
}

func newMembers(b []byte, i int) members { return members{b, i + 1} }

// next returns the raw key (quotes included) and raw value of the next
// member; ok is false at the end of the object.
func (m *members) next() (key, val []byte, ok bool) {
	b := m.b
	i := skipWS(b, m.i)
	if i >= len(b) || b[i] == '}' {
		return nil, nil, false
	}
	kEnd := skipString(b, i)
	key = b[i:kEnd]
	i = skipWS(b, kEnd) + 1 // ':'
	i = skipWS(b, i)
	vEnd := skipValue(b, i)
	val = b[i:vEnd]
	i = skipWS(b, vEnd)
	if i < len(b) && b[i] == ',' {
		i++
	}
	m.i = i
	return key, val, true
}

// str decodes a raw JSON string; ok is false for any other value.
func str(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	return s, json.Unmarshal(raw, &s) == nil
}

// keyIs reports whether the raw key decodes to name.
func keyIs(raw []byte, name string) bool {
	if len(raw) == len(name)+2 && string(raw[1:len(raw)-1]) == name {
		return true
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return false
	}
	s, _ := str(raw)
	return s == name
}

// wireEvent is what validation needs of one event.
type wireEvent struct {
	event, properties                []byte // raw values; nil when absent
	nprops                           int
	time, distinctID, insertID, tokn []byte
	// longName is the first property name over MaxPropertyNameBytes
	// (decoded); nil when there is none.
	longName []byte
}

func scanEvent(raw []byte) (w wireEvent, object bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return w, false
	}
	for m := newMembers(raw, i); ; {
		key, val, ok := m.next()
		if !ok {
			break
		}
		switch {
		case keyIs(key, "event"):
			w.event = val
		case keyIs(key, "properties"):
			w.properties = val
		}
	}
	if len(w.properties) > 0 && w.properties[0] == '{' {
		for m := newMembers(w.properties, 0); ; {
			key, val, ok := m.next()
			if !ok {
				break
			}
			w.nprops++
			// A decoded name is never longer than its JSON: decode only
			// those that may be over.
			if w.longName == nil && len(key)-2 > MaxPropertyNameBytes {
				if name, ok := str(key); ok && len(name) > MaxPropertyNameBytes {
					w.longName = key
				}
			}
			switch {
			case keyIs(key, "time"):
				w.time = val
			case keyIs(key, "distinct_id"):
				w.distinctID = val
			case keyIs(key, "$insert_id"):
				w.insertID = val
			case keyIs(key, "token"):
				w.tokn = val
			}
		}
	}
	return w, true
}
