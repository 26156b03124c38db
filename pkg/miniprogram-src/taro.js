'use strict';
// checkout-guard for Taro compiled to a WeChat mini-program (`taro build --type weapp`). Import
// it from the package, have Taro copy the wasm into the build (config/index.js:
// `copy: { patterns: [{ from: 'node_modules/checkout-guard-miniprogram/miniprogram/checkout_guard_bg.wasm.br',
// to: 'dist/checkout-guard/checkout_guard_bg.wasm.br' }] }`) and load it once, in app.js:
//
//   import Taro from '@tarojs/taro';
//   import { load } from 'checkout-guard-miniprogram/taro';
//   const checkout = load({ Taro }).then((cg) => cg.createGuard({ baseUrl, scope: userId }));
//
// The guard's records go through `Taro.*StorageSync`, its requests through `Taro.request`, the
// wallet through `Taro.requestPayment` and `pageShown()` runs on every `Taro.onAppShow` (or pass
// `resumeOnShow: false` and call `guard.pageShown()` from `useDidShow` / `componentDidShow`).

const { frameworkLoader } = require('./framework.js');

/** Where the copy pattern above puts the wasm. */
const DEFAULT_WASM_PATH = '/checkout-guard/checkout_guard_bg.wasm.br';

const load = frameworkLoader({ option: 'Taro', label: 'Taro', wasmPath: DEFAULT_WASM_PATH });

module.exports = { load, DEFAULT_WASM_PATH };
