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
// Attributes on the <script> element override the server's defaults:
// data-ratio, data-dwell (ms), data-endpoint (default: the script's own URL);
// data-exposure-ratio and data-exposure-dwell on an element override them for
// that element. Elements added or changed later are watched too.
(function (config) {
  "use strict";
  var w = window, d = document;
  if (w.__exposureBeacon) return; // included twice
  w.__exposureBeacon = true;
  // Without IntersectionObserver visibility cannot be confirmed: send nothing.
  if (!("IntersectionObserver" in w) || !("MutationObserver" in w) || !w.Map || !w.Set) return;

  var script = d.currentScript;
  var attr = function (name) { return script ? script.getAttribute(name) : null; };
  var endpoint = attr("data-endpoint") || (script && script.src);
  if (!endpoint) return;
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
    if (!observers[key]) observers[key] = new IntersectionObserver(onIntersect, { threshold: thresholds(ratio) });
    return observers[key];
  }

  function watch(el) {
    var token = el.getAttribute("data-exposure");
    var st = states.get(el);
    if (st) {
      if (st.token === token) return;
      unwatch(el); // a new token on the same element
    }
    if (!token || sent[token]) return;
    st = {
      el: el,
      token: token,
      ratio: number(el.getAttribute("data-exposure-ratio"), ratioDefault, 0.001, 1),
      dwell: number(el.getAttribute("data-exposure-dwell"), dwellDefault, 0, 600000),
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
    if (d.visibilityState !== "visible") return; // restarted on visibilitychange
    st.timer = setTimeout(function () { fire(st); }, st.dwell);
  }

  function disarm(st) {
    if (st.timer) clearTimeout(st.timer);
    st.timer = 0;
  }

  function shown(el) {
    if (el.checkVisibility) return el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
    var cs = w.getComputedStyle(el);
    return cs.visibility !== "hidden" && cs.opacity !== "0";
  }

  function fire(st) {
    st.timer = 0;
    if (!visible.has(st) || d.visibilityState !== "visible" || !st.el.isConnected) return;
    if (!shown(st.el)) {
      arm(st); // in the viewport but hidden by style: look again later
      return;
    }
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

  d.addEventListener("visibilitychange", function () {
    visible.forEach(function (st) {
      if (d.visibilityState === "visible") arm(st);
      else disarm(st);
    });
  });

  function scan(node) {
    if (node.nodeType !== 1) return;
    if (node.hasAttribute("data-exposure")) watch(node);
    var els = node.querySelectorAll("[data-exposure]");
    for (var i = 0; i < els.length; i++) watch(els[i]);
  }

  function forget(node) {
    if (node.nodeType !== 1 || node.isConnected) return; // moved, not removed
    unwatch(node);
    var els = node.querySelectorAll("[data-exposure]");
    for (var i = 0; i < els.length; i++) unwatch(els[i]);
  }

  new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      var r = records[i], j;
      if (r.type === "attributes") {
        if (r.target.hasAttribute("data-exposure")) watch(r.target);
        else unwatch(r.target);
        continue;
      }
      for (j = 0; j < r.removedNodes.length; j++) forget(r.removedNodes[j]);
      for (j = 0; j < r.addedNodes.length; j++) scan(r.addedNodes[j]);
    }
  }).observe(d.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-exposure"] });
  scan(d.documentElement);
})({ /* exposure: settings */ });
