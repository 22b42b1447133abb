package mixpanelflags_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	mp "github.com/mixpanel/mixpanel-go/v2"
	"github.com/mixpanel/mixpanel-go/v2/flags"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

func TestNewProviderValidates(t *testing.T) {
	local := flags.DefaultLocalFlagsConfig()
	negPoll := local
	negPoll.PollingInterval = -time.Second
	negTimeout := flags.RemoteFlagsConfig{FlagsConfig: flags.FlagsConfig{RequestTimeout: -1}}
	for name, tc := range map[string]struct {
		token string
		opts  []mixpanelflags.Option
		want  []string
	}{
		"empty token":      {token: " ", want: []string{"empty project token"}},
		"nil option":       {token: "t", opts: []mixpanelflags.Option{nil}, want: []string{"option 0 is nil"}},
		"both modes":       {token: "t", opts: []mixpanelflags.Option{mixpanelflags.WithLocalEvaluation(local), mixpanelflags.WithRemoteEvaluation(flags.DefaultRemoteFlagsConfig())}, want: []string{"not both"}},
		"negative polling": {token: "t", opts: []mixpanelflags.Option{mixpanelflags.WithLocalEvaluation(negPoll)}, want: []string{"negative PollingInterval"}},
		"negative timeout": {token: "t", opts: []mixpanelflags.Option{mixpanelflags.WithRemoteEvaluation(negTimeout)}, want: []string{"negative RequestTimeout"}},
		"empty group key":  {token: "t", opts: []mixpanelflags.Option{mixpanelflags.WithGroupKeys("")}, want: []string{"empty key"}},
		"reserved key":     {token: "t", opts: []mixpanelflags.Option{mixpanelflags.WithGroupKeys("distinct_id")}, want: []string{"set by the provider"}},
		"every error":      {token: "", opts: []mixpanelflags.Option{nil, mixpanelflags.WithGroupKeys("")}, want: []string{"empty project token", "option 0 is nil", "empty key"}},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := mixpanelflags.NewProvider(tc.token, tc.opts...)
			assert.Nil(t, p)
			require.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}

	p, err := mixpanelflags.NewProvider("t")
	require.NoError(t, err)
	assert.Equal(t, mixpanelflags.ModeLocal, p.Mode(), "local evaluation is the default")
	assert.Equal(t, "Mixpanel feature flags (exposure)", p.Metadata().Name)
	assert.Nil(t, p.Hooks())
}

func TestEvaluatesEveryType(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			srv := flagstest.Start(t, definitions(t))
			c := clientFor(t, providerFor(t, srv, mode))
			u2 := user("u-2", map[string]any{"plan": "pro"})

			b, err := c.BooleanValueDetails(bg, "new-nav", false, u2)
			require.NoError(t, err)
			assert.Equal(t, true, b.Value)
			assert.Equal(t, "on", b.Variant)
			assert.Equal(t, openfeature.TargetingMatchReason, b.Reason)

			s, err := c.StringValueDetails(bg, "checkout-redesign", "none", u2)
			require.NoError(t, err)
			assert.Equal(t, "green", s.Value)
			assert.Equal(t, "redesign", s.Variant)
			assert.Equal(t, openfeature.SplitReason, s.Reason)

			i, err := c.IntValueDetails(bg, "pro-pricing", 0, u2)
			require.NoError(t, err)
			assert.Equal(t, int64(20), i.Value)

			f, err := c.FloatValueDetails(bg, "discount", 0, u2)
			require.NoError(t, err)
			assert.InDelta(t, 0.15, f.Value, 1e-12)
			fi, err := c.FloatValue(bg, "pro-pricing", 0, u2)
			require.NoError(t, err)
			assert.InDelta(t, 20.0, fi, 1e-12, "a whole number is a float too")

			o, err := c.ObjectValueDetails(bg, "layout", nil, u2)
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"columns": float64(3), "sidebar": false}, o.Value)
			assert.Equal(t, "wide", o.Variant)

			u1 := user("u-1", nil)
			s, err = c.StringValueDetails(bg, "checkout-redesign", "none", u1)
			require.NoError(t, err)
			assert.Equal(t, "grey", s.Value)
			assert.Equal(t, "control", s.Variant)
		})
	}
}

