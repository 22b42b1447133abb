package beacon

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"regexp"
	"time"
)

// beaconJS is the script that watches the elements carrying a token and
// observes each with the browser module (js/index.js), inlined into it.
//
//go:embed beacon.js
var beaconJS string

// moduleMarker is where the script receives the module.
const moduleMarker = "/* exposure: module */"

var (
	// exportKeyword is the export keyword of the module's declarations,
	// removed when it is inlined: in the script they are local.
	exportKeyword = regexp.MustCompile(`(?m)^export `)
	// moduleSyntax is what a module may hold that a classic script may not.
	moduleSyntax = regexp.MustCompile(`(?m)^\s*(export|import)\b`)
	// comments are the module's whole-line comments and doc comments,
	// which the script does not repeat (js/index.js is the commented source;
	// it holds no multi-line string they could be part of).
	comments = regexp.MustCompile(`(?m)^[ \t]*//[^\n]*\n|(?s)/\*\*.*?\*/\n`)
)

// The module must inline into the script: checked when the package loads,
// so that a module change the script cannot take fails every test.
var _ = func() struct{} {
	if _, err := inlineModule(moduleFiles["index.js"].body); err != "" {
		panic("beacon: " + err)
	}
	return struct{}{}
}()

// inlineModule turns the module into the body of a function of the script;
// it returns why it cannot.
func inlineModule(module []byte) ([]byte, string) {
	if n := bytes.Count([]byte(beaconJS), []byte(moduleMarker)); n != 1 {
		return nil, "beacon.js must hold the marker " + moduleMarker + " once"
	}
	body := exportKeyword.ReplaceAll(comments.ReplaceAll(module, nil), nil)
	if moduleSyntax.Match(body) {
		return nil, "js/index.js holds an import or an export the script cannot inline"
	}
	return body, ""
}

// buildScript returns beacon.js, with the module inlined and the
// visibility settings its defaults, and its ETag.
func buildScript(ratio float64, dwell time.Duration) (script []byte, etag string) {
	body, _ := inlineModule(buildModuleIndex(ratio, dwell).body) // checked when the package loads
	js := bytes.Replace([]byte(beaconJS), []byte(moduleMarker), body, 1)
	sum := sha256.Sum256(js)
	return js, `"` + hex.EncodeToString(sum[:12]) + `"`
}
