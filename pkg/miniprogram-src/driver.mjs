// The guard's JS driver for the mini-program bundle: what the loader (./index.js) needs of the
// package's JS, bundled by `cargo xtask build` into the bundle's `driver.js` (CommonJS, ES2018).
// The same driver as the browser's (pkg/guard.js) and the core's binding (pkg/core.js); the
// mini-program's platform is the loader's.
//
// It sets `module.exports` itself rather than exporting: esbuild then writes no ES-module
// interop (`__export`, `__toCommonJS`: 0.6 KB of the bundle) around a module nobody imports.
import { guardClass } from '../guard.js';
import { Store } from '../platform.js';
import { canonicalize } from '../canonical.js';
import { Core, bind, sha256Hex } from '../core.js';

module.exports = { guardClass, Store, canonicalize, Core, bind, sha256Hex };
