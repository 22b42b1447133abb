package token

import (
	"encoding/binary"
	"slices"
)

// Version 5 adds, between the fields and the attributes, the event
// properties of the assignment and the other assignments of the same
// evaluation (see the package documentation). Their budget comes before
// the attributes': a property ends up in the event a sink sends, a
// related assignment is an exposure of its own, while an attribute only
// refines what a vendor sink evaluates again.

// appendAssignments appends the property block and the related block of
// a version-5 token to b, in at most budget bytes less one (kept for the
// count of the attribute block). It returns the budget left for the
// attribute block, and what it left out: whole related assignments that
// did not fit, in order, then, in key order, each property that did not
// fit in what was left (the token's own first, then those of each related
// assignment kept) or whose value is not a string, bool, int64 or
// float64. ok is false only when not even the counts fit.
func appendAssignments(b []byte, t *Token, budget int) (_ []byte, left int, d Dropped, ok bool) {
	// The counts of all, their longest spellings, and the attribute
	// block's count of none.
	reserve := uvarintLen(uint64(len(t.Properties))) + uvarintLen(uint64(len(t.Related))) + 1
	if budget < reserve {
		return b, 0, d, false
	}
	room := budget - reserve
	var keep []bool
	if len(t.Related) > 0 {
		keep = make([]bool, len(t.Related))
		for i := range t.Related {
			r := &t.Related[i]
			n := stringLen(r.Experiment) + stringLen(r.Variant) + stringLen(encodedProviderVariant(r)) +
				uvarintLen(uint64(len(r.Properties)))
			if n > room {
				d.Related++
				continue
			}
			keep[i] = true
			room -= n
		}
	}
	own, dropped := selectProperties(t.Properties, &room)
	d.Properties += dropped
	var kept [][]string
	if len(t.Related) > 0 {
		kept = make([][]string, len(t.Related))
		for i := range t.Related {
			if keep[i] {
				kept[i], dropped = selectProperties(t.Related[i].Properties, &room)
				d.Properties += dropped
			}
		}
	}
	start := len(b)
	b = appendProperties(b, t.Properties, own)
	b = binary.AppendUvarint(b, uint64(len(t.Related)-d.Related))
	for i := range t.Related {
		if !keep[i] {
			continue
		}
		r := &t.Related[i]
		b = appendString(b, r.Experiment)
		b = appendString(b, r.Variant)
		b = appendString(b, encodedProviderVariant(r))
		b = appendProperties(b, r.Properties, kept[i])
	}
	return b, budget - (len(b) - start), d, true
}

// encodedProviderVariant is the provider variant of r as it travels: ""
// when it is the variant.
func encodedProviderVariant(r *Related) string {
	if r.ProviderVariant == r.Variant {
		return ""
	}
	return r.ProviderVariant
}

// selectProperties returns the keys of props, in order, whose entries fit
// in *room, each whole, and takes their size from it; dropped counts the
// others (too large, or of a type a property cannot have).
func selectProperties(props map[string]any, room *int) (keys []string, dropped int) {
	if len(props) == 0 {
		return nil, 0
	}
	keys = make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kept := keys[:0]
	for _, k := range keys {
		n, ok := propertyLen(k, props[k])
		if !ok || n > *room {
			dropped++
			continue
		}
		*room -= n
		kept = append(kept, k)
	}
	return kept, dropped
}

// propertyLen is the encoded length of the property k: v, or false for a
// value that is not a string, bool, int64 or float64.
func propertyLen(k string, v any) (int, bool) {
	n := stringLen(k) + 1 // key, kind
	switch x := v.(type) {
	case bool:
	case string:
		n += stringLen(x)
	case int64:
		n += uvarintLen(uint64(x<<1) ^ uint64(x>>63)) // zig-zag, as binary.AppendVarint
	case float64:
		n += 8
	default:
		return 0, false
	}
	return n, true
}

// appendProperties appends the property block of props holding keys
// (sorted, each of a property type) to b.
func appendProperties(b []byte, props map[string]any, keys []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b, _ = appendAttribute(b, k, props[k])
	}
	return b
}

// appendString appends s with its uvarint length.
func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// stringLen is the encoded length of s: its uvarint length and its bytes.
func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

// parseAssignments parses the property block and the related block of a
// version-5 token at the start of b into t, and returns the rest.
func parseAssignments(t *Token, b []byte) ([]byte, error) {
	props, rest, err := parseBlock(b, true)
	if err != nil {
		return nil, err
	}
	t.Properties = props
	count, n := binary.Uvarint(rest)
	// Each related assignment takes at least 4 bytes: three empty
	// strings and a count of no property.
	if n <= 0 || n != uvarintLen(count) || count > uint64(len(rest)-n)/4 {
		return nil, errMalformed
	}
	rest = rest[n:]
	if count == 0 {
		return rest, nil
	}
	t.Related = make([]Related, count)
	for i := range t.Related {
		r := &t.Related[i]
		var s [3]string
		for j := range s {
			l, n := binary.Uvarint(rest)
			if n <= 0 || n != uvarintLen(l) || l > uint64(len(rest)-n) {
				return nil, errMalformed
			}
			s[j] = string(rest[n : n+int(l)])
			rest = rest[n+int(l):]
		}
		r.Experiment, r.Variant, r.ProviderVariant = s[0], s[1], s[2]
		switch {
		case r.ProviderVariant == "":
			r.ProviderVariant = r.Variant
		case r.ProviderVariant == r.Variant: // one spelling: the same travels as ""
			return nil, errMalformed
		}
		if r.Properties, rest, err = parseBlock(rest, true); err != nil {
			return nil, err
		}
	}
	return rest, nil
}
