package beacon

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"strconv"
	"time"
)

// beaconJS is the script that watches the elements carrying a token and
// posts each token back once its element was seen.
//
//go:embed beacon.js
var beaconJS string

// settingsMarker is where the script receives its settings.
const settingsMarker = "{ /* exposure: settings */ }"

// buildScript returns beacon.js with the visibility settings in it, and
// its ETag.
func buildScript(ratio float64, dwell time.Duration) (script []byte, etag string) {
	settings := `{"ratio":` + strconv.FormatFloat(ratio, 'g', -1, 64) +
		`,"dwell":` + strconv.FormatInt(dwell.Milliseconds(), 10) + `}`
	js := bytes.Replace([]byte(beaconJS), []byte(settingsMarker), []byte(settings), 1)
	sum := sha256.Sum256(js)
	return js, `"` + hex.EncodeToString(sum[:12]) + `"`
}
