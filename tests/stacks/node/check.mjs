// ES modules: import reads no wasm; the first fingerprint reads it, once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import payMany from './pay.cjs';

const wasmReads = [];
const readFileSync = fs.readFileSync;
fs.readFileSync = function (path, ...rest) {
  if (String(path).endsWith('.wasm')) wasmReads.push(String(path));
  return readFileSync.call(this, path, ...rest);
};
const lib = await import('checkout-guard');
assert.deepEqual(wasmReads, [], 'the wasm is read at import');
assert.equal(lib.fingerprint({}), '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
assert.equal(wasmReads.length, 1);
console.log(`order ${await payMany(lib)}: ${import.meta.resolve('checkout-guard')}`);
