// @exposurekit/beacon: confirms, from a page drawn by the client, that a
// variant was seen, and posts its confirmation token once to the server's
// beacon.Confirmer, which commits the exposure. The token comes from the
// server (beacon.Confirmer.Token, in a JSON answer); no dependencies, no
// build step, works under `script-src 'self'; connect-src 'self'`.
//
//   import { observe, confirm } from "/exposure/js/index.js";
//   const stop = observe(panel, token);   // when the panel is drawn
//   stop();                               // when it is taken away
//   confirm(token);                       // an exposure that is not visual
//
// The visibility rules are those of the server-rendered script
// (/exposure/beacon), with the same defaults when the module is loaded from
// the Confirmer (its beacon.WithVisibility settings): an element counts as seen when at least `ratio` of it
// is inside the viewport (or it covers `ratio` of the viewport, for elements
// taller than the screen) for `dwell` milliseconds without interruption,
// while the page is in the foreground and the element is not hidden by style
// (display:none never intersects; visibility:hidden and opacity:0 are checked
// before sending). Where the browser tracks visibility (IntersectionObserver
// v2, Chromium), the element must also be unobstructed all that time.
//
// Each token is posted at most once per page life, however many elements,
// mounts and remounts carry it: a component that is unmounted and mounted
// again does not send twice, and one unmounted before its dwell sends
// nothing. Another tab, or a reload, is another page life: its post reaches
// the server as a duplicate, never as a second exposure.
//
// Hostile pages: in a frame, nothing is confirmed unless every ancestor
// frame is of the page's origin or listed in `allowFraming`; the endpoint
// must be of the page's origin (else nothing is sent); the document is read
// through the prototypes' own accessors, so injected markup (an
// <img name="visibilityState">) cannot switch the module off or steer it,
// and the module's state lives in its closure and under a symbol, which no
// element id or name can reach.

const w = typeof window === "object" ? window : null;
const d = w && w.document;
const loc = w && w.location;
const D = w && w.Document && w.Document.prototype;
const E = w && w.Element && w.Element.prototype;
const N = w && w.Node && w.Node.prototype;
const getter = (proto, name) => {
  const p = proto && Object.getOwnPropertyDescriptor(proto, name);
  return p && p.get;
};
const docVisibility = getter(D, "visibilityState");
const nodeConnected = getter(N, "isConnected");
const listen = w && w.EventTarget && w.EventTarget.prototype.addEventListener;
// Without IntersectionObserver visibility cannot be confirmed: observe sends
// nothing (confirm still works).
const canObserve = !!(w && D && E && N && "IntersectionObserver" in w && w.Map && w.Set);
// IntersectionObserver v2: occlusion, opacity and transforms are tracked.
const tracksVisibility = !!(w && w.IntersectionObserverEntry &&
  "isVisible" in w.IntersectionObserverEntry.prototype);

// The visibility defaults: beacon.DefaultRatio and beacon.DefaultDwell in
// this file; the copy a Confirmer serves (Confirmer.Module) carries the
// Confirmer's beacon.WithVisibility settings on the next line instead, so
// that the module and the page script apply one rule. configure overrides.
const VISIBILITY = { ratio: 0.5, dwell: 1000 }; // exposure: visibility
const DEFAULTS = { ratio: VISIBILITY.ratio, dwell: VISIBILITY.dwell, endpoint: "/exposure/beacon", allowFraming: [] };
let settings = Object.assign({}, DEFAULTS);

// The tokens posted from this page, shared by every copy of the module (a
// bundled one and a served one), under a symbol markup cannot reach.
const SENT = w && w.Symbol ? w.Symbol.for("exposurekit.module.sent") : null;
const sent = (() => {
  if (!w || !SENT || !w.Set) return null;
  if (!(w[SENT] instanceof w.Set)) {
    try {
      Object.defineProperty(w, SENT, { value: new w.Set() });
    } catch (e) { return new w.Set(); }
  }
  return w[SENT];
})();

const warn = (msg) => {
  if (w && w.console && w.console.warn) w.console.warn("exposure: " + msg);
};

const number = (v, fallback, lo, hi) => {
  const n = v === null || v === undefined || v === "" ? NaN : Number(v);
  return isFinite(n) && n >= lo && n <= hi ? n : fallback;
};

