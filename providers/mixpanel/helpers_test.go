package mixpanelflags_test

import (
	"context"
	"os"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/require"

	mixpanelflags "github.com/exposurekit/exposure/providers/mixpanel"
	"github.com/exposurekit/exposure/providers/mixpanel/flagstest"
)

var bg = context.Background()

// In testdata/definitions.json, checkout-redesign assigns u-1 to control
// and u-2 to redesign; qa-1 is a QA tester forced into redesign.
func definitions(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/definitions.json")
	require.NoError(tb, err)
	return b
}

// modes lists both evaluation modes, for table-driven tests.
var modes = []string{mixpanelflags.ModeLocal, mixpanelflags.ModeRemote}

// providerFor returns an uninitialized provider over srv in mode, with
// local polling off unless opts say otherwise.
func providerFor(tb testing.TB, srv *flagstest.Server, mode string, opts ...mixpanelflags.Option) *mixpanelflags.Provider {
	tb.Helper()
	var modeOpt mixpanelflags.Option
	if mode == mixpanelflags.ModeRemote {
		modeOpt = mixpanelflags.WithRemoteEvaluation(srv.RemoteConfig())
	} else {
		cfg := srv.LocalConfig()
		cfg.EnablePolling = false
		modeOpt = mixpanelflags.WithLocalEvaluation(cfg)
	}
	p, err := mixpanelflags.NewProvider(srv.Token(), append([]mixpanelflags.Option{modeOpt}, opts...)...)
	require.NoError(tb, err)
	return p
}

// clientFor registers p with an isolated OpenFeature API (waiting for its
// Init) and returns a client; the API is shut down when the test ends.
func clientFor(tb testing.TB, p openfeature.FeatureProvider, hooks ...openfeature.Hook) *openfeature.Client {
	tb.Helper()
	api := isolated.NewAPI()
	require.NoError(tb, api.SetProviderAndWait(bg, p))
	api.AddHooks(hooks...)
	tb.Cleanup(func() { _ = api.Shutdown(bg) })
	return api.NewClient()
}

func user(id string, attrs map[string]any) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(id, attrs)
}
