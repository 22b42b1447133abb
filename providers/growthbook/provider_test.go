package growthbook_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	gb "github.com/growthbook/growthbook-golang"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/providers/growthbook"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func featuresJSON(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/features.json")
	require.NoError(t, err)
	return string(b)
}

// tracking records every tracking call GrowthBook makes.
type tracking struct {
	mu          sync.Mutex
	experiments []string // "experimentKey/variationKey"
	usages      []string
	events      []string
}

func (tr *tracking) experiment(_ context.Context, e *gb.Experiment, r *gb.ExperimentResult, _ *gb.TrackingUserContext, _ any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.experiments = append(tr.experiments, e.Key+"/"+r.Key)
}

func (tr *tracking) usage(_ context.Context, key string, _ *gb.FeatureResult, _ any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.usages = append(tr.usages, key)
}

func (tr *tracking) event(_ context.Context, name string, _ gb.EventProperties, _ *gb.EventUserContext) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events = append(tr.events, name)
}

func (tr *tracking) calls() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.experiments) + len(tr.usages) + len(tr.events)
}

// newTrackedClient is a GrowthBook client loaded with the test features and
// configured, like many production clients, with every tracking callback.
func newTrackedClient(t testing.TB, tr *tracking, opts ...gb.ClientOption) *gb.Client {
	t.Helper()
	base := []gb.ClientOption{
		gb.WithJsonFeatures(featuresJSON(t)),
		gb.WithLogger(quiet),
		gb.WithExperimentCallback(tr.experiment),
		gb.WithFeatureUsageCallback(tr.usage),
		gb.WithEventLogger(tr.event),
	}
	c, err := gb.NewClient(context.Background(), append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newOFClient(t testing.TB, p openfeature.FeatureProvider) *openfeature.Client {
	t.Helper()
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return api.NewClient()
}

func user(id string, attrs ...any) openfeature.EvaluationContext {
	m := map[string]any{}
	for i := 0; i+1 < len(attrs); i += 2 {
		m[attrs[i].(string)] = attrs[i+1]
	}
	return openfeature.NewEvaluationContext(id, m)
}

// userIn returns a user id GrowthBook assigns to variation key of the
// checkout experiment (assignment is a deterministic hash of the id).
func userIn(t testing.TB, p *growthbook.Provider, variationKey string) string {
	t.Helper()
	for i := range 1000 {
		id := "user-" + strconv.Itoa(i)
		d := p.StringEvaluation(context.Background(), "checkout-redesign", "", openfeature.FlattenedContext{openfeature.TargetingKey: id})
		if d.FlagMetadata[growthbook.MetadataVariationKey] == variationKey {
			return id
		}
	}
	t.Fatalf("no user in variation %q", variationKey)
	return ""
}

func TestNewProviderValidates(t *testing.T) {
	client := newTrackedClient(t, &tracking{})
	tests := []struct {
		name   string
		client *gb.Client
		opts   []growthbook.Option
		want   []string // what the error names
	}{
		{"nil client", nil, nil, []string{"nil *growthbook.Client"}},
		{"nil option", client, []growthbook.Option{growthbook.WithCloseClient(), nil}, []string{"option 1 is nil"}},
		{"every error at once", nil, []growthbook.Option{nil}, []string{"nil *growthbook.Client", "option 0 is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := growthbook.NewProvider(tt.client, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestMetadataAndHooks(t *testing.T) {
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	assert.Equal(t, growthbook.Name, p.Metadata().Name)
	assert.Empty(t, p.Hooks())
}

func TestEvaluatesEveryType(t *testing.T) {
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	c := newOFClient(t, p)
	ctx := context.Background()
	fr := user("u1", "country", "FR")
	us := user("u1", "country", "US")

	b, err := c.BooleanValueDetails(ctx, "dark-mode", false, fr)
	require.NoError(t, err)
	assert.True(t, b.Value)
	assert.Equal(t, openfeature.TargetingMatchReason, b.Reason)
	assert.Equal(t, openfeature.FlagMetadata{exposure.MetadataInExperiment: false}, b.FlagMetadata)

	b, err = c.BooleanValueDetails(ctx, "dark-mode", true, us)
	require.NoError(t, err)
	assert.False(t, b.Value, "the feature's default, not the caller's")
	assert.Equal(t, openfeature.DefaultReason, b.Reason)

	s, err := c.StringValueDetails(ctx, "banner-text", "x", us)
	require.NoError(t, err)
	assert.Equal(t, "hello", s.Value)
	assert.Equal(t, openfeature.DefaultReason, s.Reason)

	f, err := c.FloatValueDetails(ctx, "discount", 0, us)
	require.NoError(t, err)
	assert.InDelta(t, 0.15, f.Value, 1e-12)

	i, err := c.IntValueDetails(ctx, "max-items", 0, us)
	require.NoError(t, err)
	assert.Equal(t, int64(25), i.Value)

	o, err := c.ObjectValueDetails(ctx, "layout", nil, us)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"columns": float64(3), "theme": "light"}, o.Value)

	// A feature without a value: the caller's default.
	s, err = c.StringValueDetails(ctx, "no-value", "fallback", us)
	require.NoError(t, err)
	assert.Equal(t, "fallback", s.Value)
	assert.Equal(t, openfeature.DefaultReason, s.Reason)

	// A feature gated off by a prerequisite (dark-mode is off in the US):
	// the caller's default; gated on (in France), its rule.
	s, err = c.StringValueDetails(ctx, "gated", "fallback", us)
	require.NoError(t, err)
	assert.Equal(t, "fallback", s.Value)
	assert.Equal(t, openfeature.DefaultReason, s.Reason)
	s, err = c.StringValueDetails(ctx, "gated", "fallback", fr)
	require.NoError(t, err)
	assert.Equal(t, "dark", s.Value)
	assert.Equal(t, openfeature.TargetingMatchReason, s.Reason)
}

func TestErrors(t *testing.T) {
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	c := newOFClient(t, p)
	ctx := context.Background()
	u := user("u1")

	tests := []struct {
		name string
		eval func() (any, openfeature.InterfaceEvaluationDetails, error)
		def  any
		code openfeature.ErrorCode
	}{
		{"missing flag", func() (any, openfeature.InterfaceEvaluationDetails, error) {
			d, err := c.StringValueDetails(ctx, "nope", "def", u)
			return d.Value, openfeature.InterfaceEvaluationDetails{EvaluationDetails: d.EvaluationDetails}, err
		}, "def", openfeature.FlagNotFoundCode},
		{"string read as bool", func() (any, openfeature.InterfaceEvaluationDetails, error) {
			d, err := c.BooleanValueDetails(ctx, "banner-text", true, u)
			return d.Value, openfeature.InterfaceEvaluationDetails{EvaluationDetails: d.EvaluationDetails}, err
		}, true, openfeature.TypeMismatchCode},
		{"bool read as string", func() (any, openfeature.InterfaceEvaluationDetails, error) {
			d, err := c.StringValueDetails(ctx, "dark-mode", "def", u)
			return d.Value, openfeature.InterfaceEvaluationDetails{EvaluationDetails: d.EvaluationDetails}, err
		}, "def", openfeature.TypeMismatchCode},
		{"fraction read as int", func() (any, openfeature.InterfaceEvaluationDetails, error) {
			d, err := c.IntValueDetails(ctx, "ratio", 7, u)
			return d.Value, openfeature.InterfaceEvaluationDetails{EvaluationDetails: d.EvaluationDetails}, err
		}, int64(7), openfeature.TypeMismatchCode},
		{"string read as float", func() (any, openfeature.InterfaceEvaluationDetails, error) {
			d, err := c.FloatValueDetails(ctx, "banner-text", 1.5, u)
			return d.Value, openfeature.InterfaceEvaluationDetails{EvaluationDetails: d.EvaluationDetails}, err
		}, 1.5, openfeature.TypeMismatchCode},
		{"cyclic prerequisites", func() (any, openfeature.InterfaceEvaluationDetails, error) {
			d, err := c.IntValueDetails(ctx, "cycle-a", 7, u)
			return d.Value, openfeature.InterfaceEvaluationDetails{EvaluationDetails: d.EvaluationDetails}, err
		}, int64(7), openfeature.GeneralCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, d, err := tt.eval()
			require.Error(t, err)
			assert.Equal(t, tt.def, v, "the caller's default")
			assert.Equal(t, tt.code, d.ErrorCode)
			assert.Equal(t, openfeature.ErrorReason, d.Reason)
		})
	}
}

func TestExperimentMetadata(t *testing.T) {
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	c := newOFClient(t, p)
	ctx := context.Background()

	for _, tc := range []struct{ key, name, value string }{{"ctl", "Control", "control"}, {"red", "Redesign", "redesign"}} {
		id := userIn(t, p, tc.key)
		d, err := c.StringValueDetails(ctx, "checkout-redesign", "", user(id))
		require.NoError(t, err)
		assert.Equal(t, tc.value, d.Value)
		assert.Equal(t, tc.name, d.Variant, "variant = the variation's name")
		assert.Equal(t, openfeature.SplitReason, d.Reason)
		assert.Equal(t, openfeature.FlagMetadata{
			exposure.MetadataExperimentName:    "Checkout Redesign",
			exposure.MetadataExperimentVariant: tc.name,
			exposure.MetadataInExperiment:      true,
			growthbook.MetadataExperimentKey:   "checkout-exp",
			growthbook.MetadataVariationKey:    tc.key,
			growthbook.MetadataVariationID:     map[string]int64{"ctl": 0, "red": 1}[tc.key],

			exposure.MetadataPropertyPrefix + growthbook.PropertyExperimentKey: "checkout-exp",
			exposure.MetadataPropertyPrefix + growthbook.PropertyVariationKey:  tc.key,
		}, d.FlagMetadata)
	}

	// Without names: the experiment's key and the variation's key.
	d, err := c.IntValueDetails(ctx, "unnamed-exp", 0, user("u1"))
	require.NoError(t, err)
	assert.Equal(t, int64(12), d.Value)
	assert.Equal(t, "price-test", d.FlagMetadata[exposure.MetadataExperimentName])
	assert.Equal(t, "1", d.FlagMetadata[exposure.MetadataExperimentVariant])
	assert.Equal(t, "1", d.Variant)
}

func TestNotInExperiment(t *testing.T) {
	ctx := context.Background()
	t.Run("no coverage falls through to the default", func(t *testing.T) {
		p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
		require.NoError(t, err)
		c := newOFClient(t, p)
		d, err := c.StringValueDetails(ctx, "no-coverage", "", user("u1"))
		require.NoError(t, err)
		assert.Equal(t, "base", d.Value)
		assert.Equal(t, openfeature.DefaultReason, d.Reason)
		assert.Equal(t, openfeature.FlagMetadata{exposure.MetadataInExperiment: false}, d.FlagMetadata,
			"not an assignment, even if registered")
	})
	t.Run("forced variation is not counted", func(t *testing.T) {
		tr := &tracking{}
		gbc := newTrackedClient(t, tr, gb.WithForcedVariations(gb.ForcedVariationsMap{"checkout-exp": 1}))
		p, err := growthbook.NewProvider(gbc)
		require.NoError(t, err)
		c := newOFClient(t, p)
		d, err := c.StringValueDetails(ctx, "checkout-redesign", "", user(userIn(t, p, "red")))
		require.NoError(t, err)
		assert.Equal(t, "redesign", d.Value)
		assert.Equal(t, "Checkout Redesign", d.FlagMetadata[exposure.MetadataExperimentName])
		assert.Equal(t, false, d.FlagMetadata[exposure.MetadataInExperiment])
		assert.NotContains(t, d.FlagMetadata, exposure.MetadataExperimentVariant)
	})
}

func TestAttributes(t *testing.T) {
	got := growthbook.Attributes(openfeature.FlattenedContext{openfeature.TargetingKey: "tk", "country": "FR"})
	assert.Equal(t, gb.Attributes{"id": "tk", "country": "FR"}, got)
	got = growthbook.Attributes(openfeature.FlattenedContext{openfeature.TargetingKey: "tk", "id": "explicit"})
	assert.Equal(t, gb.Attributes{"id": "explicit"}, got)
}

// The reason this provider exists: evaluating runs none of GrowthBook's
// tracking, even on a client configured with all of it.
func TestEvaluationTracksNothing(t *testing.T) {
	tr, buf := &tracking{}, &gb.TrackingBuffer{}
	gbc := newTrackedClient(t, tr, gb.WithTrackingBuffer(buf))
	p, err := growthbook.NewProvider(gbc)
	require.NoError(t, err)
	c := newOFClient(t, p)
	ctx := context.Background()

	for i := range 20 {
		_, err := c.StringValue(ctx, "checkout-redesign", "", user("user-"+strconv.Itoa(i)))
		require.NoError(t, err)
		_, _ = c.IntValue(ctx, "unnamed-exp", 0, user("user-"+strconv.Itoa(i)))
		_, _ = c.BooleanValue(ctx, "dark-mode", false, user("user-"+strconv.Itoa(i)))
		_, _ = c.StringValue(ctx, "recommendations", "", user("user-"+strconv.Itoa(i))) // a holdout
		_, _ = c.StringValue(ctx, "search-ranking", "", user("user-"+strconv.Itoa(i)))  // an inline holdout
	}
	assert.Zero(t, tr.calls(), "evaluation through the provider called GrowthBook tracking")
	assert.Empty(t, buf.TrackingCalls(), "evaluation through the provider filled the tracking buffer")

	// Control: the same client tracks when used directly, so the assertion
	// above can fail.
	direct, err := gbc.WithAttributes(gb.Attributes{"id": "user-1"})
	require.NoError(t, err)
	direct.EvalFeature(ctx, "checkout-redesign")
	assert.Len(t, tr.experiments, 1)
	assert.Len(t, buf.TrackingCalls(), 1)
}

func TestShutdown(t *testing.T) {
	ctx := context.Background()
	p, err := growthbook.NewProvider(newTrackedClient(t, &tracking{}))
	require.NoError(t, err)
	require.NoError(t, p.ShutdownWithContext(ctx))
	d := p.StringEvaluation(ctx, "banner-text", "def", openfeature.FlattenedContext{openfeature.TargetingKey: "u"})
	assert.Equal(t, "def", d.Value)
	assert.Equal(t, openfeature.ErrorReason, d.Reason)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)

	// Init makes it usable again.
	require.NoError(t, p.InitWithContext(ctx, openfeature.EvaluationContext{}))
	d = p.StringEvaluation(ctx, "banner-text", "def", openfeature.FlattenedContext{openfeature.TargetingKey: "u"})
	assert.Equal(t, "hello", d.Value)
}

func TestWaitForLoad(t *testing.T) {
	// Without a data source, features never "load": the wait ends with the
	// context and initialization fails, naming the cause.
	gbc, err := gb.NewClient(context.Background(), gb.WithLogger(quiet))
	require.NoError(t, err)
	p, err := growthbook.NewProvider(gbc, growthbook.WithWaitForLoad())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = p.InitWithContext(ctx, openfeature.EvaluationContext{})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "features not loaded")
}

func TestConcurrentEvaluations(t *testing.T) {
	tr := &tracking{}
	p, err := growthbook.NewProvider(newTrackedClient(t, tr))
	require.NoError(t, err)
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
				assert.Equal(t, want[id], v, "assignment is deterministic")
			}
		})
	}
	wg.Wait()
	assert.Zero(t, tr.calls())
}
