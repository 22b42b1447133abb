package launchdarkly

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func exposureOf(flag, variant string, ec openfeature.EvaluationContext) exposure.Exposure {
	return exposure.Exposure{Assignment: exposure.Assignment{FlagKey: flag, Experiment: flag, Variant: variant, Context: ec}, Time: time.Now()}
}

func TestSinkClassifiesEachExposure(t *testing.T) {
	events := newEventServer(t)
	client := newClient(t, testData(), events, true)
	t.Cleanup(func() { _ = client.Close() })
	s, err := NewSink(client)
	require.NoError(t, err)
	assert.Equal(t, "launchdarkly", s.Name())

	u := openfeature.NewEvaluationContext("u-1", nil)
	batch := []exposure.Exposure{
		exposureOf("checkout-redesign", "1", u),                                               // sent: variation 1 by index
		exposureOf("checkout-redesign", "0", u),                                               // mismatch: it serves 1
		exposureOf("growthbook-flag", "on", u),                                                // skipped: not LaunchDarkly's
		exposureOf("checkout-redesign", "1", openfeature.NewTargetlessEvaluationContext(nil)), // failed: no key
	}
	err = s.Send(context.Background(), batch)
	var be *exposure.BatchError
	require.True(t, errors.As(err, &be), "got %v", err)
	require.Len(t, be.Failures, 1)
	assert.Equal(t, 3, be.Failures[0].Index)
	retry, _ := exposure.IsRetryable(be.Failures[0].Err)
	assert.False(t, retry, "an invalid context will not get better")
	assert.Equal(t, SinkStats{Sent: 1, Mismatched: 1, Skipped: 1, Failed: 1}, s.Stats())

	// Send waited for delivery: the one event is already posted.
	require.Len(t, events.ofKind("feature"), 1)
	assert.Equal(t, float64(1), events.ofKind("feature")[0]["variation"])
}

func TestSinkRecognisesNamedAndRenamedVariants(t *testing.T) {
	events := newEventServer(t)
	client := newClient(t, testData(), events, true)
	t.Cleanup(func() { _ = client.Close() })
	s, err := NewSink(client,
		WithVariationNames(map[string]map[int]string{"checkout-redesign": {0: "control", 1: "redesign"}}),
		WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "C", Variants: map[string]string{"redesign": "Variant B"}}),
	)
	require.NoError(t, err)
	u := openfeature.NewEvaluationContext("u-1", nil)
	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{
		exposureOf("checkout-redesign", "redesign", u),  // the provider's name
		exposureOf("checkout-redesign", "Variant B", u), // the registry's name for it
		exposureOf("checkout-redesign", "control", u),   // another variation
	}))
	assert.Equal(t, SinkStats{Sent: 2, Mismatched: 1}, s.Stats())
}
