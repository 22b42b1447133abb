package beacon

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
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
		sum := sha256.Sum256(b)
		files[name] = moduleFile{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return files
}()

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
// The module applies the rules of the page script ([WithVisibility]'s
// defaults [DefaultRatio] and [DefaultDwell]; an app that sets others
// passes the same to the module's configure), confirms nothing inside a
// frame of a foreign origin, posts only to an endpoint of the page's
// origin ("/exposure/beacon" by default), and posts each token at most
// once per page life. It needs no script-src or connect-src beyond 'self'.
// The files do not depend on the Confirmer's settings.
func (c *Confirmer) Module() http.Handler {
	return http.HandlerFunc(serveModule)
}

func serveModule(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	f, ok := moduleFiles[strings.TrimPrefix(r.URL.Path, "/")]
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
