package launchdarkly

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// LaunchDarkly's shared HTTP transport keeps idle connections.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		// The SDK's polling data source (TestProviderNotReady) leaves these
		// behind after Close: its ticker, and an outage timer of its own.
		goleak.IgnoreTopFunction("github.com/launchdarkly/go-server-sdk/v7/internal/datasource.newTickerWithInitialTick.func1"),
		goleak.IgnoreTopFunction("github.com/launchdarkly/go-server-sdk/v7/internal/datasource.(*outageTracker).awaitTimeout"),
	)
}

// newOFClient registers p on an isolated OpenFeature API and returns a client.
func newOFClient(t testing.TB, p openfeature.FeatureProvider) *openfeature.Client {
	t.Helper()
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return api.NewClient()
}

func newTestProvider(t *testing.T, events *eventServer, opts ...Option) (*openfeature.Client, *Provider) {
	t.Helper()
	p, err := NewProvider(newClient(t, testData(), events, false), opts...)
	require.NoError(t, err)
	return newOFClient(t, p), p
}

func TestProviderEvaluatesEveryType(t *testing.T) {
	of, _ := newTestProvider(t, nil)
	ctx := context.Background()
	user := openfeature.NewEvaluationContext("u-1", nil)

	b, err := of.BooleanValueDetails(ctx, "bool-flag", true, openfeature.NewEvaluationContext("vip", nil))
	require.NoError(t, err)
	assert.True(t, b.Value)
	assert.Equal(t, "0", b.Variant) // ldtestdata's boolean flags: true is variation 0
	assert.Equal(t, openfeature.TargetingMatchReason, b.Reason)

	b, err = of.BooleanValueDetails(ctx, "bool-flag", true, user)
	require.NoError(t, err)
	assert.False(t, b.Value)
	assert.Equal(t, openfeature.DefaultReason, b.Reason, "the fallthrough is the default rule")

	s, err := of.StringValueDetails(ctx, "string-flag", "none", user)
	require.NoError(t, err)
	assert.Equal(t, "green", s.Value)
	assert.Equal(t, "1", s.Variant)
	assert.Equal(t, "FALLTHROUGH", s.FlagMetadata[MetadataReasonKind])
	assert.Equal(t, 1, s.FlagMetadata[MetadataVariationIndex])

	f, err := of.FloatValueDetails(ctx, "float-flag", 0, user)
	require.NoError(t, err)
	assert.Equal(t, 2.5, f.Value)

	i, err := of.IntValueDetails(ctx, "int-flag", 0, user)
	require.NoError(t, err)
	assert.Equal(t, int64(7), i.Value)
	assert.Equal(t, "1", i.Variant)

	o, err := of.ObjectValueDetails(ctx, "object-flag", nil, user)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"layout": "grid", "cols": float64(3)}, o.Value)
}

func TestProviderMapsContexts(t *testing.T) {
	of, _ := newTestProvider(t, nil)
	ctx := context.Background()
	tests := []struct {
		name    string
		ec      openfeature.EvaluationContext
		flag    string
		want    string
		variant string
	}{
		{"attribute drives a rule", openfeature.NewEvaluationContext("u-2", map[string]any{"country": "fr"}), "string-flag", "blue", "2"},
		{"other attribute value", openfeature.NewEvaluationContext("u-2", map[string]any{"country": "de"}), "string-flag", "green", "1"},
		{"kind selects the context kind", openfeature.NewEvaluationContext("acme", map[string]any{"kind": "organization"}), "plan-flag", "pro", "1"},
		{"same key, other kind", openfeature.NewEvaluationContext("acme", nil), "plan-flag", "basic", "0"},
		{"multi-kind context", openfeature.NewTargetlessEvaluationContext(map[string]any{
			"kind":         "multi",
			"user":         map[string]any{"key": "u-3", "name": "Ann"},
			"organization": map[string]any{"targetingKey": "acme"},
		}), "plan-flag", "pro", "1"},
		{"key attribute without targeting key", openfeature.NewTargetlessEvaluationContext(map[string]any{"key": "u-4", "country": "fr"}), "string-flag", "blue", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := of.StringValueDetails(ctx, tt.flag, "default", tt.ec)
			require.NoError(t, err)
			assert.Equal(t, tt.want, d.Value)
			assert.Equal(t, tt.variant, d.Variant)
		})
	}
}

