package exposure

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// maxNameBytes is Mixpanel's limit on a string property value.
const maxNameBytes = 255

// Experiment registers a flag as an experiment. Registry names are
// canonical: they are what Mixpanel shows as "Experiment name".
type Experiment struct {
	// FlagKey is the OpenFeature flag key.
	FlagKey string
	// Name is the Mixpanel "Experiment name".
	Name string
	// Variants maps a provider variant (or a value's string form) to the
	// Mixpanel "Variant name". Optional: unmapped variants keep their own name.
	Variants map[string]string
	// Weights is the expected split by variant name, for the sample-ratio
	// check. Optional: an equal split is expected when absent.
	Weights map[string]float64
}

// registry is the validated, read-only set of experiments of a Tracker.
type registry struct {
	byFlag map[string]*Experiment
	list   []Experiment // in registration order
}

// normalizeName folds the differences New refuses to tell apart in
// experiment names: case, spaces, dashes and underscores.
func normalizeName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == '_' || unicode.IsSpace(r):
			return -1
		default:
			return unicode.ToLower(r)
		}
	}, name)
}

func newRegistry(exps []Experiment) (*registry, error) {
	reg := &registry{byFlag: make(map[string]*Experiment, len(exps))}
	byNorm := make(map[string]string, len(exps))
	for i := range exps {
		e := exps[i]
		switch {
		case e.FlagKey == "":
			return nil, fmt.Errorf("%w: experiment %q has an empty FlagKey", ErrInvalidConfig, e.Name)
		case strings.TrimSpace(e.Name) == "":
			return nil, fmt.Errorf("%w: experiment for flag %q has an empty Name", ErrInvalidConfig, e.FlagKey)
		case len(e.Name) > maxNameBytes:
			return nil, fmt.Errorf("%w: experiment name %.40q... is %d bytes, over Mixpanel's %d", ErrInvalidConfig, e.Name, len(e.Name), maxNameBytes)
		}
		if _, dup := reg.byFlag[e.FlagKey]; dup {
			return nil, fmt.Errorf("%w: flag %q is registered twice", ErrInvalidConfig, e.FlagKey)
		}
		norm := normalizeName(e.Name)
		if prev, dup := byNorm[norm]; dup {
			return nil, fmt.Errorf("%w: experiment names %q and %q differ only in case, spaces, dashes or underscores", ErrInvalidConfig, prev, e.Name)
		}
		byNorm[norm] = e.Name
		for from, to := range e.Variants {
			if strings.TrimSpace(to) == "" || len(to) > maxNameBytes {
				return nil, fmt.Errorf("%w: experiment %q maps variant %q to an empty or over-long name", ErrInvalidConfig, e.Name, from)
			}
		}
		for v, w := range e.Weights {
			if !(w > 0) {
				return nil, fmt.Errorf("%w: experiment %q has a non-positive weight %v for variant %q", ErrInvalidConfig, e.Name, w, v)
			}
		}
		reg.byFlag[e.FlagKey] = &e
		reg.list = append(reg.list, e)
	}
	return reg, nil
}

// variantName returns the Mixpanel "Variant name" of an evaluation: the
// registry's mapping of the provider's variant (or of the metadata's
// variant), else that variant, else the value's string form.
func (e *Experiment) variantName(metaVariant, variant string, value any) string {
	raw := metaVariant
	if raw == "" {
		raw = variant
	}
	if raw == "" {
		raw = valueString(value)
	}
	if e != nil && e.Variants != nil {
		if name, ok := e.Variants[raw]; ok {
			return name
		}
		if name, ok := e.Variants[variant]; ok {
			return name
		}
	}
	return raw
}

func valueString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}
