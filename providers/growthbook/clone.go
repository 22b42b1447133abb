package growthbook

// cloneJSON returns a deep copy of v, a value decoded from JSON: objects
// (map[string]any) and arrays ([]any) are copied at every level; strings,
// numbers, booleans and nil are returned as they are. The SDK hands out
// the value it keeps with the flag definitions, the same one to every
// evaluation: without the copy, a caller that edits the object it got
// would change what every later caller gets, and race with them.
func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneJSON(e)
		}
		return m
	case []any:
		if x == nil {
			return x
		}
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneJSON(e)
		}
		return s
	}
	return v
}