func TestContextFrom(t *testing.T) {
	c, err := ContextFrom(openfeature.NewEvaluationContext("u-1", map[string]any{
		"name": "Ann", "anonymous": true, "privateAttributes": []any{"email"}, "email": "a@example.com", "plan": "pro",
	}))
	require.NoError(t, err)
	assert.Equal(t, "u-1", c.Key())
	assert.Equal(t, "user", string(c.Kind()))
	assert.Equal(t, "Ann", c.Name().StringValue())
	assert.True(t, c.Anonymous())
	assert.Equal(t, "pro", c.GetValue("plan").StringValue())
	require.Equal(t, 1, c.PrivateAttributeCount())

	m, err := ContextFrom(openfeature.NewTargetlessEvaluationContext(map[string]any{
		"kind": "multi", "user": map[string]any{"key": "u-1"}, "device": map[string]any{"key": "d-1", "os": "ios"},
	}))
	require.NoError(t, err)
	assert.True(t, m.Multiple())
	dev := m.IndividualContextByKind("device")
	require.True(t, dev.IsDefined())
	assert.Equal(t, "ios", dev.GetValue("os").StringValue())

	for name, ec := range map[string]openfeature.EvaluationContext{
		"no key":             openfeature.NewTargetlessEvaluationContext(map[string]any{"plan": "pro"}),
		"kind not a string":  openfeature.NewEvaluationContext("u", map[string]any{"kind": 3}),
		"multi without maps": openfeature.NewTargetlessEvaluationContext(map[string]any{"kind": "multi", "user": "u-1"}),
		"multi, no contexts": openfeature.NewTargetlessEvaluationContext(map[string]any{"kind": "multi"}),
		"name not a string":  openfeature.NewEvaluationContext("u", map[string]any{"name": 1}),
		"invalid kind":       openfeature.NewEvaluationContext("u", map[string]any{"kind": "kind"}),
	} {
		_, err := ContextFrom(ec)
		assert.Error(t, err, name)
	}
}

func TestProviderErrors(t *testing.T) {
	of, _ := newTestProvider(t, nil)
	ctx := context.Background()
	user := openfeature.NewEvaluationContext("u-1", nil)
	tests := []struct {
		name string
		eval func() (openfeature.InterfaceEvaluationDetails, error)
		code openfeature.ErrorCode
	}{
		{"unknown flag", func() (openfeature.InterfaceEvaluationDetails, error) {
			d, err := of.StringValueDetails(ctx, "no-such-flag", "dflt", user)
			return openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
		}, openfeature.FlagNotFoundCode},
		{"string flag as bool", func() (openfeature.InterfaceEvaluationDetails, error) {
			d, err := of.BooleanValueDetails(ctx, "string-flag", true, user)
			return openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
		}, openfeature.TypeMismatchCode},
		{"string flag as float", func() (openfeature.InterfaceEvaluationDetails, error) {
			d, err := of.FloatValueDetails(ctx, "string-flag", 1, user)
			return openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
		}, openfeature.TypeMismatchCode},
		{"fraction as int", func() (openfeature.InterfaceEvaluationDetails, error) {
			d, err := of.IntValueDetails(ctx, "fraction-flag", 1, user)
			return openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
		}, openfeature.TypeMismatchCode},
		{"number as string", func() (openfeature.InterfaceEvaluationDetails, error) {
			d, err := of.StringValueDetails(ctx, "int-flag", "dflt", user)
			return openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
		}, openfeature.TypeMismatchCode},
		{"no targeting key", func() (openfeature.InterfaceEvaluationDetails, error) {
			d, err := of.StringValueDetails(ctx, "string-flag", "dflt", openfeature.NewTargetlessEvaluationContext(nil))
			return openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
		}, openfeature.TargetingKeyMissingCode},
		{"invalid context", func() (openfeature.InterfaceEvaluationDetails, error) {
			d, err := of.StringValueDetails(ctx, "string-flag", "dflt", openfeature.NewEvaluationContext("u", map[string]any{"anonymous": "yes"}))
			return openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}, err
		}, openfeature.InvalidContextCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.eval()
			require.Error(t, err)
			assert.Equal(t, tt.code, d.ErrorCode)
			assert.Equal(t, openfeature.ErrorReason, d.Reason)
			assert.Empty(t, d.Variant)
		})
	}
	// The caller gets its default value on every error.
	s, _ := of.StringValue(ctx, "no-such-flag", "dflt", user)
	assert.Equal(t, "dflt", s)
	i, _ := of.IntValue(ctx, "fraction-flag", 42, user)
	assert.Equal(t, int64(42), i)
}