// TestFallbacks maps each of the SDK's fallbacks, and each mismatch, to
// OpenFeature: the caller's default, the reason, the error code.
func TestFallbacks(t *testing.T) {
	type want struct {
		code   openfeature.ErrorCode // "" for no error
		reason openfeature.Reason
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			srv := flagstest.Start(t, definitions(t))
			c := clientFor(t, providerFor(t, srv, mode, mixpanelflags.WithGroupKeys("company_id")))
			notFound := want{openfeature.FlagNotFoundCode, openfeature.ErrorReason}
			noMatch := want{"", openfeature.DefaultReason}
			if mode == mixpanelflags.ModeRemote {
				// The flags API lists only the flags a context is enrolled in.
				noMatch = notFound
			}
			for name, tc := range map[string]struct {
				flag string
				ec   openfeature.EvaluationContext
				as   string // the evaluation's type; "" for object
				want want
			}{
				"flag not found":      {flag: "nope", ec: user("u-1", nil), want: notFound},
				"no rollout match":    {flag: "beta", ec: user("u-1", nil), want: noMatch},
				"runtime rule fails":  {flag: "pro-pricing", ec: user("u-1", map[string]any{"plan": "free"}), want: noMatch},
				"no subject":          {flag: "checkout-redesign", ec: openfeature.NewTargetlessEvaluationContext(nil), want: want{openfeature.TargetingKeyMissingCode, openfeature.ErrorReason}},
				"user id not string":  {flag: "checkout-redesign", ec: user("u-1", map[string]any{exposure.AttributeUserID: 42}), want: want{openfeature.InvalidContextCode, openfeature.ErrorReason}},
				"string as bool":      {flag: "checkout-redesign", ec: user("u-2", nil), as: "bool", want: want{openfeature.TypeMismatchCode, openfeature.ErrorReason}},
				"fraction as integer": {flag: "discount", ec: user("u-2", nil), as: "int", want: want{openfeature.TypeMismatchCode, openfeature.ErrorReason}},
				"object as float":     {flag: "layout", ec: user("u-2", nil), as: "float", want: want{openfeature.TypeMismatchCode, openfeature.ErrorReason}},
			} {
				t.Run(name, func(t *testing.T) {
					d, err := evalAs(c, tc.as, tc.flag, tc.ec)
					assert.Equal(t, tc.want.code, d.ErrorCode, d.ErrorMessage)
					assert.Equal(t, tc.want.reason, d.Reason)
					assert.Empty(t, d.Variant)
					assert.Nil(t, d.FlagMetadata[exposure.MetadataExperimentName], "a fallback is not an assignment")
					if tc.want.code == "" {
						assert.NoError(t, err)
						assert.Equal(t, "the default", d.Value)
						assert.Equal(t, false, d.FlagMetadata[exposure.MetadataInExperiment])
					} else {
						assert.Error(t, err)
					}
				})
			}
		})
	}
}

// evalAs evaluates flag as a value of type as ("" is an object, with the
// default "the default") and returns the details without their value type.
func evalAs(c *openfeature.Client, as, flag string, ec openfeature.EvaluationContext) (openfeature.InterfaceEvaluationDetails, error) {
	var d openfeature.EvaluationDetails
	var err error
	switch as {
	case "bool":
		var b openfeature.BooleanEvaluationDetails
		b, err = c.BooleanValueDetails(bg, flag, false, ec)
		d = b.EvaluationDetails
	case "int":
		var i openfeature.IntEvaluationDetails
		i, err = c.IntValueDetails(bg, flag, 0, ec)
		d = i.EvaluationDetails
	case "float":
		var f openfeature.FloatEvaluationDetails
		f, err = c.FloatValueDetails(bg, flag, 0, ec)
		d = f.EvaluationDetails
	default:
		return c.ObjectValueDetails(bg, flag, "the default", ec)
	}
	return openfeature.InterfaceEvaluationDetails{EvaluationDetails: d}, err
}

func TestGroupKeyFlags(t *testing.T) {
	srv := flagstest.Start(t, definitions(t))
	without := clientFor(t, providerFor(t, srv, mixpanelflags.ModeLocal))
	d, err := without.BooleanValueDetails(bg, "team-plan", false, user("u-1", map[string]any{"company_id": "acme"}))
	require.Error(t, err)
	assert.Equal(t, openfeature.InvalidContextCode, d.ErrorCode, "company_id is only a custom property")

	for _, mode := range modes {
		c := clientFor(t, providerFor(t, srv, mode, mixpanelflags.WithGroupKeys("company_id")))
		on, err := c.BooleanValue(bg, "team-plan", false, user("u-1", map[string]any{"company_id": "acme"}))
		require.NoError(t, err, mode)
		assert.True(t, on, mode)
	}
}

