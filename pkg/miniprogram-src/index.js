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
// `load` instantiates the wasm (the core alone, `Core`) with `WXWebAssembly.instantiate(path,
// imports)` (a path inside the code package: `.wasm`, or `.wasm.br` from base library 2.14)
// and, before anything can be constructed, obtains 32 bytes from `wx.getRandomValues`
// (callback-only) for the entropy pool that seeds the guards' idempotency keys; more are mixed
// in on every `wx.onAppShow`. See PLATFORM.md. The guard is the package's JS driver
// (`driver.js`: pkg/guard.js, the browser's own) on the mini-program's platform below.

const adapters = require('./adapters.js');
// The driver also carries the core's binding (pkg/core.js), which takes its text codecs from
// ./text.js: the platform's where present, else a compact fallback.
const { guardClass, Store, canonicalize, Core, bind, sha256Hex } = require('./driver.js');
const text = require('./text.js');
// The package's pkg/errors.js, written here as CommonJS by `cargo xtask build`.
const { guardError, platformError, isCheckoutGuardError } = require('./errors.js');

/**
 * Where `load` looks for the wasm when `wasmPath` is not given: where DevTools' "build npm" puts
 * it for a `package.json` at the code package's root. `WXWebAssembly` takes only a path from
 * that root (a module cannot learn its own path), so any other layout passes `wasmPath`.
 */
const DEFAULT_WASM_PATH = '/miniprogram_npm/checkout-guard-miniprogram/checkout_guard_bg.wasm.br';
/** What the core binds: the `Core` class and `sha256Hex` (pkg/core.js). */
const binding = { Core, sha256Hex };
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

function hex(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 1) out += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  return out;
}

/**
 * The entropy pool: platform bytes (at least 32, from `wx.getRandomValues`) hashed with what
 * the pool held before; each guard's seed is a fresh block (SHA-256 of the pool and a counter),
 * so guards made before the next `wx.onAppShow` still get distinct seeds. There is no weaker
 * fallback: without platform bytes no guard can be made.
 */
const pool = {
  state: undefined,
  counter: 0,
  add(bytes) {
    if (!bytes || bytes.length < SEED_BYTES) {
      throw platformError(`addEntropy needs at least 32 random bytes, got ${bytes ? bytes.length : 0}`);
    }
    pool.state = binding.sha256Hex(`checkout-guard/pool/v1:${pool.state || ''}:${hex(bytes)}`);
  },
  seed() {
    if (pool.state === undefined) {
      throw platformError(
        "no platform entropy yet: create guards through the loader's load(), which obtains it from wx.getRandomValues first",
      );
    }
    const block = binding.sha256Hex(`checkout-guard/seed/v1:${pool.state}:${pool.counter}`);
    pool.counter += 1;
    const seed = new Uint8Array(SEED_BYTES);
    for (let i = 0; i < SEED_BYTES; i += 1) seed[i] = parseInt(block.slice(2 * i, 2 * i + 2), 16);
    return seed;
  },
};

/** A lock that is always granted: a mini-program runs one instance. */
const ALONE = { release() {}, renew() {} };

/**
 * What a mini-program gives the guard's JS driver (see pkg/guard.js): the `request` option (a
 * request function over `wx.request`, required: there is no global one), storage `'memory'` or
 * an adapter (required), the entropy pool; one instance, so the lock is granted at once and
 * there are no other tabs; "the buyer is back" is `pageShown()`, which the loader calls on
 * `wx.onAppShow`.
 */
const MINIPROGRAM = {
  transport: 'request',
  defaultTransport() {
    throw guardError(
      'invalid_options',
      'invalid option `request`: required: (url, { method, headers, body, timeoutMs }) => Promise<{ status, headers: { get }, text() }>',
    );
  },
  defaultStorage: undefined,
  storageNames: [],
  store: (choice) => new Store(choice === 'memory' ? undefined : choice),
  seed: () => pool.seed(),
  locks: () => ({ mechanism: 'alone', tryAcquire: () => Promise.resolve(ALONE) }),
  channel: () => undefined,
  watch: () => undefined,
};

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
    Promise.resolve(runtime.instantiate(path, {})),
  ]).then(([seed, result]) => {
    const instance = result && result.instance ? result.instance : result;
    bind(instance.exports, text);
    pool.add(seed);
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

/** Options that the loader handles; every other key goes to the guard (which checks it). */
const JS_OPTIONS = ['baseUrl', 'paymentParams', 'launch', 'storage', 'request', 'resumeOnShow', 'platform'];

function api(wx) {
  const MiniProgramGuard = guardClass(binding, MINIPROGRAM);

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
    const guard = new MiniProgramGuard({
      ...rest,
      storage: options.storage || adapters.wxStorage(platform),
      request: options.request || adapters.wxRequest(platform),
      launch: options.launch || adapters.wxRequestPayment(platform, options.paymentParams),
    });
    const onShow = () => {
      guard.pageShown();
      // Fresh platform entropy for guards created later (a failure keeps the current pool).
      randomBytes(wx, SEED_BYTES).then(pool.add, () => {});
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
    fingerprint: (value) => binding.sha256Hex(canonicalize(value)),
    canonicalize,
    MiniProgramGuard,
  };
}

/** Mixes at least 32 more bytes of platform entropy into the pool (the loader does on show). */
const addEntropy = (bytes) => pool.add(bytes);

module.exports = { load, adapters, addEntropy, DEFAULT_WASM_PATH, isCheckoutGuardError };
