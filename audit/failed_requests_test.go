package audit_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
)

const googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

// Through real HTTP and the Tracker's middleware: variant B breaks the page
// after its mark for one user in five. By default its failed renders are
// still exposed (intent to treat), with WithDiscardFailedRenders they are
// not; either way the audit counts them per variant and flags the gap in
// failure rates. A crawler renders both variants and is exposed to none.
func TestAVariantThatBreaksThePageIsFlagged(t *testing.T) {
	const users = 300 // 150 per variant; 30 of B's fail
	for _, c := range []struct {
		name    string
		opts    []exposure.Option
		exposed uint64 // B's committed exposures
		// Discarding failed renders takes from B exactly the users it
		// hurt: its exposure rate falls behind A's, and the split check
		// sees it.
		rateGap bool
	}{
		{"intent to treat, the default", nil, 150, false},
		{"failed renders discarded", []exposure.Option{exposure.WithDiscardFailedRenders()}, 120, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, checkout, nil, c.opts...)
			e.rules.variantFor = byParity
			failures := 0
			for u := range users {
				status := e.request(t, fmt.Sprintf("/flaky?user=u%d", u), "")
				if status == http.StatusInternalServerError {
					failures++
				} else {
					require.Equal(t, http.StatusOK, status)
				}
			}
			require.Equal(t, 30, failures)
			// A crawler, 20 times as 20 users: rendered, never exposed.
			for u := range 20 {
				require.Equal(t, http.StatusOK, e.request(t, fmt.Sprintf("/checkout?user=u%d", 1000+u), googlebot))
			}
			e.settle(t)

			sent := map[string]uint64{}
			for _, x := range e.recorder.Exposures() {
				sent[x.Variant]++
				var n int
				_, _ = fmt.Sscanf(x.Identity.DistinctID, "u%d", &n)
				assert.Less(t, n, 1000, "the crawler's subjects are not exposed")
			}
			exp := findExperiment(t, e.report(t), "Checkout Redesign")
			a, b := findVariant(t, exp, "Variant A"), findVariant(t, exp, "Variant B")
			assert.Equal(t, uint64(150), sent["Variant A"])
			assert.Equal(t, c.exposed, sent["Variant B"], "the sink")
			assert.Equal(t, c.exposed, b.Counts[exposure.StageCommitted], "the audit")
			assert.Equal(t, uint64(30), b.Counts[exposure.StageFailedRender])
			assert.Zero(t, b.Counts[exposure.StageFailedRequest], "every failure came after the mark")
			assert.Equal(t, 150-c.exposed, b.Counts[exposure.StageDiscarded])
			assert.Zero(t, a.Counts[exposure.StageFailedRender])

			require.NotNil(t, b.FailureRate)
			assert.InDelta(t, 30.0/160, *b.FailureRate, 1e-12, "30 of B's 160 assignments, the crawler's 10 included")
			require.NotNil(t, a.FailureRate)
			assert.Zero(t, *a.FailureRate)
			assert.True(t, exp.Failures.Flagged, "%+v", exp.Failures)
			assert.Contains(t, exp.Failures.Reason, "Variant B")
			assert.Equal(t, c.rateGap, exp.SRM.Flagged, "%v", exp.SRM.Reasons)
			assert.Equal(t, c.rateGap, strings.Contains(strings.Join(exp.SRM.Reasons, " "), "exposure rates differ"))

			// The crawler: counted as bot per variant, not exposed.
			assert.Equal(t, uint64(10), a.Counts[exposure.StageBot])
			assert.Equal(t, uint64(10), b.Counts[exposure.StageBot])
			assert.Equal(t, uint64(20), exp.Bots)
			assert.Equal(t, uint64(160), a.Counts[exposure.StageMarked], "the crawler's marks are marks")
			require.NotNil(t, a.BotShare)
			assert.InDelta(t, 10.0/160, *a.BotShare, 1e-12)
			assert.Equal(t, e.tracker.Stats().Counts[exposure.StageBot], uint64(20))
		})
	}
}

// Neither Go's HTTP client nor a browser's agent is a bot to the default
// filter: their renders are exposed.
func TestOrdinaryAgentsAreNotBots(t *testing.T) {
	for _, agent := range []string{"", // Go-http-client/1.1
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"} {
		e := newEnv(t, checkout, nil)
		require.Equal(t, http.StatusOK, e.request(t, "/checkout?user=u1", agent))
		e.settle(t)
		exp := findExperiment(t, e.report(t), "Checkout Redesign")
		assert.Zero(t, exp.Bots, "%q", agent)
		assert.Len(t, e.recorder.Exposures(), 1, "%q", agent)
		assert.False(t, strings.Contains(agent, "bot"))
	}
}