// origins returns the set of origins in list (an array or a string of
// space-separated origins).
function origins(list) {
  const set = Object.create(null);
  const items = typeof list === "string" ? list.split(/\s+/) : Array.isArray(list) ? list : [];
  for (const o of items) {
    if (!o) continue;
    try {
      const u = new w.URL(String(o));
      if (u.origin !== "null") set[u.origin] = true;
    } catch (e) { warn("allowFraming: " + o + " is not an origin"); }
  }
  return set;
}

// endpointOf resolves an endpoint against the page; null unless it is of
// the page's origin.
function endpointOf(endpoint) {
  let u = null;
  try {
    u = new w.URL(String(endpoint), loc.href);
  } catch (e) { u = null; }
  if (!u || u.origin !== loc.origin || !/^https?:$/.test(u.protocol)) {
    warn("the endpoint must be of the page's origin (" + (loc && loc.origin) + "); sending nothing");
    return null;
  }
  return u.href;
}

// resolve merges per-call options over the module's settings.
function resolve(options) {
  const o = Object.assign({}, settings, options || {});
  return {
    ratio: number(o.ratio, settings.ratio, 0.001, 1),
    dwell: number(o.dwell, settings.dwell, 0, 600000),
    endpoint: w ? endpointOf(o.endpoint) : null,
    framers: w ? origins(o.allowFraming) : null
  };
}

/**
 * configure sets the defaults of every later observe and confirm call:
 * ratio (0.001..1), dwell (ms, 0..600000), endpoint (of the page's origin;
 * default "/exposure/beacon") and allowFraming (origins allowed to frame the
 * page, besides its own). Values out of range keep the previous setting.
 * It returns the settings now in force.
 */
export function configure(options) {
  const o = options || {};
  const next = Object.assign({}, settings);
  if ("ratio" in o) next.ratio = number(o.ratio, settings.ratio, 0.001, 1);
  if ("dwell" in o) next.dwell = number(o.dwell, settings.dwell, 0, 600000);
  if ("endpoint" in o) next.endpoint = String(o.endpoint);
  if ("allowFraming" in o) next.allowFraming = o.allowFraming;
  settings = next;
  return Object.assign({}, settings);
}

// framingAllowed reports whether every frame around this document is of
// the page's origin or an allowed one. A cross-origin parent cannot forge
// what is read here: window.top, window.parent and location are
// unforgeable, reading a foreign frame's location.origin throws, and
// location.ancestorOrigins is filled in by the browser ("null" when the
// parent hides its origin, which counts as foreign).
function framingAllowed(framers) {
  if (w.top === w) return true;
  const ancestors = loc.ancestorOrigins;
  let p = w;
  for (let i = 0; p !== w.top; i++) {
    if (i > 64) return false;
    p = p.parent;
    let origin = null;
    try {
      origin = p.location.origin;
    } catch (e) { origin = null; }
    if (typeof origin !== "string") origin = ancestors && i < ancestors.length ? ancestors[i] : null;
    if (origin !== loc.origin && !(origin && origin !== "null" && framers[origin] === true)) return false;
  }
  return true;
}

function send(endpoint, token) {
  let queued = false;
  try {
    queued = !!(w.navigator.sendBeacon && w.navigator.sendBeacon(endpoint, token));
  } catch (e) { /* fall back below */ }
  if (queued || !w.fetch) return queued;
  try {
    w.fetch(endpoint, {
      method: "POST", body: token, keepalive: true, credentials: "same-origin",
      headers: { "Content-Type": "text/plain" }
    }).catch(() => {});
    return true;
  } catch (e) { return false; }
}

// post sends token once per page life; it reports whether it was sent now.
function post(token, o) {
  if (!o.endpoint || sent.has(token)) return false;
  if (!framingAllowed(o.framers)) {
    warn("framed by an origin that is not allowed (see allowFraming); sending nothing");
    return false;
  }
  sent.add(token);
  return send(o.endpoint, token);
}

const validToken = (token) => typeof token === "string" && token.length > 0 && token.length <= 8192;

