'use strict';
// What the uni-app and Taro entries share. Both frameworks compile to a WeChat mini-program, so
// the guard is the native one (`index.js`: `WXWebAssembly`, entropy from `wx.getRandomValues`)
// and the adapters are the native ones (`adapters.js`: the storage limits, the reply and wallet
// mappings), only calling the framework's API object, whose storage, request, requestPayment
// and onAppShow have wx's shapes, instead of `wx`. Nothing here decides anything about a payment.

const core = require('./index.js');
const adapters = require('./adapters.js');
const { platformError } = require('./errors.js');

/**
 * A framework's `load(options)`: `options[option]` is its API object (`uni`, `Taro`), required
 * (compiled code reaches it through the framework's module, not a global); `wasmPath` defaults
 * to `wasmPath` here; `launchFields` are added to every `requestPayment` call (uni-app's
 * `provider`). Resolves like the native `load`, with `createGuard` calling that API object.
 */
function frameworkLoader({ option, label, wasmPath, launchFields = {} }) {
  return function load(options = {}) {
    const platform = options[option];
    if (!platform || typeof platform.request !== 'function' || typeof platform.getStorageSync !== 'function') {
      return Promise.reject(
        platformError(`${label}: load() needs \`${option}\`, the framework's API object (load({ ${option} }))`),
      );
    }
    const rest = { ...options, wasmPath: options.wasmPath || wasmPath };
    delete rest[option];
    return core.load(rest).then((cg) => ({
      ...cg,
      createGuard(guardOptions = {}) {
        const params = guardOptions.paymentParams || adapters.paymentParams;
        return cg.createGuard({
          ...guardOptions,
          platform,
          paymentParams: (prepay, context) => ({ ...launchFields, ...params(prepay, context) }),
        });
      },
    }));
  };
}

module.exports = { frameworkLoader };
