// checkout-guard with caller-supplied wasm: nothing is fetched until you call `init`.
//
//   import init, { fingerprint } from 'checkout-guard/web';
//   await init({ module_or_path: '/assets/checkout_guard_bg.wasm' });   // URL, Response,
//                                                                        // bytes or Module
// `initSync({ module })` takes bytes or a compiled `WebAssembly.Module` synchronously.
import glueInit, * as glue from './gen/web/checkout_guard.js';
import { wrap } from './shell.js';

const api = wrap(glue);

export default async function init(options) {
  const exports = await glueInit(options);
  api.install();
  return exports;
}

export function initSync(options) {
  const exports = glue.initSync(options);
  api.install();
  return exports;
}

export const { CheckoutGuard, canonicalize, fingerprint } = api;
export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';
