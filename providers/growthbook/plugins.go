package growthbook

import (
	"fmt"
	"reflect"

	gb "github.com/growthbook/growthbook-golang"

	"github.com/exposurekit/exposure"
)

// checkNoPlugins returns an error wrapping [exposure.ErrInvalidConfig] when
// c carries GrowthBook plugins (gb.WithPlugins, gb.WithGrowthBookTracking).
//
// A client's plugins see every evaluation (OnExperimentViewed,
// OnFeatureEvaluated) and every child client derived from it shares them:
// no child option removes them, so a Provider over such a client would
// track at evaluation, the very thing it exists to prevent.
//
// The SDK keeps the plugins in an unexported field (Client.data.plugins)
// and has no accessor for them; they are set only while gb.NewClient runs,
// so reading the field's length afterwards is safe. When the field is not
// where this SDK version keeps it, the check cannot be made and the client
// is refused: silently tracking at evaluation would be worse than failing
// at start.
func checkNoPlugins(c *gb.Client) error {
	n, ok := pluginCount(c)
	if !ok {
		return fmt.Errorf("%w: growthbook.NewProvider cannot verify that the client has no plugins "+
			"(this growthbook-golang version keeps them elsewhere than v0.7.0 did)", exposure.ErrInvalidConfig)
	}
	if n > 0 {
		return fmt.Errorf("%w: growthbook.NewProvider given a client with %d plugin(s) (gb.WithPlugins or gb.WithGrowthBookTracking): "+
			"GrowthBook runs a client's plugins at every evaluation, on every client derived from it; "+
			"give NewProvider a client without plugins, and put the tracking plugin on a separate client for LogExperimentViewed",
			exposure.ErrInvalidConfig, n)
	}
	return nil
}

// pluginCount returns the number of plugins c carries, and false when the
// SDK does not keep them where v0.7.0 does.
func pluginCount(c *gb.Client) (int, bool) {
	data := reflect.ValueOf(c).Elem().FieldByName("data")
	if !data.IsValid() || data.Kind() != reflect.Pointer || data.IsNil() || data.Elem().Kind() != reflect.Struct {
		return 0, false
	}
	plugins := data.Elem().FieldByName("plugins")
	if !plugins.IsValid() || plugins.Kind() != reflect.Slice || plugins.Type().Elem() != reflect.TypeFor[gb.Plugin]() {
		return 0, false
	}
	return plugins.Len(), true
}
