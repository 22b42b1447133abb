package beacon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/exposurekit/exposure/internal/token"
)

// maxBody is the largest confirmation body the handler reads.
const maxBody = 8 << 10

// ServeHTTP is the endpoint of exposures confirmed in the browser. Mount
// it at one path, inside or outside [exposure.Tracker.Middleware], and load
// its script on the pages that use the "exposureBeacon" template function:
//
//	mux.Handle("/exposure/beacon", confirmer)
//	<script src="/exposure/beacon" defer></script>
//
// GET and HEAD serve the script (a few kilobytes, no dependencies, cached
// for an hour and revalidated by ETag). The script posts the element's
// token to the URL it was loaded from once the element was visible enough
// for long enough (see [WithVisibility]).
//
// POST receives one token as the body. In order:
//
//   - a client over its rate limit ([WithRateLimit]) gets 429 with
//     Retry-After;
//   - a body over 8 KiB gets 413, and a body not received within 5
//     seconds of the handler starting to read it gets 408: a client that
//     trickles its body cannot hold the connection (the connection is
//     closed in both cases);
//   - a genuine, unexpired token of this application ([WithApplication])
//     is committed with [exposure.Tracker.Confirm], through the dedupe
//     and the sinks' queues, and answered 204, provided its flag is still
//     an experiment: when the Tracker registers experiments
//     ([exposure.WithExperiments]), a token of a flag it does not register
//     (an experiment removed since the page was rendered, or one named by
//     the provider's metadata only) is refused and counted in
//     [Stats].Unregistered. A Tracker that registers none relies on the
//     provider's metadata, which the Confirmer cannot consult: it accepts
//     every flag, and an experiment ended at the provider keeps confirming
//     until its tokens expire ([WithExpiry]).
//
// The endpoint is same-origin by default: a post a browser sends from a
// page of another origin (told by its Sec-Fetch-Site header, or by an
// Origin header naming another host) is refused with 403, sends nothing
// and is counted in [Stats].CrossOrigin, unless [WithAllowedOrigins]
// lists that origin; posts with neither header (mobile apps, servers,
// curl) are not browsers' and pass. For a listed origin, OPTIONS answers
// the CORS preflight with 204 (any other OPTIONS gets 405).
//
// A replayed token, a second tab or a reload of the same assignment is
// deduplicated like any exposure. Anything else gets 400 with no detail,
// sends nothing and is counted in [Stats]; a genuine token that arrives
// after the Tracker was closed gets 503. Other methods get 405. The
// handler never waits on a sink; it waits on the Deduper as a mark's
// commit does.
func (c *Confirmer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		hd := w.Header()
		hd.Set("Content-Type", "text/javascript; charset=utf-8")
		hd.Set("Cache-Control", "public, max-age=3600")
		hd.Set("ETag", c.scriptETag)
		hd.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(c.script))
	case http.MethodPost:
		c.receive(w, r)
	case http.MethodOptions:
		if c.preflight(w, r) {
			return
		}
		fallthrough
	default:
		c.counters.wrongMethod.Add(1)
		c.counters.rejected.Add(1)
		w.Header().Set("Allow", "GET, HEAD, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// bodyReadTimeout bounds the read of a confirmation's body: a token is a
// few hundred bytes, sent at once.
const bodyReadTimeout = 5 * time.Second

// receive verifies the token in the body of a POST and confirms its
// exposure.
func (c *Confirmer) receive(w http.ResponseWriter, r *http.Request) {
	// The deadline covers everything read from here on, also what the
	// server drains of a body left unread. A ResponseWriter that cannot
	// set one (a test recorder, a wrapper without Unwrap) reads without.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(c.bodyTimeout))
	w.Header().Set("Cache-Control", "no-store")
	c.allowOrigin(w, r)
	refuse := func(code int, reason *atomic.Uint64) {
		reason.Add(1)
		c.counters.rejected.Add(1)
		switch code {
		case http.StatusRequestEntityTooLarge, http.StatusRequestTimeout, http.StatusTooManyRequests:
			w.Header().Set("Connection", "close") // the rest of the body is not read
		}
		w.WriteHeader(code)
	}
	if c.crossOrigin.Check(r) != nil {
		refuse(http.StatusForbidden, &c.counters.crossOrigin)
		return
	}
	if c.isBot(r) {
		// Not an error of the client's: 204, so that it does not retry.
		c.counters.bots.Add(1)
		w.Header().Set("Connection", "close") // the body is not read
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if c.limiter != nil {
		if ok, wait := c.limiter.allow(r, c.now()); !ok {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
			refuse(http.StatusTooManyRequests, &c.counters.rateLimited)
			return
		}
	}
	if r.ContentLength > maxBody {
		refuse(http.StatusRequestEntityTooLarge, &c.counters.tooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	switch {
	case len(body) > maxBody:
		refuse(http.StatusRequestEntityTooLarge, &c.counters.tooLarge)
		return
	case isTimeout(err):
		refuse(http.StatusRequestTimeout, &c.counters.timedOut)
		return
	case err != nil:
		refuse(http.StatusBadRequest, &c.counters.malformed)
		return
	}
	tok, verdict := c.codec.Verify(string(bytes.TrimSpace(body)), c.now())
	switch verdict {
	case token.OK:
	case token.Forged:
		refuse(http.StatusBadRequest, &c.counters.forged)
		return
	case token.Expired:
		refuse(http.StatusBadRequest, &c.counters.expired)
		return
	default:
		refuse(http.StatusBadRequest, &c.counters.malformed)
		return
	}
	if _, ok := c.experiments[tok.FlagKey]; !ok && c.experiments != nil {
		c.warn("exposure/beacon: refused a confirmation of a flag the Tracker does not register as an experiment",
			"flag", tok.FlagKey)
		refuse(http.StatusBadRequest, &c.counters.unregistered)
		return
	}
	// The browser does not wait for the answer (sendBeacon): finish the
	// commit even when it hangs up.
	if err := c.tracker.Confirm(context.WithoutCancel(r.Context()), assignmentOf(&tok)); err != nil {
		c.warn("exposure/beacon: the Tracker refused a confirmed exposure", "flag", tok.FlagKey, "err", err)
		refuse(http.StatusServiceUnavailable, &c.counters.unconfirmed)
		return
	}
	c.counters.accepted.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// preflightMaxAge is how long a browser may cache a preflight's answer:
// two hours, the most Chromium honours.
const preflightMaxAge = "7200"

// allowOrigin adds the CORS headers of a post from an allowed origin. When
// origins are allowed, every answer varies by Origin, so a cache never
// gives one origin's answer to another.
func (c *Confirmer) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	if c.origins == nil {
		return false
	}
	hd := w.Header()
	hd.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if _, ok := c.origins[origin]; !ok {
		return false
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	return true
}

// preflight answers a CORS preflight from an allowed origin for a POST,
// and reports whether it did.
func (c *Confirmer) preflight(w http.ResponseWriter, r *http.Request) bool {
	if !c.allowOrigin(w, r) || r.Header.Get("Access-Control-Request-Method") != http.MethodPost {
		return false
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "POST")
	hd.Set("Access-Control-Allow-Headers", "Content-Type")
	hd.Set("Access-Control-Max-Age", preflightMaxAge)
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return true
}
