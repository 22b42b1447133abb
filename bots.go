package exposure

import (
	"bytes"
	"net/http"
)

// botMarkers are lower-case substrings of the user agents of bots and
// crawlers. The first group is the list Mixpanel's browser SDK drops
// events for, so that a server-rendered exposure is filtered as Mixpanel
// would have filtered a browser's; the second catches the usual shape of
// other crawlers' agents, "Name-bot/1.0 (+http://…)". A real browser's
// agent contains none of them.
var botMarkers = [...]string{
	// Mixpanel's browser SDK
	"ahrefsbot", "ahrefssiteaudit", "amazonbot", "baiduspider", "bingbot", "bingpreview",
	"chrome-lighthouse", "facebookexternal", "petalbot", "pinterest", "screaming frog",
	"yahoo! slurp", "yandex", "adsbot-google", "apis-google", "duplexweb-google",
	"feedfetcher-google", "google favicon", "google web preview", "google-read-aloud",
	"googlebot", "googleweblight", "mediapartners-google", "storebot-google",
	// the usual shape of other crawlers' agents
	"bot/", "bot;", "bot)", "crawler", "spider", "+http",
}

// maxScannedAgent bounds the part of a user agent that is scanned: the
// request path pays for a header it does not control.
const maxScannedAgent = 512

// IsKnownBot reports whether r's User-Agent names a known bot or crawler:
// the middleware's default filter (see [WithBotFilter]). It scans the
// first 512 bytes of the agent for the markers of Mixpanel's browser SDK's
// list and the usual crawler shapes, in under a microsecond and without
// allocating. Combine it with your own checks to extend the filter.
func IsKnownBot(r *http.Request) bool {
	ua := r.Header.Get("User-Agent")
	if len(ua) > maxScannedAgent {
		ua = ua[:maxScannedAgent]
	}
	var buf [maxScannedAgent]byte
	lower := buf[:len(ua)]
	for i := 0; i < len(ua); i++ {
		c := ua[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	for _, m := range botMarkerBytes {
		if bytes.Contains(lower, m) {
			return true
		}
	}
	return false
}

var botMarkerBytes = func() [][]byte {
	b := make([][]byte, len(botMarkers))
	for i, m := range botMarkers {
		b[i] = []byte(m)
	}
	return b
}()
