package main

import (
	"hash/fnv"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
)

const checkoutFlag = "checkout-redesign"

// checkoutExperiment registers the flag: Mixpanel sees "Checkout Redesign"
// with the variants "Variant A" and "Variant B".
var checkoutExperiment = exposure.Experiment{
	FlagKey:  checkoutFlag,
	Name:     "Checkout Redesign",
	Variants: map[string]string{"a": "Variant A", "b": "Variant B"},
	Weights:  map[string]float64{"Variant A": 0.5, "Variant B": 0.5},
}

// accessoriesFlag is a second experiment, drawn far below the fold of the
// checkout page: its exposure is confirmed by the browser (exposureBeacon).
const accessoriesFlag = "accessories-panel"

var accessoriesExperiment = exposure.Experiment{
	FlagKey:  accessoriesFlag,
	Name:     "Recommended Accessories",
	Variants: map[string]string{"a": "Grid", "b": "Carousel"},
}

// newFlagProvider is OpenFeature's in-memory provider with the experiment
// flags: 50/50 by user id, stable for a user.
func newFlagProvider() *memprovider.InMemoryProvider {
	split := func(flag memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		user, _ := ctx[exposure.AttributeUserID].(string)
		if user == "" {
			user, _ = ctx[openfeature.TargetingKey].(string)
		}
		if user == "" {
			return flag.Variants["a"], openfeature.ProviderResolutionDetail{Variant: "a", Reason: openfeature.DefaultReason}
		}
		h := fnv.New32a()
		h.Write([]byte(flag.Key + "/" + user))
		variant := "a"
		if h.Sum32()%2 == 1 {
			variant = "b"
		}
		return flag.Variants[variant], openfeature.ProviderResolutionDetail{Variant: variant, Reason: openfeature.SplitReason}
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		checkoutFlag: {
			Key:              checkoutFlag,
			State:            memprovider.Enabled,
			DefaultVariant:   "a",
			Variants:         map[string]any{"a": "classic", "b": "one-page"},
			ContextEvaluator: &split,
		},
		accessoriesFlag: {
			Key:              accessoriesFlag,
			State:            memprovider.Enabled,
			DefaultVariant:   "a",
			Variants:         map[string]any{"a": "grid", "b": "carousel"},
			ContextEvaluator: &split,
		},
	})
}
