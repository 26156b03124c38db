// The edge bundle imported where there is no DOM: nothing is fetched at import; the runtime
// hands the wasm over as a compiled module (as a `?module` import or a binding would).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import payMany from './pay.cjs';

assert.equal(typeof document, 'undefined');
const fetches = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => {
  fetches.push(String(url));
  return realFetch(url, init);
};
const { lib } = await import('./dist/handler.js');
assert.deepEqual(fetches, [], 'fetched at import');
assert.throws(() => lib.fingerprint({}), { name: 'CheckoutGuardError', code: 'platform' });
const path = createRequire(import.meta.url).resolve('checkout-guard/checkout_guard_bg.wasm');
await lib.init({ module_or_path: await WebAssembly.compile(readFileSync(path)) });
assert.equal(lib.fingerprint({}), '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
assert.ok(fetches.every((url) => !url.endsWith('.wasm')), fetches.join(', '));
console.log(`order ${await payMany(lib)}`);
