// The vanilla single-page app of the module's browser tests
// (module_browser_test.go): a home route and a pricing route, switched with
// history.pushState; the pricing route asks the API for its variant and
// token and draws the panel, then observes it. The query string sets the
// test's knobs: user, dwell (ms), below (the panel below the fold), allow
// (an origin allowed to frame the page), endpoint, nostop (the panel is
// removed without calling stop).
import { observe, configure, wasSent } from "/exposure/js/index.js";

const q = new URLSearchParams(location.search);
const settings = {};
if (q.get("dwell")) settings.dwell = Number(q.get("dwell"));
if (q.get("allow")) settings.allowFraming = [q.get("allow")];
if (q.get("endpoint")) settings.endpoint = q.get("endpoint");
configure(settings);

const view = document.getElementById("view");
let stop = null;
let cached = null; // the API's answer, fetched once per page life, as an SPA caches it
const app = (window.app = { draws: 0, token: "", wasSent });

async function pricing() {
  if (!cached) {
    const r = await fetch("/api/pricing?user=" + encodeURIComponent(q.get("user") || "anon"));
    cached = await r.json();
  }
  return cached;
}

async function render() {
  if (stop) {
    if (!q.get("nostop")) stop();
    stop = null;
  }
  view.textContent = "";
  if (location.pathname !== "/app/pricing") {
    const p = document.createElement("p");
    p.textContent = "home";
    view.append(p);
    return;
  }
  const { variant, token } = await pricing();
  if (location.pathname !== "/app/pricing" || view.querySelector("#panel")) return;
  if (q.get("below")) {
    const spacer = document.createElement("div");
    spacer.className = "spacer";
    view.append(spacer);
  }
  const panel = document.createElement("section");
  panel.id = "panel";
  panel.className = "panel";
  panel.dataset.variant = variant;
  panel.textContent = "pricing: " + variant;
  view.append(panel);
  app.token = token;
  app.draws++;
  stop = observe(panel, token);
}

// go navigates inside the app, as a click on one of its links does.
app.go = (path) => {
  history.pushState(null, "", path + location.search);
  return render();
};
// On window, not document: the hostile-page tests shadow
// document.addEventListener with an <img name="addEventListener">.
addEventListener("click", (e) => {
  const a = e.target.closest("a[data-route]");
  if (!a) return;
  e.preventDefault();
  app.go(a.getAttribute("href"));
});
addEventListener("popstate", render);
render();
