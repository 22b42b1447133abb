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

// exposureOf is an exposure as the Tracker makes it: the variant as the
// Provider named it in ProviderVariant, and Variant renamed by a registry
// the Sink knows nothing of.
func exposureOf(flag, providerVariant string, ec openfeature.EvaluationContext) exposure.Exposure {
	return exposure.Exposure{Assignment: exposure.Assignment{
		FlagKey: flag, Experiment: flag, Variant: "renamed " + providerVariant, ProviderVariant: providerVariant, Context: ec,
	}, Time: time.Now()}
}

// newSinkFor returns a Sink recording through a client with events on,
// posting to events, with a Provider configured by opts.
func newSinkFor(t *testing.T, events *eventServer, opts ...Option) *Sink {
	t.Helper()
	p, err := NewProvider(newClient(t, testData(), events, false), opts...)
	require.NoError(t, err)
	t.Cleanup(p.Shutdown)
	client := newClient(t, testData(), events, true)
	t.Cleanup(func() { _ = client.Close() })
	s, err := NewSink(p, client)
	require.NoError(t, err)
	return s
}

func TestSinkClassifiesEachExposure(t *testing.T) {
	events := newEventServer(t)
	s := newSinkFor(t, events)
	assert.Equal(t, "launchdarkly", s.Name())

	u := openfeature.NewEvaluationContext("u-1", nil)
	batch := []exposure.Exposure{
		exposureOf("checkout-redesign", "1", u),                                               // sent: variation 1 by index
		exposureOf("checkout-redesign", "0", u),                                               // mismatch: it serves 1
		exposureOf("growthbook-flag", "on", u),                                                // skipped: not LaunchDarkly's
		exposureOf("checkout-redesign", "1", openfeature.NewTargetlessEvaluationContext(nil)), // failed: no key
	}
	err := s.Send(context.Background(), batch)
	var be *exposure.BatchError
	require.True(t, errors.As(err, &be), "got %v", err)
	require.Len(t, be.Failed, 1)
	require.Contains(t, be.Failed, 3)
	retry, _ := exposure.IsRetryable(be.Failed[3])
	assert.False(t, retry, "an invalid context will not get better")
	assert.Equal(t, SinkStats{Sent: 1, Mismatched: 1, Skipped: 1, Failed: 1}, s.Stats())

	// Send waited for delivery: the one event is already posted.
	require.Len(t, events.ofKind("feature"), 1)
	assert.Equal(t, float64(1), events.ofKind("feature")[0]["variation"])
}

// The Sink compares the variation LaunchDarkly serves, named as its
// Provider names it, with the exposure's ProviderVariant: a variant the
// Tracker's registry renamed needs no registration in the Sink. An exposure
// without a ProviderVariant falls back to its Variant.
func TestSinkComparesTheProviderVariant(t *testing.T) {
	events := newEventServer(t)
	s := newSinkFor(t, events, WithVariationNames(map[string]map[int]string{"checkout-redesign": {0: "control", 1: "redesign"}}))
	u := openfeature.NewEvaluationContext("u-1", nil) // LaunchDarkly serves u-1 variation 1, "redesign"
	unnamed := func(variant string) exposure.Exposure {
		x := exposureOf("checkout-redesign", "", u)
		x.Variant = variant
		return x
	}
	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{
		exposureOf("checkout-redesign", "redesign", u), // sent: the provider's name, whatever the registry calls it
		exposureOf("checkout-redesign", "control", u),  // mismatch: another variation
		exposureOf("checkout-redesign", "1", u),        // mismatch: the provider names variation 1 "redesign"
		unnamed("redesign"),                            // sent: no ProviderVariant, the Variant is the provider's name
		unnamed("Variant B"),                           // mismatch: no ProviderVariant, a renamed Variant is not the provider's name
	}))
	assert.Equal(t, SinkStats{Sent: 2, Mismatched: 3}, s.Stats())
	assert.Len(t, events.ofKind("feature"), 2)
}
