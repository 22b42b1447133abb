// The React single-page app of the module's browser tests
// (module_browser_test.go), bundled at test time by esbuild with real React
// from node_modules. Same routes, API and knobs as vanilla-app.js; the
// pricing panel is a component using useExposure, under StrictMode (which
// mounts, unmounts and mounts again in development builds).
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { configure, wasSent } from "../index.js";
import { useExposure } from "../react.js";

const q = new URLSearchParams(location.search);
const settings = {};
if (q.get("dwell")) settings.dwell = Number(q.get("dwell"));
if (q.get("allow")) settings.allowFraming = [q.get("allow")];
if (q.get("endpoint")) settings.endpoint = q.get("endpoint");
configure(settings);

const app = (window.app = { draws: 0, token: "", wasSent });
// The API's answer, fetched once per page life (as an SPA's data cache
// does): StrictMode's second effect run reuses the first request.
let cached = null;
let pending = null;
const load = () => (pending ??= fetch("/api/pricing?user=" + encodeURIComponent(q.get("user") || "anon"))
  .then((r) => r.json())
  .then((a) => (cached = a)));

function Pricing({ variant, token }) {
  const ref = useExposure(token);
  useEffect(() => {
    app.token = token;
    app.draws++;
  }, [token]);
  return (
    <>
      {q.get("below") && <div className="spacer" />}
      <section id="panel" className="panel" data-variant={variant} ref={ref}>
        pricing: {variant}
      </section>
    </>
  );
}

function PricingRoute() {
  const [answer, setAnswer] = useState(cached);
  useEffect(() => {
    if (answer) return;
    let live = true;
    load().then((a) => {
      if (live) setAnswer(a);
    });
    return () => { live = false; };
  }, [answer]);
  return answer ? <Pricing variant={answer.variant} token={answer.token} /> : <p>loading</p>;
}

function App() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    app.go = (to) => {
      history.pushState(null, "", to + location.search);
      setPath(to);
    };
    const onPop = () => setPath(location.pathname);
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);
  return path === "/app/pricing" ? <PricingRoute /> : <p>home</p>;
}

createRoot(document.getElementById("view")).render(
  <StrictMode>
    <App />
  </StrictMode>
);
