package beacon_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/beacon"
)

// discardSink is a Sink that keeps nothing, so that a benchmark measures
// the pipeline and not a growing recording.
type discardSink struct{}

func (discardSink) Send(context.Context, []exposure.Exposure) error { return nil }

// BenchmarkRenderSite compares the two render-site template functions,
// called as a template calls them, on a scope whose flag is assigned:
// "exposed" (the baseline: a mark) and "exposureBeacon" (a handoff and a
// token signed with HMAC-SHA256, rendered as an attribute).
func BenchmarkRenderSite(b *testing.B) {
	key := newKey(b)
	tr, err := exposure.NewTracker(exposure.WithLogger(quietLogger), exposure.WithExperiments(checkout),
		exposure.WithSink(discardSink{}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close(context.Background()) })
	confirmer, err := beacon.NewConfirmer(tr, beacon.WithKeys(key), beacon.WithLogger(quietLogger))
	if err != nil {
		b.Fatal(err)
	}
	client := newClient(b, checkoutProvider(), tr.Hook())
	ctx, _ := tr.Scope(context.Background())
	if _, err := client.StringValue(ctx, flagKey, "classic", userCtx("bench-user")); err != nil {
		b.Fatal(err)
	}
	b.Run("baseline=hmac-sha256-160B", func(b *testing.B) {
		// The floor under a token: one HMAC of a typical payload.
		msg := make([]byte, 160)
		var sum []byte
		b.ReportAllocs()
		for b.Loop() {
			h := hmac.New(sha256.New, key)
			h.Write(msg)
			sum = h.Sum(sum[:0])
		}
	})
	b.Run("func=exposed", func(b *testing.B) {
		exposed := exposure.TemplateFuncs()["exposed"].(func(any, string) string)
		b.ReportAllocs()
		for b.Loop() {
			_ = exposed(ctx, flagKey)
		}
	})
	b.Run("func=exposureBeacon", func(b *testing.B) {
		render := confirmer.TemplateFuncs()["exposureBeacon"].(func(any, string) template.HTMLAttr)
		b.ReportAllocs()
		for b.Loop() {
			if render(ctx, flagKey) == "" {
				b.Fatal("no token")
			}
		}
	})
}

// BenchmarkConfirm measures the handler receiving a genuine token of an
// exposure already delivered (verify, rebuild, dedupe claim): with one
// key, and with three keys where the token's key is tried last.
func BenchmarkConfirm(b *testing.B) {
	for _, keys := range []int{1, 3} {
		b.Run([]string{1: "keys=1", 3: "keys=3"}[keys], func(b *testing.B) {
			signing := newKey(b)
			e := newEnv(b, beacon.WithKeys(signing))
			token := e.token(b, "bench-user")
			verify := [][]byte{signing}
			if keys == 3 {
				verify = [][]byte{newKey(b), newKey(b), signing}
			}
			h, err := beacon.NewConfirmer(e.tracker, beacon.WithKeys(verify...), beacon.WithLogger(quietLogger))
			if err != nil {
				b.Fatal(err)
			}
			body := strings.NewReader(token)
			req := httptest.NewRequest(http.MethodPost, "/exposure/beacon", body)
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
