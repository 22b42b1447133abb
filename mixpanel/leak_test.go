package mixpanel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

// The credentials of the leak test, shaped like real ones: a project token
// is 32 hex digits.
const (
	leakToken    = "4f7d2c9e81b3a6f05e2d7c1b9a8f3e6d"
	leakSAUser   = "qz7bot.4f1c9a.mp-service-account"
	leakSASecret = "Zt3kP9qLm2XwR8vB5nH1cJ7dF4gS6aYe"
)

// echo is what a hostile proxy answers: body, built from the secret it
// echoes, at the status of the case.
type echo struct {
	mu     sync.Mutex
	status int
	body   []byte
}

func (e *echo) set(status int, body []byte) {
	e.mu.Lock()
	e.status, e.body = status, body
	e.mu.Unlock()
}

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	e.mu.Lock()
	status, body := e.status, e.body
	e.mu.Unlock()
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// A response body that echoes a secret, with the secret at offset in
// the message the sink reads (the body, Mixpanel's "error", or a refused
// record's field and message), followed by more text: past the 200 bytes
// the sink keeps.
var echoForms = []struct {
	name     string
	statuses []int // nil: every status
	body     func(offset int, secret string) []byte
}{
	{"text", nil, func(offset int, secret string) []byte {
		return []byte(filler(offset) + secret + " " + filler(300))
	}},
	{"json error", nil, func(offset int, secret string) []byte {
		b, _ := json.Marshal(map[string]any{"code": 0, "error": filler(offset) + secret + " " + filler(300), "status": "x"})
		return b
	}},
	{"failed record", []int{http.StatusBadRequest}, func(offset int, secret string) []byte {
		msg := filler(offset) + secret + " " + filler(300)
		b, _ := json.Marshal(map[string]any{"code": 400, "error": msg, "status": "Bad Request", "num_records_imported": 0,
			"failed_records": []map[string]any{{"index": 0, "insert_id": msg, "field": msg, "message": msg}}})
		return b
	}},
}

// filler is n bytes of text that cannot be part of a secret.
func filler(n int) string { return strings.Repeat("~", n) }

// A server that echoes the credentials (a proxy, or Mixpanel quoting the
// request) must not get them into the error Send returns, the Tracker's
// SinkStats.LastError (shown on the audit page) or a log line: for 400,
// 401, 429 and 500 answers, with each secret at every offset from 0 to 250
// of the message, no 8 bytes of a secret in a row may come out. The sink
// keeps the first 200 bytes of a message: a secret straddling that cut
// must be redacted before the cut.
func TestEchoedSecretsNeverLeak(t *testing.T) {
	modes := []struct {
		name    string
		opts    []mixpanel.Option
		secrets []string
	}{
		{"import with token", nil,
			[]string{leakToken, mixpaneltest.Authorization(leakToken, "")}},
		{"import with service account", []mixpanel.Option{mixpanel.WithServiceAccount(leakSAUser, leakSASecret, "12345")},
			[]string{leakToken, leakSAUser, leakSASecret, mixpaneltest.Authorization(leakSAUser, leakSASecret)}},
		{"track", []mixpanel.Option{mixpanel.WithTrack()},
			[]string{leakToken}},
	}
	statuses := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusInternalServerError}
	for _, mode := range modes {
		for _, status := range statuses {
			t.Run(fmt.Sprintf("%s/%d", mode.name, status), func(t *testing.T) {
				t.Parallel()
				e := &echo{}
				srv := httptest.NewServer(e)
				t.Cleanup(srv.Close)
				logs := &lockedbuf.Buffer{}
				logger := slog.New(slog.NewTextHandler(logs, nil))
				sink, err := mixpanel.NewSink(leakToken, append([]mixpanel.Option{
					mixpanel.WithEndpoint(srv.URL), mixpanel.WithLogger(logger), mixpanel.WithoutCompression(),
				}, mode.opts...)...)
				require.NoError(t, err)
				// Every rejected credential is logged: a minute passes per read.
				var minutes atomic.Int64
				mixpanel.SetClock(sink, func() time.Time {
					return time.Unix(0, 0).Add(time.Duration(minutes.Add(1)) * time.Minute)
				})
				tracker, err := exposure.NewTracker(
					exposure.WithLogger(logger),
					exposure.WithSink(sink, exposure.WithBackoff(time.Millisecond, time.Millisecond),
						exposure.WithMaxRetryAge(time.Millisecond)),
				)
				require.NoError(t, err)
				t.Cleanup(func() { _ = tracker.Close(context.Background()) })

				leaks := func(where, out string) {
					t.Helper()
					for _, secret := range mode.secrets {
						if part := leakedPart(out, secret); part != "" {
							assert.Failf(t, "secret leaked", "%s holds %q of %q:\n%s", where, part, secret, out)
						}
					}
				}
				n := 0
				for _, form := range echoForms {
					if form.statuses != nil && form.statuses[0] != status {
						continue
					}
					for _, secret := range mode.secrets {
						for offset := 0; offset <= 250; offset++ {
							e.set(status, form.body(offset, secret))
							where := fmt.Sprintf("%s, %s at offset %d", form.name, secret[:4], offset)

							err := sink.Send(context.Background(), exps(1))
							require.Error(t, err, where)
							leaks("the error of Send ("+where+")", err.Error())
							leaks("the error of Send, %+v ("+where+")", fmt.Sprintf("%+v", err))

							n++
							require.NoError(t, tracker.Confirm(context.Background(), exposure.Assignment{
								FlagKey: "checkout-redesign", Experiment: "Checkout Redesign", Variant: "control",
								Identity: exposure.Identity{DistinctID: fmt.Sprintf("user-%d", n)},
							}))
							_ = tracker.Flush(context.Background()) // reports the failure
							last := tracker.Stats().Sinks[0].LastError
							require.NotEmpty(t, last, where)
							leaks("SinkStats.LastError ("+where+")", last)
						}
					}
				}
				if status == http.StatusUnauthorized {
					require.Contains(t, logs.String(), "rejected the credentials", "the 401 path logs")
				}
				for _, line := range strings.Split(logs.String(), "\n") {
					leaks("a log line", line)
				}
			})
		}
	}
}

// leakedPart returns a run of 8 bytes of secret found in out, or "".
func leakedPart(out, secret string) string {
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+8]) {
			return secret[i : i+8]
		}
	}
	return ""
}
