package beacon

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/exposurekit/exposure"
)

// TemplateFuncs returns the template function "exposureBeacon", for
// html/template (the map converts to template.FuncMap), beside the root's
// [exposure.TemplateFuncs]:
//
//	tmpl := template.New("page").Funcs(exposure.TemplateFuncs()).Funcs(confirmer.TemplateFuncs())
//	<div class="slot" {{ exposureBeacon .Ctx "accessories-panel" }}>…</div>
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
	// The token is signed after the handoff, not before: HandOff is the
	// only way to read an assignment out of a Scope, and it takes it out.
	// That order loses nothing, because signing cannot fail for an
	// assignment the root accepted (see issue below).
	//
	// A flag not assigned is counted by the Tracker (StageUnassignedMark).
	a, err := exposure.ScopeFromContext(ctx).HandOff(flagKey)
	if err != nil {
		c.counters.notIssued.Add(1)
		c.warn(`exposure/beacon: template function "exposureBeacon" rendered nothing`, "flag", flagKey, "err", err)
		return ""
	}
	return c.issue(&a)
}

// issue renders the data-exposure attribute carrying the token of a, an
// assignment just handed off.
func (c *Confirmer) issue(a *exposure.Assignment) template.HTMLAttr {
	var buf [512]byte // a typical attribute is under 300 bytes
	b, ok := c.appendToken(append(buf[:0], attrPrefix...), a)
	if !ok {
		return ""
	}
	return template.HTMLAttr(append(b, '"'))
}

// appendToken appends the token of a, an assignment just handed off, to
// dst and counts it in Stats.Issued, and what did not fit in
// Stats.AttributesDropped, PropertiesDropped and RelatedDropped (logged at
// most once a minute).
//
// Signing fails only for a token over [token.MaxLen], and no assignment
// the Tracker holds comes near it: the root refuses, when a flag is
// assigned, every field over 255 bytes ([token.MaxFieldBytes]), and a
// token with every field at that bound is [token.MaxBoundedLen] (3154)
// characters, which internal/token checks at compile time; properties,
// related assignments and attributes that do not fit are dropped, never
// the token. The failure path is kept
// as a defence, should the bound or the format change: the exposure is
// then lost (it was handed off, and the server will not send it), so it is
// logged as an error and counted in [Stats].NotIssued.
func (c *Confirmer) appendToken(dst []byte, a *exposure.Assignment) ([]byte, bool) {
	tok := tokenOf(a, c.now())
	b, dropped, ok := c.codec.AppendSign(dst, &tok)
	if !ok {
		c.counters.notIssued.Add(1)
		if c.signLog.allow(time.Minute) {
			c.log.Error("exposure/beacon: the assignment is too large for a token; its exposure is lost",
				"flag", a.FlagKey, "experiment", a.Experiment)
		}
		return dst, false
	}
	if dropped.Any() {
		c.counters.attributesDropped.Add(uint64(dropped.Attributes))
		c.counters.propertiesDropped.Add(uint64(dropped.Properties))
		c.counters.relatedDropped.Add(uint64(dropped.Related))
		if c.dropLog.allow(time.Minute) {
			c.log.Warn("exposure/beacon: left out of a token, over its size limit",
				"flag", a.FlagKey, "attributes", dropped.Attributes, "properties", dropped.Properties,
				"related", dropped.Related)
		}
	}
	c.counters.issued.Add(1)
	return b, true
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
