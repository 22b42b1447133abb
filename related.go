package exposure

import (
	"strconv"
	"strings"
)

// withRelated adds to a (the evaluation's own assignment, or an empty one
// with only the evaluation's fields when the subject is outside the flag's
// own experiment) the numbered experiments of the metadata that the
// subject is in. When a has no variant, the first of them takes its place.
func withRelated(a Assignment, meta map[string]any) Assignment {
	var related []Assignment
	for n := 1; ; n++ {
		prefix := metadataNumberedPrefix + strconv.Itoa(n) + "."
		name, ok := meta[prefix+"name"].(string)
		if !ok {
			break
		}
		if in, says := meta[prefix+"inExperiment"].(bool); says && !in {
			continue
		}
		variant, _ := meta[prefix+"variant"].(string)
		if name == "" || variant == "" {
			continue
		}
		r := a
		r.Experiment, r.Variant, r.ProviderVariant = name, variant, variant
		r.Properties = propertiesOf(meta, prefix+"property.")
		r.Related = nil
		related = append(related, r)
	}
	if a.Variant == "" {
		if len(related) == 0 {
			return a
		}
		a, related = related[0], related[1:]
	}
	if len(related) > 0 {
		a.Related = related
	}
	return a
}

// propertiesOf collects the event properties under prefix in a flag's
// metadata, or nil when there are none. Integers become int64 and float32
// becomes float64, so that sinks see four types only.
func propertiesOf(meta map[string]any, prefix string) map[string]any {
	var props map[string]any
	for k, v := range meta {
		name, ok := strings.CutPrefix(k, prefix)
		if !ok || name == "" {
			continue
		}
		switch x := v.(type) {
		case string, bool, int64, float64:
		case int:
			v = int64(x)
		case int32:
			v = int64(x)
		case float32:
			v = float64(x)
		default:
			continue
		}
		if props == nil {
			props = make(map[string]any)
		}
		props[name] = v
	}
	return props
}
