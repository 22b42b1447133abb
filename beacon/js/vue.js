// Vue 3 binding of the exposure module: a directive that observes the
// element it is on and posts the token once the element was seen.
//
//   import { exposure } from "@exposurekit/beacon/vue";
//   app.use(exposure);                       // registers v-exposure
//   <section v-exposure="token">…</section>
//   <section v-exposure="{ token, dwell: 2000 }">…</section>
//
// It imports nothing from Vue. Unmounted before its dwell, an element sends
// nothing; a remounted one does not send twice (the token is posted once
// per page life); a new token on the same element is observed afresh.
import { observe } from "./index.js";

const stops = new WeakMap();

// split reads the directive's value: a token, or { token, ...options }.
function split(value) {
  if (value && typeof value === "object") {
    const { token, ...options } = value;
    return { token, options };
  }
  return { token: value, options: undefined };
}

function start(el, value) {
  stop(el);
  const { token, options } = split(value);
  if (token) stops.set(el, { token, stop: observe(el, token, options) });
}

function stop(el) {
  const s = stops.get(el);
  if (s) {
    s.stop();
    stops.delete(el);
  }
}

/** vExposure is the directive itself, for local registration. */
export const vExposure = {
  mounted(el, binding) { start(el, binding.value); },
  updated(el, binding) {
    const s = stops.get(el);
    if (!s || s.token !== split(binding.value).token) start(el, binding.value);
  },
  beforeUnmount(el) { stop(el); }
};

/** exposure is a plugin registering vExposure as v-exposure. */
export const exposure = {
  install(app) { app.directive("exposure", vExposure); }
};

export default exposure;
