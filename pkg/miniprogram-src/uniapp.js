'use strict';
// checkout-guard for uni-app compiled to a WeChat mini-program (mp-weixin). Import it from the
// package, copy the wasm into `static/` (which uni-app copies into the build as it is), and load
// it once, from App.vue:
//
//   import { load } from 'checkout-guard-miniprogram/uniapp';
//   // static/checkout-guard/checkout_guard_bg.wasm.br, copied from
//   // node_modules/checkout-guard-miniprogram/miniprogram/
//   const checkout = load({ uni }).then((cg) => cg.createGuard({ baseUrl, scope: userId }));
//
// The guard's records go through `uni.*StorageSync`, its requests through `uni.request`, the
// wallet through `uni.requestPayment` (with `provider: 'wxpay'`) and `pageShown()` runs on every
// `uni.onAppShow` (or pass `resumeOnShow: false` and call `guard.pageShown()` from App.vue's
// `onShow`).

const { frameworkLoader } = require('./framework.js');

/** Where uni-app's build puts `static/checkout-guard/checkout_guard_bg.wasm.br`. */
const DEFAULT_WASM_PATH = '/static/checkout-guard/checkout_guard_bg.wasm.br';

const load = frameworkLoader({
  option: 'uni',
  label: 'uni-app',
  wasmPath: DEFAULT_WASM_PATH,
  launchFields: { provider: 'wxpay' },
});

module.exports = { load, DEFAULT_WASM_PATH };