func TestProviderDisabledFlag(t *testing.T) {
	of, _ := newTestProvider(t, nil)
	d, err := of.StringValueDetails(context.Background(), "off-flag", "dflt", openfeature.NewEvaluationContext("u-1", nil))
	require.NoError(t, err)
	assert.Equal(t, "off", d.Value, "an off flag serves its off variation")
	assert.Equal(t, openfeature.DisabledReason, d.Reason)
	assert.NotContains(t, d.FlagMetadata, exposure.MetadataInExperiment)
}

func TestProviderExperimentMetadata(t *testing.T) {
	tests := []struct {
		name                  string
		opts                  []Option
		wantName, wantVariant string
	}{
		{"defaults: flag key and variation index", nil, "checkout-redesign", "1"},
		{"named", []Option{
			WithExperimentNames(map[string]string{"checkout-redesign": "Checkout Redesign"}),
			WithVariationNames(map[string]map[int]string{"checkout-redesign": {0: "Control", 1: "Redesign"}}),
		}, "Checkout Redesign", "Redesign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			of, _ := newTestProvider(t, nil, tt.opts...)
			d, err := of.StringValueDetails(context.Background(), "checkout-redesign", "control", openfeature.NewEvaluationContext("u-1", nil))
			require.NoError(t, err)
			assert.Equal(t, "redesign", d.Value)
			assert.Equal(t, openfeature.SplitReason, d.Reason)
			assert.Equal(t, tt.wantVariant, d.Variant)
			assert.Equal(t, true, d.FlagMetadata[exposure.MetadataInExperiment])
			assert.Equal(t, tt.wantName, d.FlagMetadata[exposure.MetadataExperimentName])
			assert.Equal(t, tt.wantVariant, d.FlagMetadata[exposure.MetadataExperimentVariant])
		})
	}

	// A flag that is not an experiment carries no experiment metadata...
	of, _ := newTestProvider(t, nil)
	d, err := of.StringValueDetails(context.Background(), "string-flag", "x", openfeature.NewEvaluationContext("u-1", nil))
	require.NoError(t, err)
	assert.NotContains(t, d.FlagMetadata, exposure.MetadataInExperiment)
	assert.NotContains(t, d.FlagMetadata, exposure.MetadataExperimentName)

	// ...unless strict: then it says "not in an experiment".
	strict, _ := newTestProvider(t, nil, WithStrictExperiments())
	d, err = strict.StringValueDetails(context.Background(), "string-flag", "x", openfeature.NewEvaluationContext("u-1", nil))
	require.NoError(t, err)
	assert.Equal(t, false, d.FlagMetadata[exposure.MetadataInExperiment])
	d, err = strict.StringValueDetails(context.Background(), "checkout-redesign", "x", openfeature.NewEvaluationContext("u-1", nil))
	require.NoError(t, err)
	assert.Equal(t, true, d.FlagMetadata[exposure.MetadataInExperiment])
}

func TestProviderLifecycle(t *testing.T) {
	p, err := NewProvider(newClient(t, testData(), nil, false))
	require.NoError(t, err)
	assert.Equal(t, "LaunchDarkly (exposure)", p.Metadata().Name)
	assert.Empty(t, p.Hooks())
	require.NoError(t, p.Init(openfeature.EvaluationContext{}))
	// Shutdown closes the client; goleak (TestMain) fails the run if its
	// data source goroutines survive.
	require.NoError(t, p.ShutdownWithContext(context.Background()))
}

