package exposure

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idHook records the evaluation id each stage sees.
type idHook struct {
	openfeature.UnimplementedHook
	after, finally []evaluationID
}

func (h *idHook) After(_ context.Context, hc openfeature.HookContext, _ openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) error {
	h.after = append(h.after, evaluationOf(hc))
	return nil
}

func (h *idHook) Finally(_ context.Context, hc openfeature.HookContext, _ openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) {
	h.finally = append(h.finally, evaluationOf(hc))
}

// The SDK in use still gives each evaluation its own attribute map, seen
// alike by After and Finally: the undo of a failed evaluation is exact.
func TestEvaluationIDIsFound(t *testing.T) {
	require.NotEqual(t, ^uintptr(0), attributesOffset, "openfeature.EvaluationContext has no attributes map any more")
	require.NoError(t, openfeature.SetNamedProviderAndWait("evaluation-id", memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"f": {Key: "f", State: memprovider.Enabled, DefaultVariant: "on", Variants: map[string]any{"on": true}},
	})))
	c := openfeature.NewClient("evaluation-id")
	h := &idHook{}
	c.AddHooks(h)
	ec := openfeature.NewEvaluationContext("u", map[string]any{"plan": "pro"})
	for range 2 {
		_, err := c.BooleanValue(context.Background(), "f", false, ec)
		require.NoError(t, err)
	}
	require.Len(t, h.after, 2)
	assert.NotZero(t, h.after[0])
	assert.Equal(t, h.after, h.finally, "one id per evaluation, the same in every stage")
}

func TestAttributesOfReadsWithoutCopying(t *testing.T) {
	ec := openfeature.NewEvaluationContext("u", map[string]any{"plan": "pro", "n": 3})
	assert.Equal(t, ec.Attributes(), attributesOf(&ec))
	assert.Zero(t, testing.AllocsPerRun(10, func() { _ = attributesOf(&ec) }))
}
