package beacon

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// moduleFS holds the browser module (beacon/js): the ES module, its React
// and Vue bindings, and their TypeScript declarations.
//
//go:embed js/index.js js/index.d.ts js/react.js js/react.d.ts js/vue.js js/vue.d.ts
var moduleFS embed.FS

// moduleFile is one file of the module, with its ETag.
type moduleFile struct {
	body []byte
	etag string
}

// moduleFiles are the files Module serves, by name.
var moduleFiles = func() map[string]moduleFile {
	files := map[string]moduleFile{}
	for _, name := range []string{"index.js", "index.d.ts", "react.js", "react.d.ts", "vue.js", "vue.d.ts"} {
		b, err := moduleFS.ReadFile("js/" + name)
		if err != nil {
			panic("beacon: module file missing from the build: " + name) // embedded above
		}
		files[name] = newModuleFile(b)
	}
	if bytes.Count(files["index.js"].body, []byte(visibilityMarker)) != 1 {
		panic("beacon: js/index.js must declare its visibility defaults once as " + visibilityMarker)
	}
	return files
}()

func newModuleFile(b []byte) moduleFile {
	sum := sha256.Sum256(b)
	return moduleFile{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// visibilityMarker is the line of index.js holding its visibility
// defaults ([DefaultRatio] and [DefaultDwell]), which a Confirmer replaces
// with its own.
const visibilityMarker = "{ ratio: 0.5, dwell: 1000 }; // exposure: visibility"

// buildModuleIndex returns index.js with ratio and dwell as its defaults,
// and its ETag. With the default settings it is the file as it is.
func buildModuleIndex(ratio float64, dwell time.Duration) moduleFile {
	settings := "{ ratio: " + strconv.FormatFloat(ratio, 'g', -1, 64) +
		", dwell: " + strconv.FormatInt(dwell.Milliseconds(), 10) + " }; // exposure: visibility"
	return newModuleFile(bytes.Replace(moduleFiles["index.js"].body, []byte(visibilityMarker), []byte(settings), 1))
}

// Module serves the browser module, for pages whose variant is drawn by
// the client (a single-page app, a client-rendered component) from a token
// the server gave it (see [Confirmer.Token]). Mount it under a prefix,
// with the prefix stripped:
//
//	mux.Handle("/exposure/js/", http.StripPrefix("/exposure/js/", confirmer.Module()))
//	mux.Handle("/exposure/beacon", confirmer) // where the module posts
//
//	import { observe } from "/exposure/js/index.js";
//	const stop = observe(panel, token); // and stop() when the panel goes
//
// It serves index.js (observe, confirm, configure), react.js (the
// useExposure hook; it imports "react", so a page loads it through a
// bundler or an import map), vue.js (the v-exposure directive) and their
// .d.ts declarations, with GET or HEAD, as text/javascript with an ETag,
// cached for an hour; any other name gets 404, any other method 405. The
// same files are the package folder beacon/js of this repository, for an
// app that bundles them.
//
// The module applies the rules of the page script: the index.js served here
// has this Confirmer's [WithVisibility] ratio and dwell as its defaults
// (the file in beacon/js has [DefaultRatio] and [DefaultDwell]; an app
// that bundles it with other settings passes them to configure, which
// overrides the defaults in either case). It confirms nothing inside a
// frame of a foreign origin, posts only to an endpoint of the page's
// origin ("/exposure/beacon" by default), and posts each token at most
// once per page life. It needs no script-src or connect-src beyond 'self'.
// The other files do not depend on the Confirmer's settings.
func (c *Confirmer) Module() http.Handler {
	return http.HandlerFunc(c.serveModule)
}

func (c *Confirmer) serveModule(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	f, ok := moduleFiles[name]
	if name == "index.js" {
		f = c.moduleIndex
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/javascript; charset=utf-8")
	hd.Set("Cache-Control", "public, max-age=3600")
	hd.Set("ETag", f.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
