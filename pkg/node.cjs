'use strict';
// checkout-guard for Node.js (require or import) and server builds that bundle it (Next.js,
// a Vite SSR build). Nothing is read when this module loads: the wasm is read from disk and
// instantiated synchronously on first use (a guard, canonicalize, fingerprint), or earlier by
// `initSync({ module })` / `init()` with bytes or a compiled module of your own.
const fs = require('fs');
const { createRequire } = require('module');
// The package's API (./shell.js and the modules it imports, ES modules) over the web target's
// glue, with ./errors.js, bundled as CommonJS by `cargo xtask build` (from pkg/node-shell.mjs),
// so that every Node the package supports can require it.
const shell = require('./gen/shell.cjs');
const api = shell.api;

/** The package's wasm (the web build's copy: the same bytes). */
function readWasm() {
  try {
    return fs.readFileSync(__dirname + '/gen/web/checkout_guard_bg.wasm');
  } catch (error) {
    // Bundled into a server build (Vite SSR: no `__dirname`; Next.js: a virtual one), this
    // module's folder is not the package's any more; the installed package is, from where the
    // server runs. (Elsewhere: `initSync({ module })` with the bytes.)
    try {
      const resolve = createRequire(process.cwd() + '/').resolve;
      return fs.readFileSync(resolve('checkout-guard/checkout_guard_bg.wasm'));
    } catch {
      throw error;
    }
  }
}

function initSync(options) {
  if (!shell.bound()) {
    const source = options && options.module;
    shell.initSync({ module: source === undefined ? readWasm() : source });
  }
}

/** `init()` as on the web entry: a path or `file:` URL, a `Response`, bytes or a module. */
async function init(options) {
  let source = await (options && options.module_or_path);
  if (typeof source === 'string' || source instanceof URL) source = fs.readFileSync(source);
  else if (typeof Response === 'function' && source instanceof Response) source = await source.arrayBuffer();
  initSync({ module: source });
}

const { isCheckoutGuardError, CheckoutGuardError } = shell;

exports.CheckoutGuard = class CheckoutGuard extends api.CheckoutGuard {
  constructor(options) {
    initSync();
    super(options);
  }
};
exports.isCheckoutGuardError = isCheckoutGuardError;
exports.CheckoutGuardError = CheckoutGuardError;
exports.canonicalize = (value) => {
  initSync();
  return api.canonicalize(value);
};
exports.fingerprint = (value) => {
  initSync();
  return api.fingerprint(value);
};
exports.init = init;
exports.initSync = initSync;
