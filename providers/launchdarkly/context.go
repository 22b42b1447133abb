package launchdarkly

import (
	"errors"
	"fmt"
	"sort"

	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	"github.com/open-feature/go-sdk/openfeature"
)

// Evaluation-context attributes with a meaning of their own in a
// LaunchDarkly context. Every other attribute becomes a context attribute.
const (
	// AttributeKind is the context kind ("user" when absent). "multi" makes
	// a multi-kind context: each other attribute whose value is a
	// map[string]any is then one context of that kind, with its own "key"
	// (or "targetingKey") and attributes.
	AttributeKind = "kind"
	// AttributeKey is the context key when the targeting key is empty.
	AttributeKey = "key"
	// AttributeName is the context's name (string).
	AttributeName = "name"
	// AttributeAnonymous marks the context anonymous (bool).
	AttributeAnonymous = "anonymous"
	// AttributePrivate lists attributes to keep out of events
	// ([]string or []any of strings).
	AttributePrivate = "privateAttributes"
)

// errNoKey is wrapped when a context has neither a targeting key nor a "key".
var errNoKey = errors.New("evaluation context has no targeting key (nor a \"key\" attribute)")

// ContextFrom converts an OpenFeature evaluation context to a LaunchDarkly
// context, as the provider does for every evaluation (see [AttributeKind]
// and the other Attribute constants).
func ContextFrom(ec openfeature.EvaluationContext) (ldcontext.Context, error) {
	flat := openfeature.FlattenedContext(ec.Attributes())
	if tk := ec.TargetingKey(); tk != "" {
		flat[openfeature.TargetingKey] = tk
	}
	return contextFrom(flat)
}

func contextFrom(flat openfeature.FlattenedContext) (ldcontext.Context, error) {
	kind := "user"
	if k, ok := flat[AttributeKind]; ok {
		s, isString := k.(string)
		if !isString || s == "" {
			return ldcontext.Context{}, fmt.Errorf("attribute %q must be a non-empty string, got %T", AttributeKind, k)
		}
		kind = s
	}
	if kind == string(ldcontext.MultiKind) {
		return multiContextFrom(flat)
	}
	return singleContextFrom(ldcontext.Kind(kind), flat)
}

func multiContextFrom(flat openfeature.FlattenedContext) (ldcontext.Context, error) {
	names := make([]string, 0, len(flat))
	for name := range flat {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic errors
	mb := ldcontext.NewMultiBuilder()
	n := 0
	for _, name := range names {
		if name == AttributeKind || name == openfeature.TargetingKey {
			continue
		}
		attrs, ok := flat[name].(map[string]any)
		if !ok {
			return ldcontext.Context{}, fmt.Errorf("multi-kind context: attribute %q must be a map[string]any describing the %q context, got %T", name, name, flat[name])
		}
		c, err := singleContextFrom(ldcontext.Kind(name), openfeature.FlattenedContext(attrs))
		if err != nil {
			return ldcontext.Context{}, fmt.Errorf("multi-kind context %q: %w", name, err)
		}
		mb.Add(c)
		n++
	}
	if n == 0 {
		return ldcontext.Context{}, errors.New("multi-kind context has no contexts (add attributes whose values are map[string]any)")
	}
	return mb.TryBuild()
}

func singleContextFrom(kind ldcontext.Kind, flat openfeature.FlattenedContext) (ldcontext.Context, error) {
	key, _ := flat[openfeature.TargetingKey].(string)
	if key == "" {
		key, _ = flat[AttributeKey].(string)
	}
	if key == "" {
		return ldcontext.Context{}, errNoKey
	}
	b := ldcontext.NewBuilder(key).Kind(kind)
	for name, v := range flat {
		switch name {
		case openfeature.TargetingKey, AttributeKey, AttributeKind:
		case AttributeName:
			s, ok := v.(string)
			if !ok {
				return ldcontext.Context{}, fmt.Errorf("attribute %q must be a string, got %T", name, v)
			}
			b.Name(s)
		case AttributeAnonymous:
			anon, ok := v.(bool)
			if !ok {
				return ldcontext.Context{}, fmt.Errorf("attribute %q must be a bool, got %T", name, v)
			}
			b.Anonymous(anon)
		case AttributePrivate:
			refs, err := stringList(v)
			if err != nil {
				return ldcontext.Context{}, fmt.Errorf("attribute %q: %w", name, err)
			}
			b.Private(refs...)
		default:
			b.SetValue(name, ldvalue.CopyArbitraryValue(v))
		}
	}
	return b.TryBuild()
}

func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("must list strings, found %T", e)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("must be a list of strings, got %T", v)
	}
}
