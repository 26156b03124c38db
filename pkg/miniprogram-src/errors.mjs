// The package's one error module (pkg/errors.js) for the mini-program bundle: bundled by
// `cargo xtask build` as the bundle's CommonJS `errors.js`, which the loader, the driver and
// framework.js require. It sets `module.exports` itself, so that esbuild writes no ES-module
// interop around it (see ./driver.mjs).
import { CheckoutGuardError, guardError, isCheckoutGuardError, platformError } from '../errors.js';

module.exports = { CheckoutGuardError, guardError, isCheckoutGuardError, platformError };
