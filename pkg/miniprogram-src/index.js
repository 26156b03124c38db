'use strict';
// checkout-guard for WeChat mini-programs. Installed from npm and built by WeChat DevTools
// ("构建 npm", which copies this folder, the package's `miniprogram` field, to
// `miniprogram_npm/checkout-guard-miniprogram/`), load it once, from app.js:
//
//   const { load } = require('checkout-guard-miniprogram');
//   App({
//     onLaunch() {
//       this.guard = load() // the wasm at /miniprogram_npm/checkout-guard-miniprogram/checkout_guard_bg.wasm.br
//         .then((cg) => cg.createGuard({ baseUrl: 'https://shop.example.com', scope: userId }));
//     },
//   });
//
// Copied by hand into the code package instead (say as `checkout-guard/`), pass
// `wasmPath: '/checkout-guard/checkout_guard_bg.wasm.br'`. uni-app and Taro: `uniapp.js`,
// `taro.js`.
//
// `load` instantiates the wasm with `WXWebAssembly.instantiate(path, imports)` (a path inside
// the code package: `.wasm`, or `.wasm.br` from base library 2.14) and, before anything can be
// constructed, obtains 32 bytes from `wx.getRandomValues` (callback-only) to seed the guards'
// idempotency keys; more are mixed in on every `wx.onAppShow`. See PLATFORM.md.

const glue = require('./checkout_guard_bg.js');
const adapters = require('./adapters.js');
// The package's pkg/errors.js, written here as CommonJS by `cargo xtask build`.
const { platformError, isCheckoutGuardError } = require('./errors.js');

/**
 * Where `load` looks for the wasm when `wasmPath` is not given: where DevTools' "build npm" puts
 * it for a `package.json` at the code package's root. `WXWebAssembly` takes only a path from
 * that root (a module cannot learn its own path), so any other layout passes `wasmPath`.
 */
const DEFAULT_WASM_PATH = '/miniprogram_npm/checkout-guard-miniprogram/checkout_guard_bg.wasm.br';
/** The module name the wasm imports its JS shims under (wasm-bindgen's bundler output). */
const IMPORT_MODULE = './checkout_guard_bg.js';
const SEED_BYTES = 32;

let loaded = null;

/** `length` bytes from `wx.getRandomValues`, which only answers through callbacks. */
function randomBytes(wx, length) {
  return new Promise((resolve, reject) => {
    if (!wx || typeof wx.getRandomValues !== 'function') {
      reject(platformError('wx.getRandomValues is missing (base library 2.20.2 or later is needed)'));
      return;
    }
    wx.getRandomValues({
      length,
      success: (res) => resolve(new Uint8Array(res.randomValues)),
      fail: (err) => reject(platformError(`wx.getRandomValues failed: ${(err && err.errMsg) || err}`)),
    });
  });
}

/**
 * Loads the wasm and the platform entropy; resolves with `{ createGuard, bindPay, fingerprint,
 * canonicalize, MiniProgramGuard }`. Called again, it returns the same promise (after a
 * failure, it tries again).
 */
function load(options = {}) {
  if (loaded) return loaded;
  const wx = options.wx || globalWx();
  const runtime = options.WXWebAssembly || (typeof WXWebAssembly !== 'undefined' ? WXWebAssembly : undefined);
  const path = options.wasmPath || DEFAULT_WASM_PATH;
  if (!runtime || typeof runtime.instantiate !== 'function') {
    return Promise.reject(platformError('WXWebAssembly is missing (base library 2.13 or later is needed)'));
  }
  loaded = Promise.all([
    randomBytes(wx, SEED_BYTES),
    Promise.resolve(runtime.instantiate(path, { [IMPORT_MODULE]: glue })),
  ]).then(([seed, result]) => {
    const instance = result && result.instance ? result.instance : result;
    glue.__wbg_set_wasm(instance.exports);
    instance.exports.__wbindgen_start();
    glue.addEntropy(seed);
    return api(wx);
  });
  loaded.catch(() => {
    loaded = null;
  });
  return loaded;
}

/** The platform's global `wx`, if there is one. */
function globalWx() {
  return typeof wx !== 'undefined' ? wx : undefined;
}

/** Options that the JS layer handles; every other key goes to the guard (which checks it). */
const JS_OPTIONS = ['baseUrl', 'paymentParams', 'launch', 'storage', 'request', 'resumeOnShow', 'platform'];

function api(wx) {
  /**
   * A `MiniProgramGuard` with the `wx` adapters: records in `wx.*StorageSync` (or `storage`),
   * requests through `wx.request` to `baseUrl` + the contract's paths (or `endpoints`), the
   * wallet through `wx.requestPayment` (or `launch`), and `pageShown()` on every
   * `wx.onAppShow` (unless `resumeOnShow: false`). `close()` removes the listener and frees it.
   * `platform` names the object those adapters call instead of `wx` (uni-app's `uni`, Taro's
   * `Taro`: same shapes); entropy always comes from `wx`.
   */
  function createGuard(options = {}) {
    const platform = options.platform || wx;
    const rest = {};
    for (const key of Object.keys(options)) if (!JS_OPTIONS.includes(key)) rest[key] = options[key];
    if (options.baseUrl !== undefined && rest.endpoints === undefined) {
      const base = String(options.baseUrl).replace(/\/+$/, '');
      rest.endpoints = {
        create: `${base}/api/orders/{orderNo}/payments`,
        status: `${base}/api/orders/{orderNo}/payment`,
        submit: `${base}/api/orders`,
      };
    }
    const guard = new glue.MiniProgramGuard({
      ...rest,
      storage: options.storage || adapters.wxStorage(platform),
      request: options.request || adapters.wxRequest(platform),
      launch: options.launch || adapters.wxRequestPayment(platform, options.paymentParams),
    });
    const onShow = () => {
      guard.pageShown();
      // Fresh platform entropy for guards created later (a failure keeps the current pool).
      randomBytes(wx, SEED_BYTES).then(glue.addEntropy, () => {});
    };
    if (options.resumeOnShow !== false && typeof platform.onAppShow === 'function') platform.onAppShow(onShow);
    guard.close = () => {
      if (typeof platform.offAppShow === 'function') platform.offAppShow(onShow);
      guard.free();
    };
    return guard;
  }

  return {
    createGuard,
    bindPay: adapters.bindPay,
    fingerprint: glue.fingerprint,
    canonicalize: glue.canonicalize,
    MiniProgramGuard: glue.MiniProgramGuard,
  };
}

module.exports = { load, adapters, DEFAULT_WASM_PATH, isCheckoutGuardError };
