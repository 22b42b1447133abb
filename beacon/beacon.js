// exposure beacon: confirms that an element carrying a data-exposure token
// was seen, and posts the token back once. Served by beacon.Confirmer,
// which also receives the confirmations; no dependencies. The visibility,
// framing and sending rules are those of the browser module: the Confirmer
// serves this file with js/index.js inlined in the function m (its
// exports made local, its comments left out, its defaults the
// Confirmer's beacon.WithVisibility settings); this file only finds the
// elements that carry a token and observes each with it.
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
// symbol, which no element id can reach; the tokens posted are shared with
// any copy of the module on the page, which does not post them again.
(function () {
  "use strict";
  // The browser module (js/index.js), inlined by the Confirmer.
  var m = (function () {
    /* exposure: module */
    return { observe: observe, configure: configure, resolve: resolve, framingAllowed: framingAllowed, warn: warn };
  })();
  var w = window, d = document;
  // Built-ins read from prototypes: a named element can shadow document.x
  // and form.x, not these.
  var D = w.Document && w.Document.prototype, E = w.Element && w.Element.prototype;
  var N = w.Node && w.Node.prototype;
  if (!D || !E || !N || typeof w.Symbol !== "function" || !w.URL) return;
  var getter = function (proto, name) {
    var p = Object.getOwnPropertyDescriptor(proto, name);
    return p && p.get;
  };
  var docScript = getter(D, "currentScript"), docRoot = getter(D, "documentElement");
  var nodeType = getter(N, "nodeType"), connected = getter(N, "isConnected");
  var getAttr = E.getAttribute, hasAttr = E.hasAttribute, selectAll = E.querySelectorAll;
  var attrOf = function (el, name) { return getAttr.call(el, name); };
  var isConnected = function (el) { return connected ? connected.call(el) : true; };

  var loaded = w.Symbol.for("exposurekit.beacon.loaded");
  if (w[loaded]) return; // included twice
  Object.defineProperty(w, loaded, { value: true });
  // Without IntersectionObserver visibility cannot be confirmed: send nothing.
  if (!("IntersectionObserver" in w) || !("MutationObserver" in w) || !w.Map || !w.Set) return;

  var script = docScript && docScript.call(d);
  if (!(script instanceof w.HTMLScriptElement)) return;
  var attr = function (name) { return attrOf(script, name); };

  // The script's settings: its attributes over the Confirmer's. The
  // endpoint (default: the script's own URL) must be of the page's origin.
  var endpoint = attr("data-endpoint") || script.src;
  if (!endpoint) return; // an inline copy of the script: no endpoint
  m.configure({
    ratio: attr("data-ratio"), dwell: attr("data-dwell"), endpoint: endpoint,
    allowFraming: attr("data-allow-framing") || ""
  });
  var settings = m.resolve();
  if (!settings.endpoint) return; // warned
  if (!m.framingAllowed(settings.framers)) { // rechecked before every send
    m.warn("framed by an origin that is not allowed (see data-allow-framing); sending nothing");
    return;
  }

  var watched = new w.WeakMap(); // element -> { token, stop }

  function watch(el) {
    var token = attrOf(el, "data-exposure");
    var st = watched.get(el);
    if (st) {
      if (st.token === token) return;
      unwatch(el); // a new token on the same element
    }
    if (!token) return;
    watched.set(el, {
      token: token,
      stop: m.observe(el, token, { ratio: attrOf(el, "data-exposure-ratio"), dwell: attrOf(el, "data-exposure-dwell") })
    });
  }

  function unwatch(el) {
    var st = watched.get(el);
    if (!st) return;
    st.stop();
    watched.delete(el);
  }

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
})();
