package unleash_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	unleashsdk "github.com/Unleash/unleash-go-sdk/v5"
	ucontext "github.com/Unleash/unleash-go-sdk/v5/context"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/unleash"
)

const providerInstance = "provider-client"

// errorsSeen is a user listener for the provider's client.
type errorsSeen struct {
	mu      sync.Mutex
	errs    []error
	updates int
}

func (e *errorsSeen) OnError(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}
func (e *errorsSeen) OnWarning(error) {}
func (e *errorsSeen) OnReady()        {}
func (e *errorsSeen) OnUpdate() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.updates++
}

func newProvider(t testing.TB, s *server, opts ...unleash.Option) *unleash.Provider {
	t.Helper()
	base := []unleash.Option{unleash.WithClientOptions(
		unleashsdk.WithUrl(s.URL),
		unleashsdk.WithAppName("shop"),
		unleashsdk.WithInstanceId(providerInstance),
		unleashsdk.WithBackupPath(t.TempDir()),
		unleashsdk.WithRefreshInterval(time.Hour),
		// Asking for metrics has no effect: the provider disables them.
		unleashsdk.WithDisableMetrics(false),
		unleashsdk.WithMetricsInterval(10*time.Millisecond),
	)}
	p, err := unleash.NewProvider(append(base, opts...)...)
	require.NoError(t, err)
	return p
}

func newOFClient(t testing.TB, p openfeature.FeatureProvider) *openfeature.Client {
	t.Helper()
	api := isolated.NewAPI()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, api.SetProviderAndWait(ctx, p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return api.NewClient()
}

func user(id string) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(id, nil)
}

// userIn returns a user id Unleash assigns variant of checkout-redesign.
func userIn(t testing.TB, p *unleash.Provider, variant string) string {
	t.Helper()
	for i := range 1000 {
		id := "user-" + strconv.Itoa(i)
		d := p.StringEvaluation(context.Background(), "checkout-redesign", "", openfeature.FlattenedContext{openfeature.TargetingKey: id})
		if d.Variant == variant {
			return id
		}
	}
	t.Fatalf("no user in variant %q", variant)
	return ""
}

