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
	assert.Equal(t, 1, strings.Count(got, "launchdarkly: evaluation event flag=checkout-redesign"), "one LaunchDarkly event:\n%s", got)
	assert.Contains(t, got, "context=alice inExperiment=true")
	assert.Contains(t, got, "assignments=3 committed=1 duplicates=1; launchdarkly sink: sent=1 mismatched=0 skipped=0")
	// The exposure and the LaunchDarkly event follow the render, not the
	// home page's evaluation.
	home := strings.Index(got, "== GET /?user=alice")
	render := strings.Index(got, "== GET /checkout?user=alice")
	assert.Less(t, home, render)
	assert.Less(t, render, strings.Index(got, `"$experiment_started"`))
	assert.Less(t, render, strings.Index(got, "launchdarkly: evaluation event"))
	// The variant on the page (alice's bucket is fixed by the flag's seed)
	// is the one both destinations got.
	assert.Contains(t, got[render:], `<button class="pay redesign">`)
	assert.Contains(t, got, `"Variant name":"Redesign"`)
	assert.Contains(t, got, "variation=1 value=redesign")
}
