// What pkg/node.cjs needs of the package's ES modules, bundled by `cargo xtask build` as the one
// CommonJS module gen/shell.cjs (this file itself is not shipped): the API of ./shell.js over
// the core (./core.js; the same wasm as the browser entry's: Node >= 18 has the `TextEncoder`,
// `TextDecoder` and `WebAssembly` it uses), and the errors. Only `initSync` of ./load.js is
// taken: node.cjs reads the wasm from disk itself, so the `fetch` and `import.meta.url` loader
// is left out of the bundle. It sets `module.exports` itself, so esbuild writes no ES-module
// interop around it.
import { Core, bound, sha256Hex } from './core.js';
import { initSync } from './load.js';
import { wrap } from './shell.js';
import { CheckoutGuardError, isCheckoutGuardError } from './errors.js';

module.exports = { api: wrap({ Core, sha256Hex }), bound, initSync, CheckoutGuardError, isCheckoutGuardError };
