// checkout-guard for browsers and ES-module bundlers (Vite, Rollup, esbuild).
//
// Hand-written and thin: the generated glue in ./gen/web/ does the work, ./shell.js adds the
// JS fast paths. The module fetches and instantiates its wasm (next to the glue, found through
// `import.meta.url`) before it exports anything, so `import { fingerprint } from
// 'checkout-guard'` is ready to call. To supply the wasm yourself (a CDN, a mini-program path,
// a precompiled module), import 'checkout-guard/web' instead and call its `init`.
import init, * as glue from './gen/web/checkout_guard.js';
import { wrap } from './shell.js';

await init();
const api = wrap(glue);
api.install();

export const { CheckoutGuard, canonicalize, fingerprint } = api;
export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';