func TestNewProviderValidates(t *testing.T) {
	tests := []struct {
		name string
		opts []unleash.Option
		want []string // what the error names
	}{
		{"listener of no listener type", []unleash.Option{unleash.WithListener(42)}, []string{"WithListener given a int"}},
		{"non-positive ready timeout", []unleash.Option{unleash.WithReadyTimeout(0)}, []string{"WithReadyTimeout must be positive, got 0s"}},
		{"nil client option", []unleash.Option{unleash.WithClientOptions(nil)}, []string{"WithClientOptions option 0 is nil"}},
		{"nil option", []unleash.Option{nil}, []string{"NewProvider: option 0 is nil"}},
		{"every error at once", []unleash.Option{unleash.WithListener(42), nil, unleash.WithReadyTimeout(-time.Second)},
			[]string{"WithListener", "option 1 is nil", "got -1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := unleash.NewProvider(tt.opts...)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}

	// The SDK's own refusal of its configuration (no URL).
	_, err := unleash.NewProvider(unleash.WithClientOptions(unleashsdk.WithAppName("shop")))
	assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
	assert.ErrorContains(t, err, "URL")
}

func TestMetadataAndHooks(t *testing.T) {
	p := newProvider(t, newServer(t))
	t.Cleanup(p.Shutdown)
	assert.Equal(t, unleash.Name, p.Metadata().Name)
	assert.Empty(t, p.Hooks())
}

func TestEvaluatesEveryType(t *testing.T) {
	p := newProvider(t, newServer(t))
	c := newOFClient(t, p)
	ctx := context.Background()

	b, err := c.BooleanValueDetails(ctx, "dark-mode", false, user("alice"))
	require.NoError(t, err)
	assert.True(t, b.Value)
	assert.Equal(t, openfeature.TargetingMatchReason, b.Reason)
	b, err = c.BooleanValueDetails(ctx, "dark-mode", true, user("bob"))
	require.NoError(t, err)
	assert.False(t, b.Value)
	assert.Equal(t, openfeature.DisabledReason, b.Reason)

	i, err := c.IntValueDetails(ctx, "price-test", 0, user("u1"))
	require.NoError(t, err)
	assert.Equal(t, int64(12), i.Value, "a strategy variant's payload")
	assert.Equal(t, "twelve", i.Variant)

	f, err := c.FloatValueDetails(ctx, "discount", 0, user("u1"))
	require.NoError(t, err)
	assert.InDelta(t, 0.15, f.Value, 1e-12)

	o, err := c.ObjectValueDetails(ctx, "layout", nil, user("u1"))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"columns": float64(3), "theme": "light"}, o.Value)
	assert.Equal(t, "json", o.FlagMetadata[unleash.MetadataPayloadType])

	s, err := c.StringValueDetails(ctx, "plain-variants", "", user("u1"))
	require.NoError(t, err)
	assert.Equal(t, "only", s.Value, "a variant without payload resolves to its name")

	s, err = c.StringValueDetails(ctx, "checkout-redesign", "", user(userIn(t, p, "redesign")))
	require.NoError(t, err)
	assert.Equal(t, "modern", s.Value)
}

func TestNoVariant(t *testing.T) {
	p := newProvider(t, newServer(t))
	c := newOFClient(t, p)
	ctx := context.Background()
	for flag, reason := range map[string]openfeature.Reason{
		"off-toggle":  openfeature.DisabledReason, // disabled toggle
		"no-variants": openfeature.DefaultReason,  // enabled, but no variants
		"dark-mode":   openfeature.DisabledReason, // not enabled for bob
	} {
		d, err := c.StringValueDetails(ctx, flag, "default", user("bob"))
		require.NoError(t, err, flag)
		assert.Equal(t, "default", d.Value, flag)
		assert.Equal(t, reason, d.Reason, flag)
		assert.Equal(t, openfeature.FlagMetadata{exposure.MetadataInExperiment: false}, d.FlagMetadata, flag)
	}
}

func TestErrors(t *testing.T) {
	p := newProvider(t, newServer(t))
	c := newOFClient(t, p)
	ctx := context.Background()
	u := user("u1")

	type result struct {
		value any
		code  openfeature.ErrorCode
		err   error
	}
	tests := []struct {
		name string
		eval func() result
		want any
		code openfeature.ErrorCode
	}{
		{"missing string", func() result {
			d, err := c.StringValueDetails(ctx, "nope", "def", u)
			return result{d.Value, d.ErrorCode, err}
		}, "def", openfeature.FlagNotFoundCode},
		{"missing bool", func() result {
			d, err := c.BooleanValueDetails(ctx, "nope", true, u)
			return result{d.Value, d.ErrorCode, err}
		}, true, openfeature.FlagNotFoundCode},
		{"string payload read as int", func() result {
			d, err := c.IntValueDetails(ctx, "checkout-redesign", 7, u)
			return result{d.Value, d.ErrorCode, err}
		}, int64(7), openfeature.TypeMismatchCode},
		{"fraction read as int", func() result {
			d, err := c.IntValueDetails(ctx, "discount", 7, u)
			return result{d.Value, d.ErrorCode, err}
		}, int64(7), openfeature.TypeMismatchCode},
		{"string payload read as float", func() result {
			d, err := c.FloatValueDetails(ctx, "checkout-redesign", 1.5, u)
			return result{d.Value, d.ErrorCode, err}
		}, 1.5, openfeature.TypeMismatchCode},
		{"number payload read as object", func() result {
			d, err := c.ObjectValueDetails(ctx, "price-test", "def", u)
			return result{d.Value, d.ErrorCode, err}
		}, "def", openfeature.TypeMismatchCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.eval()
			require.Error(t, r.err)
			assert.Equal(t, tt.want, r.value)
			assert.Equal(t, tt.code, r.code)
		})
	}
}

func TestExperimentMetadata(t *testing.T) {
	p := newProvider(t, newServer(t))
	c := newOFClient(t, p)
	for variant, payload := range map[string]string{"control": "classic", "redesign": "modern"} {
		d, err := c.StringValueDetails(context.Background(), "checkout-redesign", "", user(userIn(t, p, variant)))
		require.NoError(t, err)
		assert.Equal(t, payload, d.Value)
		assert.Equal(t, variant, d.Variant)
		assert.Equal(t, openfeature.SplitReason, d.Reason)
		assert.Equal(t, openfeature.FlagMetadata{
			exposure.MetadataExperimentName:    "checkout-redesign",
			exposure.MetadataExperimentVariant: variant,
			exposure.MetadataInExperiment:      true,
			unleash.MetadataPayloadType:        "string",
		}, d.FlagMetadata)
	}
}

func TestContext(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	c := unleash.Context(openfeature.FlattenedContext{
		openfeature.TargetingKey: "tk",
		"sessionId":              "s1",
		"remoteAddress":          "127.0.0.1",
		"currentTime":            at,
		"plan":                   "pro",
		"seats":                  int64(3),
		"nested":                 map[string]any{"x": 1},
	})
	assert.Equal(t, "tk", c.UserId)
	assert.Equal(t, "s1", c.SessionId)
	assert.Equal(t, "127.0.0.1", c.RemoteAddress)
	assert.Equal(t, "2026-11-24T12:00:00Z", c.CurrentTime)
	assert.Equal(t, map[string]string{"plan": "pro", "seats": "3"}, c.Properties)

	c = unleash.Context(openfeature.FlattenedContext{openfeature.TargetingKey: "tk", "userId": "explicit"})
	assert.Equal(t, "explicit", c.UserId)
}