func TestBackendDown(t *testing.T) {
	t.Run("remote: each evaluation fails", func(t *testing.T) {
		srv := flagstest.Start(t, definitions(t))
		c := clientFor(t, providerFor(t, srv, mixpanelflags.ModeRemote))
		srv.SetDown(true)
		d, err := c.StringValueDetails(bg, "checkout-redesign", "grey", user("u-2", nil))
		require.Error(t, err)
		assert.Equal(t, "grey", d.Value)
		assert.Equal(t, openfeature.GeneralCode, d.ErrorCode)
		assert.Contains(t, d.ErrorMessage, flags.FallbackReasonBackendError)
		assert.NotContains(t, d.ErrorMessage, srv.Token(), "the token is redacted")
	})
	t.Run("local: init fails, evaluations are not ready", func(t *testing.T) {
		srv := flagstest.Start(t, definitions(t))
		srv.SetDown(true)
		p := providerFor(t, srv, mixpanelflags.ModeLocal)
		err := p.Init(openfeature.EvaluationContext{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "503")
		d := p.StringEvaluation(bg, "checkout-redesign", "grey", openfeature.FlattenedContext{openfeature.TargetingKey: "u-2"})
		assert.Equal(t, "grey", d.Value)
		assert.Contains(t, d.ResolutionError.Error(), string(openfeature.ProviderNotReadyCode))
	})
}

func TestExperimentMetadataAndProperties(t *testing.T) {
	prop := func(name string) string { return exposure.MetadataPropertyPrefix + name }
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			srv := flagstest.Start(t, definitions(t))
			c := clientFor(t, providerFor(t, srv, mode))

			d, err := c.StringValueDetails(bg, "checkout-redesign", "none", user("u-2", nil))
			require.NoError(t, err)
			md := d.FlagMetadata
			assert.Equal(t, "checkout-redesign", md[exposure.MetadataExperimentName], "Mixpanel names the experiment by the flag key")
			assert.Equal(t, "redesign", md[exposure.MetadataExperimentVariant])
			assert.Equal(t, true, md[exposure.MetadataInExperiment])
			assert.Equal(t, "exp-checkout-1", md[prop("$experiment_id")])
			assert.Equal(t, true, md[prop("$is_experiment_active")])
			assert.Equal(t, "feature_flag", md[prop("$experiment_type")])
			assert.Equal(t, mode, md[prop("Flag evaluation mode")])
			assert.IsType(t, float64(0), md[prop("Variant fetch latency (ms)")])
			assert.NotContains(t, md, prop("$is_qa_tester"), "only a QA tester's evaluation says")

			qa, err := c.StringValueDetails(bg, "checkout-redesign", "none", user("qa-1", nil))
			require.NoError(t, err)
			assert.Equal(t, "green", qa.Value)
			assert.Equal(t, openfeature.TargetingMatchReason, qa.Reason, "forced, not split")
			assert.Equal(t, true, qa.FlagMetadata[exposure.MetadataInExperiment], "sent as Mixpanel sends it")
			assert.Equal(t, true, qa.FlagMetadata[prop("$is_qa_tester")])

			plain, err := c.BooleanValueDetails(bg, "new-nav", false, user("u-2", nil))
			require.NoError(t, err)
			assert.Equal(t, openfeature.FlagMetadata{exposure.MetadataInExperiment: false}, plain.FlagMetadata,
				"a flag linked to no experiment is never an assignment")
		})
	}
}

func TestRuntimeRuleOnCustomProperty(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			srv := flagstest.Start(t, definitions(t))
			c := clientFor(t, providerFor(t, srv, mode))
			for plan, want := range map[any]int64{"pro": 20, "PRO": 20, "free": 0, 7: 0} {
				v, _ := c.IntValue(bg, "pro-pricing", 0, user("u-1", map[string]any{"plan": plan}))
				assert.Equal(t, want, v, "plan %v", plan)
			}
			if mode == mixpanelflags.ModeRemote {
				evs := srv.Evaluations()
				require.NotEmpty(t, evs)
				assert.Equal(t, "pro-pricing", evs[0].FlagKey)
				assert.Equal(t, "u-1", evs[0].Context["distinct_id"])
				assert.Contains(t, []any{"pro", "PRO", "free", float64(7)}, evs[0].Context["custom_properties"].(map[string]any)["plan"])
			}
		})
	}
}

