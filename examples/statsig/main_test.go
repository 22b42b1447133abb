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
	assert.Equal(t, 1, strings.Count(got, "statsig: statsig::"), "one Statsig exposure in all:\n%s", got)
	// alice's bucket is fixed by the experiment's salt: Test, the green button.
	render := strings.Index(got, "== GET /checkout?user=alice")
	require.Positive(t, render)
	assert.Contains(t, got[render:], `<button class="pay green">`)
	assert.Contains(t, got, `"Experiment name":"Checkout Redesign","Variant name":"Test"`)
	assert.Contains(t, got, "statsig: statsig::config_exposure config=checkout_redesign rule=5Yy1mXq4Zb8Nf6PdTg3Hs1 user=alice manual=true")
	assert.Contains(t, got, "assignments=3 committed=1 duplicates=1; statsig sink: logged=1 mismatched=0 skipped=0")
	assert.Less(t, strings.Index(got, "== GET /?user=alice"), render)
	assert.Less(t, render, strings.Index(got, `"$experiment_started"`), "the exposure follows the render")
}
