package beacon

// Tests of issuing a token from an assignment, inside the package: they
// hand the Confirmer assignments that no Scope would hold, at and beyond
// the root's bound on every field.

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/exposurekit/exposure/internal/token"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newIssuer is a Confirmer of a Tracker delivering to the returned
// Recorder, logging to logs.
func newIssuer(t *testing.T, logs *lockedbuf.Buffer) (*Confirmer, *exposure.Tracker, *exposuretest.Recorder) {
	t.Helper()
	rec := exposuretest.NewRecorder()
	tr, err := exposure.NewTracker(exposure.WithLogger(slog.New(slog.DiscardHandler)), exposure.WithSink(rec))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	key := make([]byte, MinKeyBytes)
	_, err = rand.Read(key)
	require.NoError(t, err)
	c, err := NewConfirmer(tr, WithKeys(key), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	require.NoError(t, err)
	return c, tr, rec
}

// field is n bytes of r (a multi-byte rune), padded with ASCII to exactly n.
func field(r string, n int) string {
	s := strings.Repeat(r, n/len(r))
	return s + strings.Repeat("x", n-len(s))
}

var attrToken = regexp.MustCompile(`^data-exposure="([A-Za-z0-9_-]+)"$`)

// The largest assignment the root accepts (every field at 255 bytes) is
// issued, and the exposure the browser confirms with it is the same
// assignment, field for field.
func TestLargestAssignmentIsIssuedAndConfirmedIdentically(t *testing.T) {
	var logs lockedbuf.Buffer
	c, tr, rec := newIssuer(t, &logs)
	const n = token.MaxFieldBytes
	require.Equal(t, 255, n, "the root's bound")
	user, device := field("é", n), field("€", n)
	a := exposure.Assignment{
		FlagKey: field("𝄞", n), Experiment: field("ü", n), Variant: field("€", n),
		ProviderVariant: field("é", n),
		Identity:        exposure.Identity{DistinctID: user, UserID: user, DeviceID: device},
		Reason:          field("ß", n),
		EvaluatedAt:     time.UnixMilli(time.Now().Add(-time.Second).UnixMilli()),
		Context: openfeature.NewEvaluationContext(field("漢", n), map[string]any{
			exposure.AttributeUserID: user, exposure.AttributeDeviceID: device,
		}),
	}
	for _, f := range []string{a.FlagKey, a.Experiment, a.Variant, a.ProviderVariant, a.Identity.DistinctID,
		a.Identity.UserID, a.Identity.DeviceID, a.Context.TargetingKey(), a.Reason} {
		require.Len(t, f, n)
	}

	attr := c.issue(&a)
	m := attrToken.FindStringSubmatch(string(attr))
	require.Len(t, m, 2, "issued: %.80q", attr)
	assert.LessOrEqual(t, len(m[1]), token.MaxLen)
	assert.Equal(t, uint64(1), c.Stats().Issued)
	assert.Zero(t, c.Stats().AttributesDropped, "the $user_id and $device_id attributes fit beside the largest fields")
	assert.Zero(t, c.Stats().NotIssued)

	tok, verdict := c.codec.Verify(m[1], time.Now())
	require.Equal(t, token.OK, verdict)
	assert.Equal(t, a, assignmentOf(&tok), "the token gives back the assignment")

	// Through the real handler, the Tracker accepts it and delivers it.
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/exposure/beacon", strings.NewReader(m[1])))
	require.Equal(t, http.StatusNoContent, w.Code)
	require.NoError(t, tr.Flush(t.Context()))
	got := rec.Exposures()
	require.Len(t, got, 1)
	assert.Equal(t, a, got[0].Assignment)
	assert.Empty(t, logs.String())
}

// Should signing ever fail (it cannot for an assignment within the
// root's bound), the render site renders nothing and the failure is an
// error in the log, rate-limited, and counted.
func TestAnAssignmentTooLargeForATokenIsLoggedAndCounted(t *testing.T) {
	var logs lockedbuf.Buffer
	c, _, _ := newIssuer(t, &logs)
	a := exposure.Assignment{FlagKey: "f", Experiment: "e", Variant: "v",
		Identity: exposure.Identity{DistinctID: strings.Repeat("x", token.MaxLen)}}
	assert.Empty(t, c.issue(&a))
	assert.Empty(t, c.issue(&a))
	st := c.Stats()
	assert.Equal(t, uint64(2), st.NotIssued)
	assert.Zero(t, st.Issued)
	assert.Equal(t, 1, bytes.Count([]byte(logs.String()), []byte("level=ERROR")), "one line a minute: %s", logs.String())
	assert.Contains(t, logs.String(), "too large for a token")
}
