package token

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
)

// The kinds of attribute values in a version-4 token (see the package
// documentation).
const (
	kindNil byte = iota
	kindFalse
	kindTrue
	kindString
	kindInt
	kindInt64
	kindFloat64
	kindJSON
)

// appendAttribute appends one attribute, key and value, to b; false for a
// value JSON cannot encode.
func appendAttribute(b []byte, key string, v any) ([]byte, bool) {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	switch x := v.(type) {
	case nil:
		return append(b, kindNil), true
	case bool:
		if x {
			return append(b, kindTrue), true
		}
		return append(b, kindFalse), true
	case string:
		b = append(b, kindString)
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...), true
	case int:
		return binary.AppendVarint(append(b, kindInt), int64(x)), true
	case int64:
		return binary.AppendVarint(append(b, kindInt64), x), true
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, kindFloat64), math.Float64bits(x)), true
	}
	j, ok := canonicalJSON(v)
	if !ok {
		return b, false
	}
	b = append(b, kindJSON)
	b = binary.AppendUvarint(b, uint64(len(j)))
	return append(b, j...), true
}

// canonicalJSON is the JSON of v as it comes back: encoded, decoded into
// an any and encoded again, so that a struct's fields are sorted like a
// map's keys and a token has one spelling.
func canonicalJSON(v any) ([]byte, bool) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	var back any
	if json.Unmarshal(j, &back) != nil {
		return nil, false
	}
	if j, err = json.Marshal(back); err != nil {
		return nil, false
	}
	return j, true
}

// appendAttributes appends the attribute block of attrs to b in at most
// budget bytes: the attributes in key order, each whole, skipping those
// that do not fit in what is left or that JSON cannot encode. It returns
// how many it left out. budget must be at least 1 (the count of none).
func appendAttributes(b []byte, attrs map[string]any, budget int) ([]byte, int) {
	if len(attrs) == 0 {
		return append(b, 0), 0
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// Room for the count: its longest spelling, the count of all.
	budget -= uvarintLen(uint64(len(keys)))
	at := len(b)
	// The entries go after a gap for the count, which is known last.
	gap := uvarintLen(uint64(len(keys)))
	b = append(b, make([]byte, gap)...)
	kept, dropped := 0, 0
	used := 0
	for _, k := range keys {
		start := len(b)
		var ok bool
		b, ok = appendAttribute(b, k, attrs[k])
		if !ok || used+len(b)-start > budget {
			b = b[:start]
			dropped++
			continue
		}
		used += len(b) - start
		kept++
	}
	// Write the count, shortest form, and close the gap.
	var cnt [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(cnt[:], uint64(kept))
	copy(b[at:], cnt[:n])
	b = append(b[:at+n], b[at+gap:]...)
	return b, dropped
}

// parseAttributes parses the attribute block that b must be exactly: nil
// for none.
func parseAttributes(b []byte) (map[string]any, error) {
	attrs, rest, err := parseBlock(b, false)
	if err != nil || len(rest) != 0 {
		return nil, errMalformed
	}
	return attrs, nil
}

// parseBlock parses the block of attributes, or of properties, at the
// start of b: nil for none. A property block admits only the kinds of a
// property: false, true, string, int64 and float64.
func parseBlock(b []byte, properties bool) (_ map[string]any, rest []byte, _ error) {
	rest = b
	uvarint := func() (uint64, bool) {
		x, n := binary.Uvarint(rest)
		if n <= 0 || n != uvarintLen(x) {
			return 0, false
		}
		rest = rest[n:]
		return x, true
	}
	bytesOf := func() ([]byte, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(rest)) {
			return nil, false
		}
		s := rest[:n]
		rest = rest[n:]
		return s, true
	}
	count, ok := uvarint()
	// Each attribute takes at least 2 bytes (an empty key and a kind).
	if !ok || count > uint64(len(rest))/2 {
		return nil, nil, errMalformed
	}
	if count == 0 {
		return nil, rest, nil
	}
	attrs := make(map[string]any, count)
	var prev []byte
	for i := range count {
		key, ok := bytesOf()
		if !ok || len(rest) < 1 || (i > 0 && string(key) <= string(prev)) { // sorted, unique
			return nil, nil, errMalformed
		}
		prev = key
		kind := rest[0]
		rest = rest[1:]
		if properties && (kind == kindNil || kind == kindInt || kind == kindJSON) {
			return nil, nil, errMalformed
		}
		var v any
		switch kind {
		case kindNil:
		case kindFalse:
			v = false
		case kindTrue:
			v = true
		case kindString:
			s, ok := bytesOf()
			if !ok {
				return nil, nil, errMalformed
			}
			v = string(s)
		case kindInt, kindInt64:
			x, n := binary.Varint(rest)
			if n <= 0 || n != len(binary.AppendVarint(nil, x)) {
				return nil, nil, errMalformed
			}
			rest = rest[n:]
			if kind == kindInt64 {
				v = x
			} else {
				if int64(int(x)) != x { // a 64-bit int on a 32-bit platform
					return nil, nil, errMalformed
				}
				v = int(x)
			}
		case kindFloat64:
			if len(rest) < 8 {
				return nil, nil, errMalformed
			}
			v = math.Float64frombits(binary.LittleEndian.Uint64(rest))
			rest = rest[8:]
		case kindJSON:
			j, ok := bytesOf()
			if !ok || json.Unmarshal(j, &v) != nil {
				return nil, nil, errMalformed
			}
			if re, err := json.Marshal(v); err != nil || string(re) != string(j) { // one spelling
				return nil, nil, errMalformed
			}
		default:
			return nil, nil, errMalformed
		}
		attrs[string(key)] = v
	}
	return attrs, rest, nil
}
