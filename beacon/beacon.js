// exposure beacon: confirms that an element carrying a data-exposure token
// was seen, and posts the token back once. Served by beacon.Confirmer,
// which also receives the confirmations; no dependencies, no build step.
//
//   <script src="/exposure/beacon" defer></script>
//   <div {{ exposureBeacon .Ctx "flag" }}>…</div>
//
// An element counts as seen when at least `ratio` of it is inside the viewport
// (or it covers `ratio` of the viewport, for elements taller than the screen)
// for `dwell` milliseconds without interruption, while the page is in the
// foreground and the element is not hidden by style (display:none never
// intersects; visibility:hidden and opacity:0 are checked before sending).
// Where the browser tracks visibility (IntersectionObserver v2, Chromium), the
// element must also be unobstructed all that time: nothing drawn over it, no
// opacity below 1, no filter, no transform beyond translation and scaling, on
// it or on any ancestor, the frames it is in included.
//
// Framing: in a frame, the script confirms only when every ancestor frame is
// of the page's own origin, or of an origin listed in the data-allow-framing
// attribute (space-separated origins such as "https://www.example.com"),
// as far as the browser can tell: an ancestor whose origin it cannot learn
// (no location.ancestorOrigins, in Firefox) counts as foreign.
//
// Attributes on the <script> element override the server's defaults:
// data-ratio, data-dwell (ms), data-endpoint (default: the script's own URL;
// it must be of the page's origin, else nothing is sent); data-exposure-ratio
// and data-exposure-dwell on an element override them for that element.
// Elements added or changed later are watched too.
//
// Injected markup cannot steer the script (DOM clobbering): it reads the
// document and elements through the prototypes' own accessors, never through
// names an <img name=…> or <form> could shadow, and marks itself loaded with a
// symbol, which no element id can reach.
(function (config) {
  "use strict";
  var w = window, d = document, loc = w.location;
  // Built-ins read from prototypes: a named element can shadow document.x
  // and form.x, not these.
  var D = w.Document && w.Document.prototype, E = w.Element && w.Element.prototype;
  var N = w.Node && w.Node.prototype, T = w.EventTarget && w.EventTarget.prototype;
  if (!D || !E || !N || !T || typeof w.Symbol !== "function" || !w.URL) return;
  var getter = function (proto, name) {
    var p = Object.getOwnPropertyDescriptor(proto, name);
    return p && p.get;
  };
  var docScript = getter(D, "currentScript"), docRoot = getter(D, "documentElement");
  var docVisibility = getter(D, "visibilityState");
  var nodeType = getter(N, "nodeType"), connected = getter(N, "isConnected");
  var getAttr = E.getAttribute, hasAttr = E.hasAttribute, selectAll = E.querySelectorAll;
  var listen = T.addEventListener;
  var attrOf = function (el, name) { return getAttr.call(el, name); };
  var foreground = function () { return !docVisibility || docVisibility.call(d) === "visible"; };
  var isConnected = function (el) { return connected ? connected.call(el) : true; };

  var loaded = w.Symbol.for("exposurekit.beacon.loaded");
  if (w[loaded]) return; // included twice
  Object.defineProperty(w, loaded, { value: true });
  // Without IntersectionObserver visibility cannot be confirmed: send nothing.
  if (!("IntersectionObserver" in w) || !("MutationObserver" in w) || !w.Map || !w.Set) return;
  // IntersectionObserver v2: occlusion, opacity and transforms are tracked.
  var tracksVisibility = !!w.IntersectionObserverEntry && "isVisible" in w.IntersectionObserverEntry.prototype;

  var script = docScript && docScript.call(d);
  if (!(script instanceof w.HTMLScriptElement)) return;
  var attr = function (name) { return attrOf(script, name); };
  var warn = function (msg) { if (w.console && w.console.warn) w.console.warn("exposure beacon: " + msg); };

  // The endpoint: only the page's own origin.
  var endpoint = attr("data-endpoint") || script.src;
  if (!endpoint) return; // an inline copy of the script: no endpoint
  try {
    endpoint = new w.URL(endpoint, loc.href);
  } catch (e) { endpoint = null; }
  if (!endpoint || endpoint.origin !== loc.origin || !/^https?:$/.test(endpoint.protocol)) {
    warn("the endpoint must be of the page's origin (" + loc.origin + "); sending nothing");
    return;
  }
  endpoint = endpoint.href;

  // Origins allowed to frame the page, besides its own.
  var framers = Object.create(null);
  (attr("data-allow-framing") || "").split(/\s+/).forEach(function (o) {
    if (!o) return;
    try {
      var u = new w.URL(o);
      if (u.origin !== "null") framers[u.origin] = true;
    } catch (e) { warn("data-allow-framing: " + o + " is not an origin"); }
  });

  // framingAllowed reports whether every frame around this document is of
  // the page's origin or an allowed one. A cross-origin parent cannot
  // forge what is read here: window.top, window.parent and location are
  // unforgeable, reading a foreign frame's location.origin throws, and
  // location.ancestorOrigins is filled in by the browser ("null" when the
  // parent hides its origin, which counts as foreign).
  function framingAllowed() {
    if (w.top === w) return true;
    var ancestors = loc.ancestorOrigins, p = w;
    for (var i = 0; p !== w.top; i++) {
      if (i > 64) return false;
      p = p.parent;
      var origin = null;
      try {
        origin = p.location.origin;
      } catch (e) { origin = null; }
      if (typeof origin !== "string") origin = ancestors && i < ancestors.length ? ancestors[i] : null;
      if (origin !== loc.origin && !(origin && origin !== "null" && framers[origin] === true)) return false;
    }
    return true;
  }
  if (!framingAllowed()) { // rechecked before every send
    warn("framed by an origin that is not allowed (see data-allow-framing); sending nothing");
    return;
  }
  var number = function (s, fallback, lo, hi) {
    var v = s === null || s === "" ? NaN : Number(s);
    return isFinite(v) && v >= lo && v <= hi ? v : fallback;
  };
  var ratioDefault = number(attr("data-ratio"), config.ratio, 0.001, 1);
  var dwellDefault = number(attr("data-dwell"), config.dwell, 0, 600000);

  var states = new Map(); // element -> its watch state
  var visible = new Set(); // states of elements visible enough right now
  var sent = {}; // tokens posted from this page
  var observers = {}; // ratio -> IntersectionObserver

  function thresholds(ratio) {
    var t = [0, ratio, 1];
    for (var i = 1; i < 20; i++) t.push(i / 20);
    t.sort(function (a, b) { return a - b; });
    return t.filter(function (v, i) { return i === 0 || v !== t[i - 1]; });
  }

  function observerFor(ratio) {
    var key = String(ratio);
    if (!observers[key]) {
      var options = { threshold: thresholds(ratio) };
      if (tracksVisibility) {
        options.trackVisibility = true;
        options.delay = 100; // the least the browser allows
      }
      observers[key] = new IntersectionObserver(onIntersect, options);
    }
    return observers[key];
  }

  function watch(el) {
    var token = attrOf(el, "data-exposure");
    var st = states.get(el);
    if (st) {
      if (st.token === token) return;
      unwatch(el); // a new token on the same element
    }
    if (!token || sent[token]) return;
    st = {
      el: el,
      token: token,
      ratio: number(attrOf(el, "data-exposure-ratio"), ratioDefault, 0.001, 1),
      dwell: number(attrOf(el, "data-exposure-dwell"), dwellDefault, 0, 600000),
      timer: 0,
      observer: null
    };
    st.observer = observerFor(st.ratio);
    states.set(el, st);
    st.observer.observe(el);
  }

  function unwatch(el) {
    var st = states.get(el);
    if (!st) return;
    st.observer.unobserve(el);
    disarm(st);
    visible.delete(st);
    states.delete(el);
  }

  function enough(st, e) {
    if (!e.isIntersecting) return false;
    if (tracksVisibility && !e.isVisible) return false; // covered, faded or transformed
    if (e.intersectionRatio >= st.ratio - 0.001) return true;
    var root = e.rootBounds, r = e.intersectionRect;
    var area = root ? root.width * root.height : 0;
    return area > 0 && r.width * r.height >= st.ratio * area - 1;
  }

  function onIntersect(entries) {
    for (var i = 0; i < entries.length; i++) {
      var st = states.get(entries[i].target);
      if (!st) continue;
      if (enough(st, entries[i])) {
        if (!visible.has(st)) {
          visible.add(st);
          arm(st);
        }
      } else {
        visible.delete(st);
        disarm(st);
      }
    }
  }

  function arm(st) {
    disarm(st);
    if (!foreground()) return; // restarted on visibilitychange
    st.timer = setTimeout(function () { fire(st); }, st.dwell);
  }

  function disarm(st) {
    if (st.timer) clearTimeout(st.timer);
    st.timer = 0;
  }

  function shown(el) {
    if (E.checkVisibility) return E.checkVisibility.call(el, { opacityProperty: true, visibilityProperty: true });
    var cs = w.getComputedStyle(el);
    return cs.visibility !== "hidden" && cs.opacity !== "0";
  }

  function fire(st) {
    st.timer = 0;
    if (!visible.has(st) || !foreground() || !isConnected(st.el)) return;
    if (!shown(st.el)) {
      arm(st); // in the viewport but hidden by style: look again later
      return;
    }
    if (!framingAllowed()) return;
    unwatch(st.el);
    if (sent[st.token]) return;
    sent[st.token] = true;
    send(st.token);
  }

  function send(token) {
    var queued = false;
    try {
      queued = !!(navigator.sendBeacon && navigator.sendBeacon(endpoint, token));
    } catch (e) { /* fall back below */ }
    if (queued || !w.fetch) return;
    try {
      w.fetch(endpoint, {
        method: "POST", body: token, keepalive: true, credentials: "same-origin",
        headers: { "Content-Type": "text/plain" }
      }).catch(function () {});
    } catch (e) { /* nothing more to try */ }
  }

  listen.call(d, "visibilitychange", function () {
    visible.forEach(function (st) {
      if (foreground()) arm(st);
      else disarm(st);
    });
  });

  function scan(node) {
    if (nodeType.call(node) !== 1) return;
    if (hasAttr.call(node, "data-exposure")) watch(node);
    var els = selectAll.call(node, "[data-exposure]");
    for (var i = 0; i < els.length; i++) watch(els[i]);
  }

  function forget(node) {
    if (nodeType.call(node) !== 1 || isConnected(node)) return; // moved, not removed
    unwatch(node);
    var els = selectAll.call(node, "[data-exposure]");
    for (var i = 0; i < els.length; i++) unwatch(els[i]);
  }

  new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      var r = records[i], j;
      if (r.type === "attributes") {
        if (hasAttr.call(r.target, "data-exposure")) watch(r.target);
        else unwatch(r.target);
        continue;
      }
      for (j = 0; j < r.removedNodes.length; j++) forget(r.removedNodes[j]);
      for (j = 0; j < r.addedNodes.length; j++) scan(r.addedNodes[j]);
    }
  }).observe(docRoot.call(d), { childList: true, subtree: true, attributes: true, attributeFilter: ["data-exposure"] });
  scan(docRoot.call(d));
})({ /* exposure: settings */ });
