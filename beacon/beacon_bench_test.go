package exposure_test

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
)

// BenchmarkRenderSite compares the two render-site template functions,
// called as a template calls them, on a scope whose flag is assigned:
// "exposed" (the baseline: a mark) and "exposureBeacon" (a token signed
// with HMAC-SHA256 and rendered as an attribute).
func BenchmarkRenderSite(b *testing.B) {
	key := beaconKey(b)
	tr, err := exposure.New(exposure.WithLogger(quietLogger), exposure.WithExperiments(checkout),
		exposure.WithSink(discardSink{}), exposure.WithBeaconKeys(key))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close(context.Background()) })
	client := newClient(b, newProvider(nil), tr.Hook())
	ctx, _ := tr.Scope(context.Background())
	if _, err := client.StringValue(ctx, flagKey, "classic", userCtx("bench-user")); err != nil {
		b.Fatal(err)
	}
	funcs := exposure.TemplateFuncs()
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
		exposed := funcs["exposed"].(func(any, string) string)
		b.ReportAllocs()
		for b.Loop() {
			_ = exposed(ctx, flagKey)
		}
	})
	b.Run("func=exposureBeacon", func(b *testing.B) {
		beacon := funcs["exposureBeacon"].(func(any, string) template.HTMLAttr)
		b.ReportAllocs()
		for b.Loop() {
			if beacon(ctx, flagKey) == "" {
				b.Fatal("no token")
			}
		}
	})
}

// BenchmarkBeaconConfirm measures the handler receiving a genuine token of
// an exposure already delivered (verify, rebuild, dedupe claim): with one
// key, and with three keys where the token's key is tried last.
func BenchmarkBeaconConfirm(b *testing.B) {
	for _, keys := range []int{1, 3} {
		b.Run([]string{1: "keys=1", 3: "keys=3"}[keys], func(b *testing.B) {
			signing := beaconKey(b)
			issuer := newEnv(b, exposure.WithBeaconKeys(signing))
			token := beaconToken(b, issuer, "bench-user")
			verify := [][]byte{signing}
			if keys == 3 {
				verify = [][]byte{beaconKey(b), beaconKey(b), signing}
			}
			e := newEnv(b, exposure.WithBeaconKeys(verify...))
			h := e.tracker.BeaconHandler()
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
