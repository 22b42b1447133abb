// The Vue single-page app of the module's browser tests
// (module_browser_test.go), bundled at test time by esbuild with real Vue 3
// from node_modules. Same routes, API and knobs as vanilla-app.js; the
// pricing panel carries the v-exposure directive, registered by the
// plugin. Render functions, not templates: the page's CSP (script-src
// 'self') forbids the eval that compiling a template in the browser needs.
import { createApp, defineComponent, h, onMounted, ref, resolveDirective, withDirectives } from "vue";
import { configure, wasSent } from "../index.js";
import { exposure } from "../vue.js";

const q = new URLSearchParams(location.search);
const settings = {};
if (q.get("dwell")) settings.dwell = Number(q.get("dwell"));
if (q.get("allow")) settings.allowFraming = [q.get("allow")];
if (q.get("endpoint")) settings.endpoint = q.get("endpoint");
configure(settings);

const app = (window.app = { draws: 0, token: "", wasSent });
// The API's answer, fetched once per page life, as an SPA's data cache does.
let pending = null;
const load = () => (pending ??= fetch("/api/pricing?user=" + encodeURIComponent(q.get("user") || "anon"))
  .then((r) => r.json()));

const Pricing = defineComponent({
  props: { variant: String, token: String },
  setup(props) {
    onMounted(() => {
      app.token = props.token;
      app.draws++;
    });
    return () => {
      const panel = withDirectives(
        h("section", { id: "panel", class: "panel", "data-variant": props.variant }, "pricing: " + props.variant),
        [[resolveDirective("exposure"), props.token]]
      );
      return q.get("below") ? [h("div", { class: "spacer" }), panel] : panel;
    };
  }
});

const PricingRoute = defineComponent({
  setup() {
    const answer = ref(null);
    load().then((a) => { answer.value = a; });
    return () => (answer.value
      ? h(Pricing, { variant: answer.value.variant, token: answer.value.token })
      : h("p", "loading"));
  }
});

const App = defineComponent({
  setup() {
    const path = ref(location.pathname);
    app.go = (to) => {
      history.pushState(null, "", to + location.search);
      path.value = to;
    };
    addEventListener("popstate", () => { path.value = location.pathname; });
    return () => (path.value === "/app/pricing" ? h(PricingRoute) : h("p", "home"));
  }
});

createApp(App).use(exposure).mount(document.getElementById("view"));
