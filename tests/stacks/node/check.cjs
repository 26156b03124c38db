// CommonJS: require() reads no wasm; the first fingerprint reads it, once.
const assert = require('node:assert/strict');
const fs = require('node:fs');

const wasmReads = [];
const readFileSync = fs.readFileSync;
fs.readFileSync = function (path, ...rest) {
  if (String(path).endsWith('.wasm')) wasmReads.push(String(path));
  return readFileSync.call(this, path, ...rest);
};
const lib = require('checkout-guard');
assert.deepEqual(wasmReads, [], 'the wasm is read at require');
assert.equal(lib.fingerprint({}), '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
assert.equal(wasmReads.length, 1);
assert.throws(() => new lib.CheckoutGuard({}), { name: 'CheckoutGuardError', code: 'invalid_options' });
require('./pay.cjs')(lib).then((orderNo) => console.log(`order ${orderNo}: ${require.resolve('checkout-guard')}`));
