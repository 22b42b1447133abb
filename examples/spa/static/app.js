// The client of the demo: a router on history.pushState, and a pricing
// route that asks the API for its variant and draws the plans in that
// order. The panel is observed with the browser module served by
// beacon.Confirmer; the module posts the API's token once half of the
// panel was on screen for a second, and the server prints the exposure.
import { observe, wasSent } from "/exposure/js/index.js";

const view = document.getElementById("view");
const status = document.getElementById("status");
let stopObserving = null; // the current panel's, called when the route changes
let pricing = null; // the API's answer, kept for the page's life as an SPA caches data

const plans = {
  monthly: { name: "Monthly", price: "$12 / month" },
  annual: { name: "Annual", price: "$120 / year (two months free)" }
};

function el(tag, props, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

function home() {
  view.replaceChildren(
    el("h1", {}, "Welcome"),
    el("p", {}, "Nothing is evaluated here. Open ", el("a", { href: "/pricing", dataset: { route: "" } }, "Pricing"), ".")
  );
}

function about() {
  view.replaceChildren(el("h1", {}, "About"),
    el("p", {}, "A Go JSON API and plain ES modules; the variant is drawn by the client."));
}

async function pricingPage() {
  view.replaceChildren(el("p", {}, "Loading prices…"));
  if (!pricing) {
    const r = await fetch("/api/pricing", { credentials: "same-origin" });
    pricing = await r.json();
  }
  if (location.pathname !== "/pricing") return; // the visitor moved on meanwhile
  const order = pricing.variant === "annual-first" ? ["annual", "monthly"] : ["monthly", "annual"];
  const panel = el("section", { id: "pricing", className: "pricing" },
    ...order.map((k, i) => el("div", { className: i === 0 ? "plan first" : "plan" },
      el("h2", {}, plans[k].name), el("p", {}, plans[k].price))));
  panel.dataset.variant = pricing.variant;
  view.replaceChildren(
    el("div", { className: "intro" }, el("h1", {}, "Pricing"),
      el("p", {}, "Scroll down: the plans are below the fold, and the exposure is counted only once you see them.")),
    panel
  );
  if (!pricing.token) return; // no token issued: nothing to confirm
  if (wasSent(pricing.token)) {
    status.textContent = "Already confirmed on this page: nothing more is sent.";
    return;
  }
  status.textContent = "Variant " + pricing.variant + " drawn; waiting for you to see it…";
  const token = pricing.token;
  const stop = observe(panel, token);
  // Tell the visitor when the module sent it (the exposure is on the server's stdout).
  const poll = setInterval(() => {
    if (wasSent(token)) {
      clearInterval(poll);
      status.textContent = "Seen: exposure confirmed (see the server's output).";
    }
  }, 250);
  stopObserving = () => { stop(); clearInterval(poll); };
}

function render() {
  if (stopObserving) {
    stopObserving(); // unmounted: a panel left before its dwell sends nothing
    stopObserving = null;
  }
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === location.pathname) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  status.textContent = "";
  window.scrollTo(0, 0);
  if (location.pathname === "/pricing") return pricingPage();
  if (location.pathname === "/about") return about();
  return home();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-route]");
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  if (a.getAttribute("href") !== location.pathname) history.pushState(null, "", a.getAttribute("href"));
  render();
});
addEventListener("popstate", render);
render();
