// `CheckoutGuardError` at run time. The guard's errors are plain `Error`s made in the wasm
// (name "CheckoutGuardError", a stable `code`), so this is not a class they are built from:
// `instanceof CheckoutGuardError` and `isCheckoutGuardError(e)` recognise them by shape,
// which also holds for errors from another copy of the package (two bundles on one page).
// node.cjs has the same few lines (CommonJS cannot import this ES module everywhere).

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

/** A `platform` error: the wasm is not instantiated yet, and `message` says what to do. */
export function notReady(message) {
  const error = new Error(message);
  error.name = 'CheckoutGuardError';
  error.code = 'platform';
  return error;
}