func TestProviderNotReady(t *testing.T) {
	// A LaunchDarkly service that never serves flags.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	client, err := ldclient.MakeCustomClient("sdk-test-key", ldclient.Config{
		DataSource:       ldcomponents.PollingDataSource(),
		Events:           ldcomponents.NoEvents(),
		Logging:          ldcomponents.NoLogging(),
		DiagnosticOptOut: true,
		ServiceEndpoints: ldcomponents.RelayProxyEndpoints(down.URL),
	}, 0)
	require.NotNil(t, client)
	_ = err // not initialized yet: expected
	p, err := NewProvider(client, WithInitTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Shutdown)

	assert.ErrorContains(t, p.Init(openfeature.EvaluationContext{}), "no flag data")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, p.InitWithContext(ctx, openfeature.EvaluationContext{}), context.DeadlineExceeded)

	d := p.StringEvaluation(context.Background(), "string-flag", "dflt", openfeature.FlattenedContext{openfeature.TargetingKey: "u"})
	assert.Equal(t, "dflt", d.Value)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)
}

func TestNewProviderValidates(t *testing.T) {
	events := newEventServer(t)
	on := newClient(t, testData(), events, true)
	off := newClient(t, testData(), events, false)
	t.Cleanup(func() { _ = on.Close(); _ = off.Close() })

	tests := []struct {
		name   string
		client *ldclient.LDClient
		opts   []Option
		want   []error  // errors.Is targets besides exposure.ErrInvalidConfig
		names  []string // what the error names
	}{
		{"nil client", nil, nil, nil, []string{"nil *ldclient.LDClient"}},
		{"client with events", on, nil, []error{ErrEventsEnabled}, nil},
		{"nil option", off, []Option{nil}, nil, []string{"NewProvider: option 0 is nil"}},
		{"empty variation name", off, []Option{WithVariationNames(map[string]map[int]string{"f": {0: " "}})}, nil, []string{`"f"`}},
		{"empty experiment name", off, []Option{WithExperimentNames(map[string]string{"f": ""})}, nil, []string{`flag "f" has an empty name`}},
		{"non-positive init timeout", off, []Option{WithInitTimeout(0)}, nil, []string{"WithInitTimeout"}},
		{"every error at once", on, []Option{WithInitTimeout(0), nil}, []error{ErrEventsEnabled}, []string{"WithInitTimeout", "option 1 is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProvider(tt.client, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, target := range tt.want {
				assert.ErrorIs(t, err, target)
			}
			for _, n := range tt.names {
				assert.ErrorContains(t, err, n)
			}
		})
	}
}

func TestNewSinkValidates(t *testing.T) {
	events := newEventServer(t)
	on := newClient(t, testData(), events, true)
	off := newClient(t, testData(), events, false)
	t.Cleanup(func() { _ = on.Close() })
	p, err := NewProvider(off)
	require.NoError(t, err)
	t.Cleanup(p.Shutdown)

	tests := []struct {
		name   string
		p      *Provider
		client *ldclient.LDClient
		opts   []SinkOption
		want   []error  // errors.Is targets besides exposure.ErrInvalidConfig
		names  []string // what the error names
	}{
		{"nil provider", nil, on, nil, nil, []string{"nil *Provider"}},
		{"nil client", p, nil, nil, nil, []string{"nil *ldclient.LDClient"}},
		{"client without events", p, off, nil, []error{ErrEventsDisabled}, nil},
		{"nil option", p, on, []SinkOption{nil}, nil, []string{"NewSink: option 0 is nil"}},
		{"non-positive flush timeout", p, on, []SinkOption{WithFlushTimeout(-time.Second)}, nil, []string{"WithFlushTimeout must be positive, got -1s"}},
		{"nil logger", p, on, []SinkOption{WithLogger(nil)}, nil, []string{"WithLogger given a nil *slog.Logger"}},
		{"every error at once", nil, off, []SinkOption{WithLogger(nil), nil}, []error{ErrEventsDisabled},
			[]string{"nil *Provider", "WithLogger", "option 1 is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSink(tt.p, tt.client, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, target := range tt.want {
				assert.ErrorIs(t, err, target)
			}
			for _, n := range tt.names {
				assert.ErrorContains(t, err, n)
			}
		})
	}
}

func TestProviderEvaluationSendsNothing(t *testing.T) {
	events := newEventServer(t)
	client := newClient(t, testData(), events, false)
	p, err := NewProvider(client)
	require.NoError(t, err)
	of := newOFClient(t, p)
	for range 20 {
		_, err := of.StringValue(context.Background(), "checkout-redesign", "control", openfeature.NewEvaluationContext("u-1", nil))
		require.NoError(t, err)
	}
	client.FlushAndWait(time.Second)
	assert.Zero(t, events.postCount(), "an events-disabled client posts nothing")
}
