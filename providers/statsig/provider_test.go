package statsig

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/statsig/statsigtest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	sdk "github.com/statsig-io/go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		// The Statsig SDK's Shutdown leaves these behind: its pollers sleep
		// until their next tick, then stop; its log flusher ranges over a
		// ticker channel that is never closed (one goroutine per client).
		goleak.IgnoreAnyFunction("github.com/statsig-io/go-sdk.(*logger).backgroundFlush"),
		goleak.IgnoreAnyFunction("github.com/statsig-io/go-sdk.(*TTLSet).StartResetThread.func1"),
		goleak.IgnoreAnyFunction("github.com/statsig-io/go-sdk.(*store).pollForIDListChanges"),
		goleak.IgnoreAnyFunction("github.com/statsig-io/go-sdk.(*store).pollForRulesetChanges"),
	)
}

func readSpecs(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// newAPI starts a fake Statsig API serving testdata/specs.json.
func newAPI(t testing.TB) *statsigtest.Server {
	t.Helper()
	return statsigtest.Start(t, readSpecs(t, "specs.json"))
}

// newOFClient registers p on an isolated OpenFeature API (which calls Init)
// and returns a client; the API's shutdown (at cleanup) shuts p down.
func newOFClient(t testing.TB, p openfeature.FeatureProvider) *openfeature.Client {
	t.Helper()
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return api.NewClient()
}

func newTestProvider(t *testing.T, srv *statsigtest.Server, opts ...Option) (*openfeature.Client, *Provider) {
	t.Helper()
	p, err := NewProvider("secret-test", srv.Options(), opts...)
	require.NoError(t, err)
	return newOFClient(t, p), p
}

var ctxBG = context.Background()

func user(id string, attrs map[string]any) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(id, attrs)
}

func TestProviderEvaluatesEveryType(t *testing.T) {
	of, _ := newTestProvider(t, newAPI(t))
	u := user("u-1", nil)

	b, err := of.BooleanValueDetails(ctxBG, "new_nav", true, user("u-1", map[string]any{"country": "FR"}))
	require.NoError(t, err)
	assert.True(t, b.Value)
	assert.Equal(t, "true", b.Variant)
	assert.Equal(t, openfeature.TargetingMatchReason, b.Reason)
	assert.Equal(t, "french users", b.FlagMetadata[MetadataGroupName])

	b, err = of.BooleanValueDetails(ctxBG, "new_nav", true, u)
	require.NoError(t, err)
	assert.False(t, b.Value)
	assert.Equal(t, openfeature.DefaultReason, b.Reason)

	b, err = of.BooleanValueDetails(ctxBG, "checkout_redesign.show_banner", false, u)
	require.NoError(t, err)
	assert.True(t, b.Value)

	s, err := of.StringValueDetails(ctxBG, "checkout_redesign.button_color", "grey", u)
	require.NoError(t, err)
	assert.Equal(t, "green", s.Value)
	assert.Equal(t, "Test", s.Variant)

	f, err := of.FloatValueDetails(ctxBG, "checkout_redesign.discount", 0, u)
	require.NoError(t, err)
	assert.Equal(t, 0.1, f.Value)

	i, err := of.IntValueDetails(ctxBG, "checkout_redesign.columns", 0, u)
	require.NoError(t, err)
	assert.Equal(t, int64(2), i.Value)

	o, err := of.ObjectValueDetails(ctxBG, "pricing", nil, user("u-1", map[string]any{"country": "FR"}))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"currency": "EUR", "fee": 2.5, "seats": float64(5)}, o.Value)
	assert.Equal(t, "eu users", o.Variant)
	assert.Equal(t, openfeature.TargetingMatchReason, o.Reason)
	assert.NotContains(t, o.FlagMetadata, exposure.MetadataExperimentName, "a dynamic config is no experiment")

	o, err = of.ObjectValueDetails(ctxBG, "pricing", nil, u)
	require.NoError(t, err)
	assert.Equal(t, "USD", o.Value.(map[string]any)["currency"])
	assert.Equal(t, openfeature.DefaultReason, o.Reason)
}

