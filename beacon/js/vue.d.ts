import type { ExposureOptions } from "./index.js";
export type { ExposureOptions } from "./index.js";

/** The value of v-exposure: a token, or a token with options. */
export type ExposureBinding = string | null | undefined | (ExposureOptions & { token: string | null | undefined });

interface Binding { value: ExposureBinding; oldValue?: ExposureBinding | null }

/** The directive, for local registration (directives: { exposure: vExposure }). */
export declare const vExposure: {
  mounted(el: Element, binding: Binding): void;
  updated(el: Element, binding: Binding): void;
  beforeUnmount(el: Element): void;
};

/** A plugin registering v-exposure: app.use(exposure). */
export declare const exposure: { install(app: { directive(name: string, directive: typeof vExposure): unknown }): void };
export default exposure;
