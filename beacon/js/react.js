// React binding of the exposure module: a hook whose ref, put on the
// element that draws the variant, observes it with the module's
// visibility rules and posts the token once it was seen.
//
//   import { useExposure } from "@exposurekit/beacon/react";
//   function Pricing({ variant, token }) {
//     const ref = useExposure(token);
//     return <section ref={ref}>…</section>;
//   }
//
// React is the app's own (a peer dependency, never bundled here). The ref is
// a callback: React calls it with the element when it is attached and with
// null when it is detached, so a component unmounted before its dwell sends
// nothing, a remounted one does not send twice (the token is posted once per
// page life), and a new token on the same element is observed afresh. It
// needs no effect, and so behaves the same under StrictMode's double mount.
import { useCallback, useRef } from "react";
import { observe } from "./index.js";

/**
 * useExposure returns a ref callback for the element that shows the
 * variant of token. A falsy token (the server gave none: no experiment, or
 * the variant was marked on the server) observes nothing. options are those
 * of observe (ratio, dwell, endpoint, allowFraming), read when the element
 * is attached.
 */
export function useExposure(token, options) {
  const stopRef = useRef(null);
  const optionsRef = useRef(options);
  optionsRef.current = options;
  return useCallback((element) => {
    if (stopRef.current) {
      stopRef.current();
      stopRef.current = null;
    }
    if (element && token) stopRef.current = observe(element, token, optionsRef.current);
  }, [token]);
}
