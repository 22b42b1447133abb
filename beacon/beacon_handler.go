package exposure

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

//go:embed beacon.js
var beaconJS string

// beaconSettingsMarker is where the script receives its settings.
const beaconSettingsMarker = "{ /* exposure: settings */ }"

// maxBeaconBody is the largest confirmation body the handler reads.
const maxBeaconBody = 8 << 10

func buildBeaconScript(ratio float64, dwell time.Duration) (script []byte, etag string) {
	settings := `{"ratio":` + strconv.FormatFloat(ratio, 'g', -1, 64) +
		`,"dwell":` + strconv.FormatInt(dwell.Milliseconds(), 10) + `}`
	js := bytes.Replace([]byte(beaconJS), []byte(beaconSettingsMarker), []byte(settings), 1)
	sum := sha256.Sum256(js)
	return js, `"` + hex.EncodeToString(sum[:12]) + `"`
}

// BeaconHandler returns the endpoint of exposures confirmed in the
// browser. Mount it at one path, such as /exposure/beacon, inside or
// outside [Tracker.Middleware], and load its script on pages that use the
// "exposureBeacon" template function:
//
//	mux.Handle("/exposure/beacon", tracker.BeaconHandler())
//	<script src="/exposure/beacon" defer></script>
//	<aside {{ exposureBeacon .Ctx "accessories-panel" }}>…</aside>
//
// GET and HEAD serve the script (a few kilobytes, no dependencies, cached
// for an hour and revalidated by ETag). The script posts the element's
// token to the URL it was loaded from once the element was visible enough
// for long enough (see [WithBeaconVisibility]).
//
// POST receives one token as the body (at most 8 KiB, else 413). A genuine,
// unexpired token is committed like a rendered mark, through the dedupe
// and the sinks' queues, and answered 204: a replayed token, a second tab
// or a reload of the same assignment is deduplicated like any exposure.
// Anything else gets 400 with no detail, sends nothing and is counted in
// [Stats].Beacon. Other methods get 405. The handler never waits on a sink;
// it waits on the Deduper as a mark's commit does.
//
// Without [WithBeaconKeys] the handler refuses every token.
func (t *Tracker) BeaconHandler() http.Handler {
	if !t.beacon.enabled() {
		t.beacon.noKeysOnce.Do(func() {
			t.log.Warn("exposure: BeaconHandler used, but the Tracker has no WithBeaconKeys: every confirmation will be refused")
		})
	}
	return beaconHandler{t: t}
}

type beaconHandler struct{ t *Tracker }

func (h beaconHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := h.t.beacon
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		hd := w.Header()
		hd.Set("Content-Type", "text/javascript; charset=utf-8")
		hd.Set("Cache-Control", "public, max-age=3600")
		hd.Set("ETag", b.scriptETag)
		hd.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b.script))
	case http.MethodPost:
		h.receive(w, r)
	default:
		b.counters.wrongMethod.Add(1)
		b.counters.rejected.Add(1)
		w.Header().Set("Allow", "GET, HEAD, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (h beaconHandler) receive(w http.ResponseWriter, r *http.Request) {
	b := h.t.beacon
	w.Header().Set("Cache-Control", "no-store")
	refuse := func(code int, reason *atomic.Uint64) {
		reason.Add(1)
		b.counters.rejected.Add(1)
		if code == http.StatusRequestEntityTooLarge {
			w.Header().Set("Connection", "close") // the rest of the body is not read
		}
		w.WriteHeader(code)
	}
	if r.ContentLength > maxBeaconBody {
		refuse(http.StatusRequestEntityTooLarge, &b.counters.tooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBeaconBody+1))
	switch {
	case len(body) > maxBeaconBody:
		refuse(http.StatusRequestEntityTooLarge, &b.counters.tooLarge)
		return
	case err != nil:
		refuse(http.StatusBadRequest, &b.counters.malformed)
		return
	}
	tok, verdict := b.verify(string(bytes.TrimSpace(body)), h.t.now())
	switch verdict {
	case beaconOK:
	case beaconForged:
		refuse(http.StatusBadRequest, &b.counters.forged)
		return
	case beaconExpired:
		refuse(http.StatusBadRequest, &b.counters.expired)
		return
	default:
		refuse(http.StatusBadRequest, &b.counters.malformed)
		return
	}
	b.counters.accepted.Add(1)
	a := [1]Assignment{tok.assignment()}
	// The browser does not wait for the answer (sendBeacon): finish the
	// commit even when it hangs up.
	h.t.commit(context.WithoutCancel(r.Context()), a[:])
	w.WriteHeader(http.StatusNoContent)
}
