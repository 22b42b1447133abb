package mixpanelflags_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

// pollingProvider is a local provider over srv polling every 10 ms.
func pollingProvider(t *testing.T, srv *flagstest.Server) *mixpanelflags.Provider {
	t.Helper()
	cfg := srv.LocalConfig()
	cfg.EnablePolling = true
	cfg.PollingInterval = 10 * time.Millisecond
	p, err := mixpanelflags.NewProvider(srv.Token(), mixpanelflags.WithLocalEvaluation(cfg))
	require.NoError(t, err)
	return p
}

// eventLog records the provider events an OpenFeature API dispatches.
type eventLog struct {
	mu  sync.Mutex
	got []string
}

func (l *eventLog) listen(api *openfeature.EvaluationAPI) {
	for _, et := range []openfeature.EventType{openfeature.ProviderReady, openfeature.ProviderStale, openfeature.ProviderError} {
		f := func(openfeature.EventDetails) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.got = append(l.got, string(et))
		}
		api.AddHandler(et, &f)
	}
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.got, ",")
}

// Mixpanel is unreachable when the app boots: Init fails, and with polling
// enabled the provider recovers by itself once Mixpanel is back.
func TestFailedInitRecoversWhenPolling(t *testing.T) {
	srv := flagstest.Start(t, definitions(t))
	p := pollingProvider(t, srv)
	srv.SetDown(true)

	api := isolated.NewAPI()
	var events eventLog
	events.listen(api)
	t.Cleanup(func() { _ = api.Shutdown(bg) })
	err := api.SetProviderAndWait(bg, p)
	require.Error(t, err, "the app sees that the first download failed")
	assert.Contains(t, err.Error(), "polling retries")
	assert.NotContains(t, err.Error(), srv.Token(), "the token is redacted")
	c := api.NewClient()
	assert.Equal(t, openfeature.ErrorState, c.State())

	// While Mixpanel is down: the caller's default, not ready; failed polls
	// raise no event (there are no definitions to call stale).
	require.Eventually(t, func() bool { return srv.Requests()[flagstest.EndpointDefinitions] >= 3 },
		5*time.Second, 5*time.Millisecond, "the poller retries")
	d, err := c.StringValueDetails(bg, "checkout-redesign", "grey", user("u-2", nil))
	require.Error(t, err)
	assert.Equal(t, "grey", d.Value)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ErrorCode)
	assert.Equal(t, "PROVIDER_ERROR", events.String())

	srv.SetDown(false)
	require.Eventually(t, func() bool { return c.State() == openfeature.ReadyState }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "PROVIDER_ERROR,PROVIDER_READY", events.String())
	v, err := c.StringValue(bg, "checkout-redesign", "grey", user("u-2", nil))
	require.NoError(t, err)
	assert.Equal(t, "green", v)

	// Afterwards the poller works as after a successful Init: stale, ready.
	srv.SetDown(true)
	require.Eventually(t, func() bool { return c.State() == openfeature.StaleState }, 5*time.Second, 5*time.Millisecond)
	v, err = c.StringValue(bg, "checkout-redesign", "grey", user("u-2", nil))
	require.NoError(t, err)
	assert.Equal(t, "green", v, "the last definitions keep serving")
	srv.SetDown(false)
	require.Eventually(t, func() bool { return c.State() == openfeature.ReadyState }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "PROVIDER_ERROR,PROVIDER_READY,PROVIDER_STALE,PROVIDER_READY", events.String())
}

// The poller started by a failed Init stops at Shutdown, even if Mixpanel
// never came back, and a shut-down provider stays not ready.
func TestFailedInitShutdownStopsPolling(t *testing.T) {
	srv := flagstest.Start(t, definitions(t))
	p := pollingProvider(t, srv)
	srv.SetDown(true)
	require.Error(t, p.InitWithContext(bg, openfeature.EvaluationContext{}))
	require.Eventually(t, func() bool { return srv.Requests()[flagstest.EndpointDefinitions] >= 3 },
		5*time.Second, 5*time.Millisecond, "the poller retries")

	// A second failed Init does not start a second poller: one Shutdown
	// could not stop it, and the count below would go on growing.
	require.Error(t, p.InitWithContext(bg, openfeature.EvaluationContext{}))

	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	require.NoError(t, p.ShutdownWithContext(ctx), "the poller has stopped")
	srv.SetDown(false)
	n := srv.Requests()[flagstest.EndpointDefinitions]
	time.Sleep(100 * time.Millisecond) // ten polling intervals
	assert.Equal(t, n, srv.Requests()[flagstest.EndpointDefinitions], "no poll after Shutdown")
	d := p.StringEvaluation(bg, "checkout-redesign", "grey", openfeature.FlattenedContext{openfeature.TargetingKey: "u-2"})
	assert.Contains(t, d.ResolutionError.Error(), string(openfeature.ProviderNotReadyCode))

	// Init works again once Mixpanel is back.
	require.NoError(t, p.InitWithContext(bg, openfeature.EvaluationContext{}))
	assert.Equal(t, "green", p.StringEvaluation(bg, "checkout-redesign", "grey", openfeature.FlattenedContext{openfeature.TargetingKey: "u-2"}).Value)
	require.NoError(t, p.ShutdownWithContext(ctx))
}

// With polling disabled nothing retries: the provider stays not ready
// until the app initializes it again.
func TestFailedInitWithoutPollingFailsForGood(t *testing.T) {
	srv := flagstest.Start(t, definitions(t))
	p := providerFor(t, srv, mixpanelflags.ModeLocal) // polling off
	srv.SetDown(true)
	api := isolated.NewAPI()
	t.Cleanup(func() { _ = api.Shutdown(bg) })
	err := api.SetProviderAndWait(bg, p)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "polling retries")
	c := api.NewClient()

	srv.SetDown(false)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, srv.Requests()[flagstest.EndpointDefinitions], "nothing retried the download")
	assert.Equal(t, openfeature.ErrorState, c.State())
	d, err := c.StringValueDetails(bg, "checkout-redesign", "grey", user("u-2", nil))
	require.Error(t, err)
	assert.Equal(t, "grey", d.Value)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ErrorCode)

	require.NoError(t, p.InitWithContext(bg, openfeature.EvaluationContext{}), "the app's own retry")
	v, err := c.StringValue(bg, "checkout-redesign", "grey", user("u-2", nil))
	require.NoError(t, err)
	assert.Equal(t, "green", v)
}
