// checkout-guard for uni-app compiled to a WeChat mini-program (`checkout-guard-miniprogram/uniapp`).
import type { Loaded, LoadOptions } from './index';

export interface UniLoadOptions extends LoadOptions {
  /** uni-app's `uni`: the guard's storage, requests, wallet and app-show events go through it. */
  uni: object;
}

/** Loads the wasm (default {@link DEFAULT_WASM_PATH}) and the entropy; guards made by `createGuard` call `uni`. */
export declare function load(options: UniLoadOptions): Promise<Loaded>;
/** `/static/checkout-guard/checkout_guard_bg.wasm.br`: the wasm copied into uni-app's `static/checkout-guard/`. */
export declare const DEFAULT_WASM_PATH: string;
