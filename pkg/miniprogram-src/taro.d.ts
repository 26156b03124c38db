// checkout-guard for Taro compiled to a WeChat mini-program (`checkout-guard-miniprogram/taro`).
import type { Loaded, LoadOptions } from './index';

export interface TaroLoadOptions extends LoadOptions {
  /** `Taro` from `@tarojs/taro`: the guard's storage, requests, wallet and app-show events go through it. */
  Taro: object;
}

/** Loads the wasm (default {@link DEFAULT_WASM_PATH}) and the entropy; guards made by `createGuard` call `Taro`. */
export declare function load(options: TaroLoadOptions): Promise<Loaded>;
/** `/checkout-guard/checkout_guard_bg.wasm.br`: the wasm copied to `dist/checkout-guard/` by a `copy.patterns` entry. */
export declare const DEFAULT_WASM_PATH: string;