// The reason this provider exists: its evaluations count no metrics and
// emit no impression events, even with a user listener that could take
// them and with metrics asked for in the client options.
func TestEvaluationSendsNothing(t *testing.T) {
	s := newServer(t)
	seen := &errorsSeen{}
	p := newProvider(t, s, unleash.WithListener(seen))
	c := newOFClient(t, p)
	imps := newImpressions()
	exposureClient := newExposureClient(t, s, imps)
	ctx := context.Background()

	for i := range 20 {
		u := user("user-" + strconv.Itoa(i))
		_, err := c.StringValue(ctx, "checkout-redesign", "", u)
		require.NoError(t, err)
		_, _ = c.IntValue(ctx, "price-test", 0, u)
		_, _ = c.BooleanValue(ctx, "dark-mode", false, u)
	}

	// Control: one evaluation on the regular client is counted, posted and
	// impressed, so the checks below can fail. Metrics accumulate until
	// posted, so any count of the provider's evaluations would show up in
	// this post or an earlier one.
	exposureClient.GetVariant("checkout-redesign", unleashsdk.WithVariantContext(ucontext.Context{UserId: userIn(t, p, "redesign")}))
	s.waitMetrics(t)
	assert.Equal(t, map[string]toggleCount{"checkout-redesign": {Yes: 1, Variants: map[string]int32{"redesign": 1}}},
		s.counts(exposureInstance))
	assert.Zero(t, s.postsFrom(providerInstance), "the provider's client registered or posted metrics")
	require.Eventually(t, func() bool { return len(imps.all()) >= 1 }, 5*time.Second, 5*time.Millisecond)
	require.Len(t, imps.all(), 1)
	assert.Equal(t, unleashsdk.ImpressionEventTypeGetVariant, imps.all()[0].EventType)
	assert.Equal(t, "redesign", imps.all()[0].Variant)

	seen.mu.Lock()
	defer seen.mu.Unlock()
	assert.Empty(t, seen.errs)
}

func TestInitTimesOut(t *testing.T) {
	// A server that does not answer the features API in time.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	p, err := unleash.NewProvider(unleash.WithReadyTimeout(30*time.Millisecond), unleash.WithClientOptions(
		unleashsdk.WithUrl(slow.URL), unleashsdk.WithAppName("shop"), unleashsdk.WithBackupPath(t.TempDir())))
	require.NoError(t, err)
	t.Cleanup(p.Shutdown)

	err = p.Init(openfeature.EvaluationContext{})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	assert.Contains(t, err.Error(), "not fetched")
}

func TestInitWithBootstrapWhenTheServerIsDown(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	features, err := os.Open("testdata/features.json")
	require.NoError(t, err)
	defer features.Close()
	p, err := unleash.NewProvider(unleash.WithReadyTimeout(30*time.Millisecond), unleash.WithClientOptions(
		unleashsdk.WithUrl(down.URL), unleashsdk.WithAppName("shop"), unleashsdk.WithBackupPath(t.TempDir()),
		unleashsdk.WithStorage(&unleashsdk.BootstrapStorage{Reader: features})))
	require.NoError(t, err)
	t.Cleanup(p.Shutdown)

	require.NoError(t, p.Init(openfeature.EvaluationContext{}), "the bootstrapped toggles are usable")
	d := p.IntEvaluation(context.Background(), "price-test", 0, openfeature.FlattenedContext{openfeature.TargetingKey: "u1"})
	assert.Equal(t, int64(12), d.Value)
	assert.Equal(t, "twelve", d.Variant)
}

func TestShutdown(t *testing.T) {
	p := newProvider(t, newServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.InitWithContext(ctx, openfeature.EvaluationContext{}))
	require.NoError(t, p.ShutdownWithContext(ctx))
	require.NoError(t, p.ShutdownWithContext(ctx), "shutting down twice is fine")

	d := p.StringEvaluation(ctx, "checkout-redesign", "def", openfeature.FlattenedContext{openfeature.TargetingKey: "u"})
	assert.Equal(t, "def", d.Value)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)
	b := p.BooleanEvaluation(ctx, "dark-mode", true, openfeature.FlattenedContext{openfeature.TargetingKey: "alice"})
	assert.Equal(t, openfeature.ProviderNotReadyCode, b.ResolutionDetail().ErrorCode)
	assert.Error(t, p.InitWithContext(ctx, openfeature.EvaluationContext{}))
}

func TestConcurrentEvaluations(t *testing.T) {
	p := newProvider(t, newServer(t))
	c := newOFClient(t, p)
	want := map[string]string{}
	for i := range 20 {
		id := "user-" + strconv.Itoa(i)
		want[id], _ = c.StringValue(context.Background(), "checkout-redesign", "", user(id))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := "user-" + strconv.Itoa((g+i)%20)
				v, err := c.StringValue(context.Background(), "checkout-redesign", "", user(id))
				assert.NoError(t, err)
				assert.Equal(t, want[id], v, "assignment is sticky")
			}
		})
	}
	wg.Wait()
}
