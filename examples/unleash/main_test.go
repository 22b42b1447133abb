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
	assert.Equal(t, 1, strings.Count(got, "unleash: impression event GetVariant checkout-redesign"), "one impression:\n%s", got)
	assert.Equal(t, 1, strings.Count(got, "unleash server: metrics received: checkout-redesign yes=1"), "one count:\n%s", got)
	assert.Contains(t, got, "assignments=3 committed=1 duplicates=1; unleash sink: sent=1 mismatched=0 skipped=0")
	render := strings.Index(got, "== GET /checkout?user=alice")
	assert.Less(t, strings.Index(got, "== GET /?user=alice"), render)
	assert.Less(t, render, strings.Index(got, `"$experiment_started"`))
	assert.Less(t, render, strings.Index(got, "unleash server: metrics received"))
}
