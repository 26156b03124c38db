// The hand-written layer shared by every entry point (index.js, web.js, bundler.js, and
// node.cjs through its CommonJS bundle gen/shell.cjs): the package's API over one generated
// glue module, whose wasm is the core alone (`Core`, `sha256Hex`: src/wasm/step.rs). The guard's
// JS driver is ./guard.js, the canonical JSON ./canonical.js; neither decides anything the core
// does not.
import { canonicalize, canonicalText } from './canonical.js';
import { guardClass } from './guard.js';

export { canonicalText };
export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';

/** The public API over one glue module (usable once its wasm is instantiated). */
export function wrap(glue) {
  return {
    CheckoutGuard: guardClass(glue),
    canonicalize,
    fingerprint: (value) => glue.sha256Hex(canonicalize(value)),
  };
}
