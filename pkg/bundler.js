// checkout-guard for bundlers with WebAssembly ES-module integration (webpack 5
// `experiments.asyncWebAssembly`, vite-plugin-wasm): the wasm (the package's one, which imports
// nothing) is imported as a module and bound by ./core.js.
import * as wasm from './gen/web/checkout_guard_bg.wasm';
import { Core, bind, bound, sha256Hex } from './core.js';
import { wrap } from './shell.js';

if (!bound()) bind(wasm);
const api = wrap({ Core, sha256Hex });

export const { CheckoutGuard, canonicalize, fingerprint } = api;

/** The root entry's `init` and `initSync`: nothing to do, the bundler instantiated the wasm. */
export async function init() {}
export function initSync() {}
export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';