func TestFlagContext(t *testing.T) {
	for name, tc := range map[string]struct {
		flat openfeature.FlattenedContext
		want flags.FlagContext
	}{
		"targeting key": {
			flat: openfeature.FlattenedContext{openfeature.TargetingKey: "u-1", "plan": "pro"},
			want: flags.FlagContext{"distinct_id": "u-1", "custom_properties": map[string]any{"plan": "pro"}},
		},
		"user id wins": {
			flat: openfeature.FlattenedContext{openfeature.TargetingKey: "t", exposure.AttributeUserID: "u-1", exposure.AttributeDeviceID: "d-1"},
			want: flags.FlagContext{"distinct_id": "u-1", "device_id": "d-1", "custom_properties": map[string]any{}},
		},
		"anonymous device": {
			flat: openfeature.FlattenedContext{openfeature.TargetingKey: "t", exposure.AttributeDeviceID: "d-1"},
			want: flags.FlagContext{"distinct_id": "$device:d-1", "device_id": "d-1", "custom_properties": map[string]any{}},
		},
		"no subject": {
			flat: openfeature.FlattenedContext{"plan": "pro"},
			want: flags.FlagContext{"custom_properties": map[string]any{"plan": "pro"}},
		},
		"group key": {
			flat: openfeature.FlattenedContext{openfeature.TargetingKey: "u-1", "company_id": "acme"},
			want: flags.FlagContext{"distinct_id": "u-1", "company_id": "acme", "custom_properties": map[string]any{"company_id": "acme"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := mixpanelflags.FlagContext(tc.flat, "company_id")
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			// The subject is the one the Tracker sends the exposure for.
			if id, err := exposure.DefaultIdentity(toEvalContext(tc.flat)); err == nil {
				assert.Equal(t, id.DistinctID, got["distinct_id"])
			}
		})
	}
	_, err := mixpanelflags.FlagContext(openfeature.FlattenedContext{exposure.AttributeDeviceID: 1})
	assert.ErrorContains(t, err, "not a string")
}

func toEvalContext(flat openfeature.FlattenedContext) openfeature.EvaluationContext {
	attrs := map[string]any{}
	key := ""
	for k, v := range flat {
		if k == openfeature.TargetingKey {
			key, _ = v.(string)
			continue
		}
		attrs[k] = v
	}
	return openfeature.NewEvaluationContext(key, attrs)
}

// TestEvaluationSendsNothing evaluates through the provider in both modes:
// the fake flags API (which fails the test on any ingestion request) sees
// only flag requests. The control evaluates once with the SDK's own
// GetVariantValue and sees the fake catch its $experiment_started.
func TestEvaluationSendsNothing(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			srv := flagstest.Start(t, definitions(t))
			c := clientFor(t, providerFor(t, srv, mode))
			for _, u := range []string{"u-1", "u-2", "qa-1"} {
				_, err := c.StringValue(bg, "checkout-redesign", "none", user(u, nil))
				require.NoError(t, err)
			}
			assert.Empty(t, srv.Ingested())
			assert.Zero(t, srv.Requests()[flagstest.EndpointIngest])
			want := map[string]int{flagstest.EndpointDefinitions: 1}
			if mode == mixpanelflags.ModeRemote {
				want = map[string]int{flagstest.EndpointFlags: 3}
			}
			assert.Equal(t, want, srv.Requests())
		})
	}

	t.Run("control: the SDK's own evaluation sends an exposure", func(t *testing.T) {
		srv, err := flagstest.NewServer(definitions(t))
		require.NoError(t, err)
		defer srv.Close()
		cfg := srv.LocalConfig()
		cfg.EnablePolling = false
		client := mp.NewApiClient(srv.Token(), mp.ProxyApiLocation(srv.URL), mp.HttpClient(srv.Client()), mp.WithLocalFlags(cfg))
		require.NoError(t, client.LocalFlags.StartPollingForDefinitions(bg))
		v, err := client.LocalFlags.GetVariantValue(bg, "checkout-redesign", "none", flags.FlagContext{"distinct_id": "u-2"})
		require.NoError(t, err)
		assert.Equal(t, "green", v)
		ing := srv.Ingested()
		require.Len(t, ing, 1)
		assert.Equal(t, "/track", ing[0].Path)
		assert.Contains(t, ing[0].Body, "$experiment_started")
	})
}