/**
 * confirm posts token now, for an exposure that is not visual (a price in
 * an e-mail preview, a sorting order, a server-side effect the user met).
 * It sends nothing inside a frame of a foreign origin, to an endpoint of
 * another origin, or a token already posted from this page. It returns
 * whether the token was handed to the browser.
 */
export function confirm(token, options) {
  if (!w || !sent || !validToken(token)) return false;
  const o = resolve(options);
  return post(token, o);
}

const foreground = () => !docVisibility || docVisibility.call(d) === "visible";
const isConnected = (el) => (nodeConnected ? nodeConnected.call(el) : true);

function shown(el) {
  if (E.checkVisibility) return E.checkVisibility.call(el, { opacityProperty: true, visibilityProperty: true });
  const cs = w.getComputedStyle(el);
  return cs.visibility !== "hidden" && cs.opacity !== "0";
}

function thresholds(ratio) {
  const t = [0, ratio, 1];
  for (let i = 1; i < 20; i++) t.push(i / 20);
  t.sort((a, b) => a - b);
  return t.filter((v, i) => i === 0 || v !== t[i - 1]);
}

// Every observation in progress, so that a page going to the background
// stops their clocks.
const watches = canObserve ? new w.Set() : null;
if (canObserve && listen) {
  listen.call(d, "visibilitychange", () => {
    watches.forEach((st) => {
      if (!st.visible) return;
      if (foreground()) st.arm();
      else st.disarm();
    });
  });
}

const noop = () => {};

/**
 * observe watches element and posts token once the element was seen:
 * `ratio` of it in the viewport for `dwell` milliseconds, the page in the
 * foreground, the element not hidden. options override the module's
 * settings (see configure) for this element. It returns a function that
 * stops observing: call it when the element is taken away (a component's
 * unmount); an element removed from the document before its dwell sends
 * nothing either way. A token already posted from this page is not watched
 * again.
 */
export function observe(element, token, options) {
  if (!canObserve || !sent || !validToken(token) || !(element instanceof w.Element)) return noop;
  if (sent.has(token)) return noop;
  const o = resolve(options);
  if (!o.endpoint) return noop;
  if (!framingAllowed(o.framers)) { // rechecked before sending
    warn("framed by an origin that is not allowed (see allowFraming); sending nothing");
    return noop;
  }
  let timer = 0;
  let stopped = false;
  const st = {
    visible: false,
    arm() {
      st.disarm();
      if (!foreground()) return; // restarted on visibilitychange
      timer = w.setTimeout(fire, o.dwell);
    },
    disarm() {
      if (timer) w.clearTimeout(timer);
      timer = 0;
    }
  };
  const options_ = { threshold: thresholds(o.ratio) };
  if (tracksVisibility) {
    options_.trackVisibility = true;
    options_.delay = 100; // the least the browser allows
  }
  const enough = (e) => {
    if (!e.isIntersecting) return false;
    if (tracksVisibility && !e.isVisible) return false; // covered, faded or transformed
    if (e.intersectionRatio >= o.ratio - 0.001) return true;
    const root = e.rootBounds, r = e.intersectionRect;
    const area = root ? root.width * root.height : 0;
    return area > 0 && r.width * r.height >= o.ratio * area - 1;
  };
  const io = new w.IntersectionObserver((entries) => {
    if (stopped) return;
    // The last entry is the element's latest state.
    const e = entries[entries.length - 1];
    if (enough(e)) {
      if (!st.visible) {
        st.visible = true;
        st.arm();
      }
    } else {
      st.visible = false;
      st.disarm();
    }
  }, options_);
  function stop() {
    if (stopped) return;
    stopped = true;
    st.disarm();
    st.visible = false;
    io.disconnect();
    watches.delete(st);
  }
  function fire() {
    timer = 0;
    if (stopped || !st.visible || !foreground()) return;
    if (!isConnected(element)) { // removed without stop: nothing to see
      stop();
      return;
    }
    if (!shown(element)) {
      st.arm(); // in the viewport but hidden by style: look again later
      return;
    }
    if (!framingAllowed(o.framers)) return;
    stop();
    post(token, o);
  }
  watches.add(st);
  io.observe(element);
  return stop;
}

/** wasSent reports whether token was posted from this page already. */
export function wasSent(token) {
  return !!(sent && sent.has(token));
}
