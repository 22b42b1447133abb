// Package chromiumtest starts a real headless Chromium for the tests of
// this module that need a browser (the beacon script, the audit page), or
// skips them with a message saying how to get one.
package chromiumtest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Path finds the browser for the tests that need one:
// $EXPOSURE_CHROMIUM, else chromium in PATH; without it they skip.
func Path(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if p := os.Getenv("EXPOSURE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no browser: set EXPOSURE_CHROMIUM to a Chromium binary or put chromium in PATH " +
		"(Debian: apt-get install chromium; ./scripts/test installs it)")
	return ""
}

// Start starts a headless Chromium with a fresh profile and a window
// of width x height, and returns the context of its first tab. Everything
// is closed when the test ends. The flags keep Chromium off the network
// beyond the test's own loopback servers.
func Start(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := Path(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	t.Cleanup(cancelAlloc) // waits for the browser process to exit
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser gracefully
		cancel()
	})
	// The first run starts the browser and must not carry a deadline, which
	// would stop the browser when it passed.
	require.NoError(t, chromedp.Do(ctx), "starting %s", path)
	return ctx
}