func TestLifecycle(t *testing.T) {
	srv := flagstest.Start(t, definitions(t))
	cfg := srv.LocalConfig()
	cfg.PollingInterval = 20 * time.Millisecond
	p, err := mixpanelflags.NewProvider(srv.Token(), mixpanelflags.WithLocalEvaluation(cfg))
	require.NoError(t, err)
	flat := openfeature.FlattenedContext{openfeature.TargetingKey: "u-2"}
	notReady := func() bool {
		return p.StringEvaluation(bg, "checkout-redesign", "", flat).ResolutionError != (openfeature.ResolutionError{})
	}
	assert.True(t, notReady(), "before Init")

	api := isolated.NewAPI()
	var mu sync.Mutex
	var got []string // event types, repeats collapsed
	cb := func(t openfeature.EventType) openfeature.EventCallback {
		f := func(openfeature.EventDetails) {
			mu.Lock()
			defer mu.Unlock()
			if len(got) == 0 || got[len(got)-1] != string(t) {
				got = append(got, string(t))
			}
		}
		return &f
	}
	for _, et := range []openfeature.EventType{openfeature.ProviderReady, openfeature.ProviderStale, openfeature.ProviderError} {
		api.AddHandler(et, cb(et))
	}
	require.NoError(t, api.SetProviderAndWait(bg, p))
	c := api.NewClient()
	assert.False(t, notReady())
	seen := func(want ...string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Join(got, ",") == strings.Join(want, ",")
		}
	}
	require.Eventually(t, seen("PROVIDER_READY"), 5*time.Second, 5*time.Millisecond)

	// Polling picks up new definitions.
	require.Eventually(t, func() bool { return srv.Requests()[flagstest.EndpointDefinitions] >= 3 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, srv.SetDefinitions([]byte(strings.ReplaceAll(string(definitions(t)), `"value": "green"`, `"value": "teal"`))))
	require.Eventually(t, func() bool {
		v, _ := c.StringValue(bg, "checkout-redesign", "", user("u-2", nil))
		return v == "teal"
	}, 5*time.Second, 5*time.Millisecond)

	// A failed poll makes the provider stale (the last definitions serve),
	// a later success ready again.
	srv.SetDown(true)
	require.Eventually(t, seen("PROVIDER_READY", "PROVIDER_STALE"), 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, openfeature.StaleState, c.State())
	v, err := c.StringValue(bg, "checkout-redesign", "", user("u-2", nil))
	require.NoError(t, err)
	assert.Equal(t, "teal", v)
	srv.SetDown(false)
	require.Eventually(t, seen("PROVIDER_READY", "PROVIDER_STALE", "PROVIDER_READY"), 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, openfeature.ReadyState, c.State())

	// Shutdown stops polling, and the provider answers not ready.
	require.NoError(t, api.Shutdown(bg))
	assert.True(t, notReady())
	n := srv.Requests()[flagstest.EndpointDefinitions]
	time.Sleep(100 * time.Millisecond) // five polling intervals
	assert.Equal(t, n, srv.Requests()[flagstest.EndpointDefinitions], "no poll after Shutdown")

	// A provider can be initialized again.
	require.NoError(t, p.InitWithContext(bg, openfeature.EvaluationContext{}))
	assert.False(t, notReady())
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	require.NoError(t, p.ShutdownWithContext(ctx))
}

func TestConcurrentEvaluations(t *testing.T) {
	srv := flagstest.Start(t, definitions(t))
	cfg := srv.LocalConfig()
	cfg.PollingInterval = time.Millisecond
	p, err := mixpanelflags.NewProvider(srv.Token(), mixpanelflags.WithLocalEvaluation(cfg))
	require.NoError(t, err)
	c := clientFor(t, p)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 200 {
				v, err := c.StringValue(bg, "checkout-redesign", "", user("u-2", map[string]any{"g": g}))
				assert.NoError(t, err)
				assert.Equal(t, "green", v)
			}
		})
	}
	wg.Wait()
}
