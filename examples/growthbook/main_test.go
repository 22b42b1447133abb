package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	got := out.String()
	assert.Equal(t, 1, strings.Count(got, `"event":"$experiment_started"`), "one Mixpanel exposure:\n%s", got)
	assert.Equal(t, 1, strings.Count(got, "growthbook: Experiment Viewed experiment=checkout-exp"), "one GrowthBook event:\n%s", got)
	assert.NotContains(t, got, "!!", "GrowthBook tracked at evaluation")
	assert.Contains(t, got, "assignments=3 committed=1 duplicates=1; growthbook sink: sent=1 mismatched=0 skipped=0")
	// The exposure follows the render, not the home page's evaluation.
	home := strings.Index(got, "== GET /?user=alice")
	render := strings.Index(got, "== GET /checkout?user=alice")
	exposed := strings.Index(got, `"$experiment_started"`)
	assert.Less(t, home, render)
	assert.Less(t, render, exposed)
}
