// checkout-guard with caller-supplied wasm: nothing is fetched until you call `init`.
//
//   import init, { fingerprint } from 'checkout-guard/web';
//   await init({ module_or_path: '/assets/checkout_guard_bg.wasm' });   // URL, Response,
//                                                                        // bytes or Module
// `initSync({ module })` takes bytes or a compiled `WebAssembly.Module` synchronously.
import { Core, bound, sha256Hex } from './core.js';
import { init as load, initSync as loadSync } from './load.js';
import { wrap } from './shell.js';
import { platformError } from './errors.js';
// The rest of the module graph in one round trip when unbundled (see ./index.js).
import {} from './browser.js';
import {} from './button.js';
import {} from './canonical.js';
import {} from './guard.js';
import {} from './platform.js';

const api = wrap({ Core, sha256Hex });

/** Used before `init`: a `CheckoutGuardError` that says what to do, not a TypeError from the unbound core. */
const NOT_READY = 'checkout-guard/web: call init() (or initSync()) before using the guard';

/** Also exported by name, as from the package's root entry. */
export { init };

export default function init(options) {
  return load(options);
}

export function initSync(options) {
  loadSync(options);
}

export class CheckoutGuard extends api.CheckoutGuard {
  constructor(options) {
    if (!bound()) throw platformError(NOT_READY);
    super(options);
  }
}

export function canonicalize(value) {
  if (!bound()) throw platformError(NOT_READY);
  return api.canonicalize(value);
}

export function fingerprint(value) {
  if (!bound()) throw platformError(NOT_READY);
  return api.fingerprint(value);
}
export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';
