// The guard's JS driver for the mini-program bundle: what the loader (./index.js) needs of the
// package's JS, bundled by `cargo xtask build` into the bundle's `driver.js` (CommonJS, ES2018).
// The same driver as the browser's (pkg/guard.js); the mini-program's platform is the loader's.
export { guardClass } from '../guard.js';
export { Store } from '../platform.js';
export { canonicalize } from '../canonical.js';
export { Core, bind, sha256Hex } from '../core.js';
