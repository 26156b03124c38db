// The one place the package's JavaScript makes and recognises a `CheckoutGuardError`. The
// guard's own errors are plain `Error`s made in the wasm (`src/wasm/errors.rs`: name
// "CheckoutGuardError", a stable `code`), so `CheckoutGuardError` is not a class they are built
// from: `instanceof CheckoutGuardError` and `isCheckoutGuardError(e)` recognise them by shape,
// which also holds for errors from another copy of the package (two bundles on one page).
// `cargo xtask build` writes this file as CommonJS for node.cjs (`gen/errors.cjs`) and for the
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

/**
 * A `platform` error, made in JS where the wasm cannot be asked: it is not instantiated yet,
 * or the runtime lacks what it needs (`wx.getRandomValues`, `WXWebAssembly`); `message` says
 * what to do.
 */
export function platformError(message) {
  const error = new Error(message);
  error.name = 'CheckoutGuardError';
  error.code = 'platform';
  return error;
}
