package exposure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// TemplateFuncs returns the template function "exposed", for html/template
// (the map converts to template.FuncMap):
//
//	tmpl := template.New("page").Funcs(exposure.TemplateFuncs())
//	{{ exposed .Ctx "checkout-redesign" }}
//
// "exposed" calls MarkRendered with a context.Context or an *http.Request
// and renders nothing. It never fails the template: misuse (no context, no
// scope, a flag not assigned) renders nothing, is logged (at most once a
// minute) and counted.
func TemplateFuncs() map[string]any {
	return map[string]any{"exposed": exposed}
}

// misuseLog limits warnings about template misuse.
var misuseLog rateLimitedLog

func exposed(v any, flagKey string) string {
	var ctx context.Context
	switch x := v.(type) {
	case *http.Request:
		if x != nil {
			ctx = x.Context()
		}
	case context.Context:
		ctx = x
	}
	if ctx == nil {
		if misuseLog.allow(time.Minute) {
			slog.Default().Warn(`exposure: template function "exposed" needs a context.Context or *http.Request as its first argument`, "got", fmt.Sprintf("%T", v), "flag", flagKey)
		}
		return ""
	}
	err := MarkRendered(ctx, flagKey)
	switch {
	case err == nil:
	case errors.Is(err, ErrNoScope):
		if misuseLog.allow(time.Minute) {
			slog.Default().Warn(`exposure: template function "exposed" got a context without scope`, "flag", flagKey, "err", err)
		}
	default:
		if t := ScopeFromContext(ctx).t; t.misuseLog.allow(time.Minute) {
			t.log.Warn(`exposure: template function "exposed" marked a flag that was not assigned`, "flag", flagKey, "err", err)
		}
	}
	return ""
}