func TestProviderExperimentMetadata(t *testing.T) {
	of, _ := newTestProvider(t, newAPI(t))
	tests := []struct {
		name   string
		ec     openfeature.EvaluationContext
		value  string
		in     bool
		group  string
		reason openfeature.Reason
	}{
		{"test group", user("u-1", nil), "green", true, "Test", openfeature.SplitReason},
		{"control group", user("u-control", nil), "grey", true, "Control", openfeature.SplitReason},
		{"outside the targeting", user("u-2", map[string]any{"country": "CN"}), "grey", false, "", openfeature.TargetingMatchReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := of.StringValueDetails(ctxBG, "checkout_redesign.button_color", "none", tt.ec)
			require.NoError(t, err)
			assert.Equal(t, tt.value, d.Value)
			assert.Equal(t, tt.reason, d.Reason)
			assert.Equal(t, "checkout_redesign", d.FlagMetadata[exposure.MetadataExperimentName])
			assert.Equal(t, tt.in, d.FlagMetadata[exposure.MetadataInExperiment])
			if tt.in {
				assert.Equal(t, tt.group, d.FlagMetadata[exposure.MetadataExperimentVariant])
				assert.Equal(t, tt.group, d.Variant)
			} else {
				assert.NotContains(t, d.FlagMetadata, exposure.MetadataExperimentVariant)
			}
		})
	}
}

func TestProviderErrors(t *testing.T) {
	of, _ := newTestProvider(t, newAPI(t))
	u := user("u-1", nil)
	type result struct {
		code openfeature.ErrorCode
		err  error
	}
	tests := []struct {
		name string
		eval func() result
		want openfeature.ErrorCode
	}{
		{"unknown gate", func() result {
			d, err := of.BooleanValueDetails(ctxBG, "no_such_gate", true, u)
			return result{d.ErrorCode, err}
		}, openfeature.FlagNotFoundCode},
		{"unknown config", func() result {
			d, err := of.ObjectValueDetails(ctxBG, "no_such_config", nil, u)
			return result{d.ErrorCode, err}
		}, openfeature.FlagNotFoundCode},
		{"unknown parameter", func() result {
			d, err := of.StringValueDetails(ctxBG, "checkout_redesign.no_such_param", "x", u)
			return result{d.ErrorCode, err}
		}, openfeature.FlagNotFoundCode},
		{"string parameter as bool", func() result {
			d, err := of.BooleanValueDetails(ctxBG, "checkout_redesign.button_color", true, u)
			return result{d.ErrorCode, err}
		}, openfeature.TypeMismatchCode},
		{"number as string", func() result {
			d, err := of.StringValueDetails(ctxBG, "checkout_redesign.columns", "x", u)
			return result{d.ErrorCode, err}
		}, openfeature.TypeMismatchCode},
		{"fraction as int", func() result {
			d, err := of.IntValueDetails(ctxBG, "checkout_redesign.discount", 1, u)
			return result{d.ErrorCode, err}
		}, openfeature.TypeMismatchCode},
		{"string as float", func() result {
			d, err := of.FloatValueDetails(ctxBG, "checkout_redesign.button_color", 1, u)
			return result{d.ErrorCode, err}
		}, openfeature.TypeMismatchCode},
		{"config as a gate", func() result {
			d, err := of.BooleanValueDetails(ctxBG, "pricing", true, u)
			return result{d.ErrorCode, err}
		}, openfeature.TypeMismatchCode},
		{"gate as a config", func() result {
			d, err := of.ObjectValueDetails(ctxBG, "new_nav", nil, u)
			return result{d.ErrorCode, err}
		}, openfeature.TypeMismatchCode},
		{"config as a string", func() result {
			d, err := of.StringValueDetails(ctxBG, "pricing", "x", u)
			return result{d.ErrorCode, err}
		}, openfeature.TypeMismatchCode},
		{"no user", func() result {
			d, err := of.BooleanValueDetails(ctxBG, "new_nav", true, openfeature.NewTargetlessEvaluationContext(nil))
			return result{d.ErrorCode, err}
		}, openfeature.TargetingKeyMissingCode},
		{"invalid user", func() result {
			d, err := of.BooleanValueDetails(ctxBG, "new_nav", true, user("u-1", map[string]any{"email": 3}))
			return result{d.ErrorCode, err}
		}, openfeature.InvalidContextCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.eval()
			require.Error(t, r.err)
			assert.Equal(t, tt.want, r.code)
		})
	}
	s, _ := of.StringValue(ctxBG, "checkout_redesign.columns", "dflt", u)
	assert.Equal(t, "dflt", s, "the caller gets its default value")
}

