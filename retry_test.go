package exposure

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoffStaysWithinItsBoundsForLargeMinimums(t *testing.T) {
	p := retryPolicy{minBackoff: time.Hour, maxBackoff: 48 * time.Hour, maxAge: 100 * time.Hour}
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt <= 100; attempt++ {
		b := p.backoff(attempt)
		require.GreaterOrEqual(t, b, p.minBackoff, "attempt %d", attempt)
		require.LessOrEqual(t, b, p.maxBackoff, "attempt %d", attempt)
		if attempt >= 30 {
			seen[b] = true
		}
	}
	assert.Greater(t, len(seen), 10, "late attempts are jittered, not all the maximum")
}

// The ceiling doubles from the minimum with each attempt: the first
// retry waits at most twice the minimum, and later ones reach the maximum.
func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	p := retryPolicy{minBackoff: time.Second, maxBackoff: 8 * time.Second, maxAge: time.Hour}
	for _, c := range []struct {
		attempt int
		ceiling time.Duration
	}{{1, time.Second + 1}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {10, 8 * time.Second}} {
		var most time.Duration
		for range 200 {
			b := p.backoff(c.attempt)
			require.GreaterOrEqual(t, b, p.minBackoff, "attempt %d", c.attempt)
			require.Less(t, b, c.ceiling, "attempt %d", c.attempt)
			most = max(most, b)
		}
		if c.attempt > 1 {
			assert.Greater(t, most, (c.ceiling+p.minBackoff)/2, "attempt %d: jitter spans up to the ceiling", c.attempt)
		}
	}
}

// Without retry options a sink follows the schedule Mixpanel recommends.
func TestDefaultRetrySchedule(t *testing.T) {
	c := defaultSinkConfig()
	assert.Equal(t, retryPolicy{minBackoff: 2 * time.Second, maxBackoff: time.Minute, maxAge: time.Hour}, c.retry)
}
