/** Visibility and endpoint settings of observe, confirm and configure. */
export interface ExposureOptions {
  /** Share of the element (or of the viewport, for taller elements) that must be visible: 0.001..1. Default 0.5. */
  ratio?: number;
  /** Milliseconds the element must stay visible, without interruption, in the foreground: 0..600000. Default 1000. */
  dwell?: number;
  /** Where tokens are posted; must be of the page's origin, else nothing is sent. Default "/exposure/beacon". */
  endpoint?: string;
  /** Origins allowed to frame the page besides its own: an array, or a space-separated string. Default none. */
  allowFraming?: string[] | string;
}

/** The settings in force after configure. */
export interface ExposureSettings {
  ratio: number;
  dwell: number;
  endpoint: string;
  allowFraming: string[] | string;
}

/** Sets the defaults of later observe and confirm calls; returns the settings in force. */
export function configure(options: ExposureOptions): ExposureSettings;

/**
 * Watches element and posts token once it was seen. Returns a function that
 * stops observing (call it on unmount). A token is posted at most once per page life.
 */
export function observe(element: Element, token: string, options?: ExposureOptions): () => void;

/** Posts token now, for an exposure that is not visual. Returns whether it was handed to the browser. */
export function confirm(token: string, options?: ExposureOptions): boolean;

/** Reports whether token was posted from this page already. */
export function wasSent(token: string): boolean;
