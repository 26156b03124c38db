// checkout-guard for bundlers with WebAssembly ES-module integration (webpack 5
// `experiments.asyncWebAssembly`, vite-plugin-wasm): the wasm is imported as a module.
// The glue sits beside the package's one wasm (see xtask/src/build.rs).
import * as glue from './gen/web/checkout_guard_bundler.js';
import { wrap } from './shell.js';

const api = wrap(glue);

export const { CheckoutGuard, canonicalize, fingerprint } = api;

/** The root entry's `init` and `initSync`: nothing to do, the bundler instantiated the wasm. */
export async function init() {}
export function initSync() {}
export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';
