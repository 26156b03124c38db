'use strict';
// checkout-guard for Node.js (require or import): the wasm is read from disk synchronously
// when this module loads, so everything is ready at once.
const wasm = require('./gen/nodejs/checkout_guard.js');

// The JS fast paths (./shell.js, an ES module) where `require` can load ES modules (Node
// >= 20.19 / 22.12); elsewhere the wasm alone, which gives the same answers, only slower.
let api = wasm;
try {
  api = require('./shell.js').wrap(wasm);
  api.install();
} catch {
  api = wasm;
}

// The same as ./errors.js (an ES module CommonJS cannot load everywhere).
const CODES = new Set([
  'invalid_options', 'invalid_order', 'busy', 'server_contract', 'server_rejected', 'network',
  'storage', 'platform',
]);
function isCheckoutGuardError(value) {
  return value instanceof Error && value.name === 'CheckoutGuardError' && CODES.has(value.code);
}

exports.CheckoutGuard = api.CheckoutGuard;
exports.isCheckoutGuardError = isCheckoutGuardError;
exports.CheckoutGuardError = Object.freeze({ [Symbol.hasInstance]: isCheckoutGuardError });
exports.canonicalize = api.canonicalize;
exports.fingerprint = api.fingerprint;
