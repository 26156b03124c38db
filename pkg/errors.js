// The one place the package's JavaScript makes and recognises a `CheckoutGuardError`: plain
// `Error`s with name "CheckoutGuardError" and a stable `code` (the core's refusals carry their
// code in its batch, src/core/step.rs). `CheckoutGuardError` is not a class they are built
// from: `instanceof CheckoutGuardError` and `isCheckoutGuardError(e)` recognise them by shape,
// which also holds for errors from another copy of the package (two bundles on one page) and
// from the mini-program build (its `errors.js` is this file, bundled).
// `cargo xtask build` bundles it as CommonJS for node.cjs (in `gen/shell.cjs`) and for the
// mini-program bundle (`errors.js` there): edit it here only.

const CODES = new Set([
  'invalid_options', 'invalid_order', 'busy', 'server_contract', 'server_rejected', 'network',
  'storage', 'platform',
]);

/** Whether `value` is an error thrown or rejected by checkout-guard. */
export function isCheckoutGuardError(value) {
  return value instanceof Error && value.name === 'CheckoutGuardError' && CODES.has(value.code);
}

/** `error instanceof CheckoutGuardError` narrows to the guard's errors; not constructible. */
export const CheckoutGuardError = Object.freeze({
  [Symbol.hasInstance]: isCheckoutGuardError,
});

/** A `CheckoutGuardError` with `code` (one of the codes above) and `message`. */
export function guardError(code, message) {
  const error = new Error(message);
  error.name = 'CheckoutGuardError';
  error.code = code;
  return error;
}

/**
 * A `platform` error: the wasm is not instantiated yet, or the runtime lacks what it needs
 * (`crypto.getRandomValues`, `wx.getRandomValues`, `WXWebAssembly`); `message` says what to do.
 */
export function platformError(message) {
  return guardError('platform', message);
}
