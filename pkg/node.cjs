'use strict';
// checkout-guard for Node.js (require or import): the wasm is read from disk synchronously
// when this module loads, so everything is ready at once.
const wasm = require('./gen/nodejs/checkout_guard.js');

exports.CheckoutGuard = wasm.CheckoutGuard;
exports.canonicalize = wasm.canonicalize;
exports.fingerprint = wasm.fingerprint;
