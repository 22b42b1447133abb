package main

import (
	"hash/fnv"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
)

// pricingFlag is the seed's "Pricing Page Test": which plans the pricing
// page shows first.
const pricingFlag = "pricing-page"

// pricingExperiment registers the flag: Mixpanel sees "Pricing Page Test"
// with the variants "Control" and "Annual First".
var pricingExperiment = exposure.Experiment{
	FlagKey:  pricingFlag,
	Name:     "Pricing Page Test",
	Variants: map[string]string{"control": "Control", "annual-first": "Annual First"},
	Weights:  map[string]float64{"Control": 0.5, "Annual First": 0.5},
}

// newFlagProvider is OpenFeature's in-memory provider with the pricing
// flag: 50/50 by targeting key, stable for a visitor. No account needed.
func newFlagProvider() *memprovider.InMemoryProvider {
	split := func(flag memprovider.InMemoryFlag, ctx openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		visitor, _ := ctx[openfeature.TargetingKey].(string)
		variant := "control"
		if visitor != "" {
			h := fnv.New32a()
			h.Write([]byte(flag.Key + "/" + visitor))
			if h.Sum32()%2 == 1 {
				variant = "annual-first"
			}
		}
		return flag.Variants[variant], openfeature.ProviderResolutionDetail{Variant: variant, Reason: openfeature.SplitReason}
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		pricingFlag: {
			Key:              pricingFlag,
			State:            memprovider.Enabled,
			DefaultVariant:   "control",
			Variants:         map[string]any{"control": "monthly-first", "annual-first": "annual-first"},
			ContextEvaluator: &split,
		},
	})
}
