package beacon

import (
	"context"
	"fmt"
	"html/template"
	"net/http"

	"github.com/exposurekit/exposure"
)

// TemplateFuncs returns the template function "exposureBeacon", for
// html/template (the map converts to template.FuncMap), beside the root's
// [exposure.TemplateFuncs]:
//
//	tmpl := template.New("page").Funcs(exposure.TemplateFuncs()).Funcs(confirmer.TemplateFuncs())
//	<aside {{ exposureBeacon .Ctx "accessories-panel" }}>…</aside>
//
// Given a context.Context or an *http.Request and a flag key, it hands the
// flag's assignment off from the request's Scope (see
// [exposure.Scope.HandOff]): the server sends nothing for it, even if the
// flag is also marked with "exposed". It renders the attribute
// data-exposure="<token>", which the script posts back once the element was
// seen. It never fails the template: misuse (no context, no scope, a flag
// not assigned) renders nothing, is logged (at most once a minute) and
// counted in [Stats].NotIssued.
func (c *Confirmer) TemplateFuncs() map[string]any {
	return map[string]any{"exposureBeacon": c.exposureBeacon}
}

// attrPrefix opens the attribute; the token is base64url, so nothing in
// it needs escaping.
const attrPrefix = `data-exposure="`

func (c *Confirmer) exposureBeacon(v any, flagKey string) template.HTMLAttr {
	ctx := contextOf(v)
	if ctx == nil {
		c.counters.notIssued.Add(1)
		c.warn(`exposure/beacon: template function "exposureBeacon" needs a context.Context or *http.Request as its first argument`,
			"got", fmt.Sprintf("%T", v), "flag", flagKey)
		return ""
	}
	// A flag not assigned is counted by the Tracker (StageUnassignedMark).
	a, err := exposure.ScopeFromContext(ctx).HandOff(flagKey)
	if err != nil {
		c.counters.notIssued.Add(1)
		c.warn(`exposure/beacon: template function "exposureBeacon" rendered nothing`, "flag", flagKey, "err", err)
		return ""
	}
	tok := tokenOf(&a, c.now())
	var buf [512]byte
	b, ok := c.codec.AppendSign(append(buf[:0], attrPrefix...), &tok)
	if !ok {
		c.counters.notIssued.Add(1)
		c.warn(`exposure/beacon: template function "exposureBeacon": the assignment is too large for a token; nothing will be recorded`,
			"flag", flagKey)
		return ""
	}
	c.counters.issued.Add(1)
	return template.HTMLAttr(append(b, '"'))
}

// contextOf is the context a template function was given: a
// context.Context or an *http.Request; nil for anything else.
func contextOf(v any) context.Context {
	switch x := v.(type) {
	case *http.Request:
		if x != nil {
			return x.Context()
		}
	case context.Context:
		return x
	}
	return nil
}