func TestProviderDisabledGate(t *testing.T) {
	of, _ := newTestProvider(t, newAPI(t))
	d, err := of.BooleanValueDetails(ctxBG, "killed_gate", true, user("u-1", nil))
	require.NoError(t, err)
	assert.False(t, d.Value)
	assert.Equal(t, openfeature.DisabledReason, d.Reason)
}

func TestProviderCustomUnitsAndSeparator(t *testing.T) {
	of, _ := newTestProvider(t, newAPI(t), WithParameterSeparator("/"))
	d, err := of.StringValueDetails(ctxBG, "checkout_redesign/button_color", "x",
		openfeature.NewTargetlessEvaluationContext(map[string]any{"userID": "u-control"}))
	require.NoError(t, err)
	assert.Equal(t, "grey", d.Value, "userID attribute stands for the targeting key")
	d, err = of.StringValueDetails(ctxBG, "checkout_redesign/button_color", "x",
		openfeature.NewTargetlessEvaluationContext(map[string]any{"customIDs": map[string]any{"stableID": "s-1"}}))
	require.NoError(t, err, "a user with only custom ids is a user")
	assert.Equal(t, "green", d.Value)
}

func TestUserFrom(t *testing.T) {
	u, err := UserFrom(user("u-1", map[string]any{
		"email": "a@example.com", "ip": "1.2.3.4", "userAgent": "UA", "country": "FR", "locale": "fr_FR", "appVersion": "1.2",
		"customIDs": map[string]any{"stableID": "s-1"}, "privateAttributes": map[string]any{"age": 42}, "plan": "pro",
	}))
	require.NoError(t, err)
	assert.Equal(t, sdk.User{
		UserID: "u-1", Email: "a@example.com", IpAddress: "1.2.3.4", UserAgent: "UA", Country: "FR", Locale: "fr_FR", AppVersion: "1.2",
		CustomIDs: map[string]string{"stableID": "s-1"}, PrivateAttributes: map[string]any{"age": 42}, Custom: map[string]any{"plan": "pro"},
	}, u)
	for name, ec := range map[string]openfeature.EvaluationContext{
		"nothing":             openfeature.NewTargetlessEvaluationContext(nil),
		"customIDs not map":   user("u", map[string]any{"customIDs": "s-1"}),
		"customID not string": user("u", map[string]any{"customIDs": map[string]any{"a": 1}}),
		"private not map":     user("u", map[string]any{"privateAttributes": 1}),
		"userID not string":   openfeature.NewTargetlessEvaluationContext(map[string]any{"userID": 1}),
	} {
		_, err := UserFrom(ec)
		assert.Error(t, err, name)
	}
}

func TestProviderLifecycle(t *testing.T) {
	srv := newAPI(t)
	p, err := NewProvider("secret-test", srv.Options())
	require.NoError(t, err)
	assert.Equal(t, "Statsig (exposure)", p.Metadata().Name)
	assert.Empty(t, p.Hooks())
	assert.Nil(t, p.Client())

	// Before Init: not ready.
	d := p.BooleanEvaluation(ctxBG, "new_nav", true, openfeature.FlattenedContext{openfeature.TargetingKey: "u"})
	assert.True(t, d.Value)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)

	require.NoError(t, p.Init(openfeature.EvaluationContext{}))
	require.NotNil(t, p.Client())
	p.Shutdown()
	assert.Nil(t, p.Client())

	_, err = NewProvider("", &sdk.Options{LocalMode: true})
	assert.NoError(t, err, "local mode needs no key")
}

