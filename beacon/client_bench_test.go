package beacon_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
	"github.com/open-feature/go-sdk/openfeature"
)

// typicalContext is an evaluation context of five attributes.
func typicalContext(user string) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(user, map[string]any{
		exposure.AttributeUserID: user, "country": "FR", "plan": "pro", "beta": true, "age_days": int64(412),
	})
}

// BenchmarkPost measures the handler per post, accepted and rejected: what
// a flood of bad posts costs the server. Figures in BENCHMARKS-client.md.
//
//   - accepted: a genuine version-4 token (with an evaluation context) of
//     an exposure already delivered: open, rebuild, dedupe claim;
//   - forged: a well-formed token sealed under another key (one key tried);
//   - malformed: a body that is not a token;
//   - cross-origin: a browser's post from an origin not listed.
func BenchmarkPost(b *testing.B) {
	e := newEnv(b)
	genuine := e.token(b, "bench-user")
	forged := newEnv(b).token(b, "bench-user")
	cases := []struct {
		name, body string
		origin     string
		code       int
	}{
		{"accepted", genuine, "", http.StatusNoContent},
		{"rejected=forged", forged, "", http.StatusBadRequest},
		{"rejected=malformed", strings.Repeat("x", 200), "", http.StatusBadRequest},
		{"rejected=cross-origin", genuine, "https://evil.example", http.StatusForbidden},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var h http.Handler = e.confirmer
			body := strings.NewReader(bc.body)
			req := httptest.NewRequest(http.MethodPost, "http://beacon.test/exposure/beacon", body)
			if bc.origin != "" {
				req.Header.Set("Origin", bc.origin)
				req.Header.Set("Sec-Fetch-Site", "cross-site")
			}
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(bc.body)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != bc.code {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// BenchmarkToken measures Confirmer.Token: the handoff and sealing a
// typical token (five attributes).
func BenchmarkToken(b *testing.B) {
	e := newEnv(b, beacon.WithLogger(quietLogger))
	ctx, _ := e.tracker.Scope(b.Context())
	_, err := e.client.StringValue(ctx, flagKey, "classic", typicalContext("bench-user"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		tok, err := e.confirmer.Token(ctx, flagKey)
		if err != nil {
			b.Fatal(err)
		}
		n = len(tok)
	}
	b.ReportMetric(float64(n), "token-chars")
}
