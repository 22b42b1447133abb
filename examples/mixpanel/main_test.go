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
	assert.Contains(t, got, `"Variant name":"redesign"`)
	assert.Contains(t, got, `"$experiment_id":"exp-checkout-1"`, "the properties of Mixpanel's own exposure")
	assert.Contains(t, got, `class="pay green"`)
	assert.Contains(t, got, "assignments=3 committed=1 duplicates=1; Mixpanel flags API: 1 definitions download(s), 0 event(s) received")
	// The exposure follows the render, not the home page's evaluation.
	home := strings.Index(got, "== GET /?user=u-2")
	render := strings.Index(got, "== GET /checkout?user=u-2")
	exposed := strings.Index(got, `"$experiment_started"`)
	assert.Less(t, home, render)
	assert.Less(t, render, exposed)
}