func TestNewProviderValidates(t *testing.T) {
	tests := []struct {
		name   string
		sdkKey string
		opts   []Option
		want   []string // what the error names
	}{
		{"client key", "client-key", nil, []string{"server secret key"}},
		{"empty separator", "secret-test", []Option{WithParameterSeparator("")}, []string{"WithParameterSeparator given an empty separator"}},
		{"nil option", "secret-test", []Option{nil}, []string{"NewProvider: option 0 is nil"}},
		{"every error at once", "", []Option{WithParameterSeparator("/"), nil, WithParameterSeparator("")},
			[]string{"server secret key", "option 1 is nil", "empty separator"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProvider(tt.sdkKey, nil, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestNewSinkValidates(t *testing.T) {
	p, err := NewProvider("secret-test", nil)
	require.NoError(t, err)
	tests := []struct {
		name string
		p    *Provider
		opts []SinkOption
		want []string // what the error names
	}{
		{"nil provider", nil, nil, []string{"nil *Provider"}},
		{"nil logger", p, []SinkOption{WithLogger(nil)}, []string{"WithLogger given a nil *slog.Logger"}},
		{"nil option", p, []SinkOption{nil}, []string{"NewSink: option 0 is nil"}},
		{"every error at once", nil, []SinkOption{WithLogger(nil), nil}, []string{"nil *Provider", "WithLogger", "option 1 is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSink(tt.p, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestProviderInitFailsWithoutRules(t *testing.T) {
	srv := newAPI(t)
	srv.Close() // nobody home
	o := srv.Options()
	o.InitTimeout = 2 * time.Second
	p, err := NewProvider("secret-test", o)
	require.NoError(t, err)
	t.Cleanup(p.Shutdown)
	err = p.Init(openfeature.EvaluationContext{})
	assert.ErrorContains(t, err, "without rules")
	assert.NotContains(t, err.Error(), "secret-test", "the SDK key must not leak into errors")
	d := p.StringEvaluation(ctxBG, "checkout_redesign.button_color", "dflt", openfeature.FlattenedContext{openfeature.TargetingKey: "u"})
	assert.Equal(t, "dflt", d.Value)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)
}

// bootstrap is testdata/specs.json as the SDK wants it for BootstrapValues.
func bootstrap(t *testing.T) string {
	var m map[string]any
	require.NoError(t, json.Unmarshal(readSpecs(t, "specs.json"), &m))
	m["time"], m["has_updates"] = 1, true
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

func TestProviderLearnsExperimentsFromBootstrap(t *testing.T) {
	o := &sdk.Options{
		LocalMode:            false,
		BootstrapValues:      bootstrap(t),
		API:                  "http://127.0.0.1:1", // unreachable: rules come from the bootstrap
		IPCountryOptions:     sdk.IPCountryOptions{Disabled: true},
		UAParserOptions:      sdk.UAParserOptions{Disabled: true},
		OutputLoggerOptions:  sdk.OutputLoggerOptions{LogCallback: func(string, error) {}},
		StatsigLoggerOptions: sdk.StatsigLoggerOptions{DisableAllLogging: true},
	}
	p, err := NewProvider("secret-test", o)
	require.NoError(t, err)
	of := newOFClient(t, p)
	d, err := of.StringValueDetails(ctxBG, "checkout_redesign.button_color", "x", user("u-1", nil))
	require.NoError(t, err)
	assert.Equal(t, "green", d.Value)
	assert.Equal(t, true, d.FlagMetadata[exposure.MetadataInExperiment])
}

func TestProviderEvaluationLogsNothing(t *testing.T) {
	srv := newAPI(t)
	p, err := NewProvider("secret-test", srv.Options())
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(ctxBG, p))
	of := api.NewClient()
	for range 10 {
		_, _ = of.BooleanValue(ctxBG, "new_nav", false, user("u-1", nil))
		_, _ = of.StringValue(ctxBG, "checkout_redesign.button_color", "x", user("u-1", nil))
		_, _ = of.ObjectValue(ctxBG, "pricing", nil, user("u-1", nil))
	}
	require.NoError(t, api.Shutdown(ctxBG)) // the SDK flushes its log at shutdown
	assert.Empty(t, srv.Exposures())
	assert.Zero(t, srv.Exceptions())
}
