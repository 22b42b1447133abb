import type { ExposureOptions } from "./index.js";
export type { ExposureOptions } from "./index.js";

/**
 * Returns a ref callback for the element that shows the variant of token;
 * a falsy token observes nothing.
 */
export function useExposure(
  token: string | null | undefined,
  options?: ExposureOptions
): (element: Element | null) => void;
