// `checkout-guard/web` used before `init()` throws a CheckoutGuardError that says what to do
// (not a raw TypeError from the unbound core), and works once `initSync` was given the wasm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

test('checkout-guard/web before init: a platform CheckoutGuardError; after initSync: works', async () => {
  const web = await import('../../pkg/web.js');
  for (const call of [() => new web.CheckoutGuard({ launch: async () => 'ok' }), () => web.fingerprint({ a: 1 }), () => web.canonicalize({ a: 1 })]) {
    assert.throws(call, (error) => {
      assert.ok(web.isCheckoutGuardError(error));
      assert.equal(error.code, 'platform');
      assert.match(error.message, /init\(\)/);
      return true;
    });
  }
  web.initSync({ module: readFileSync(new URL('../../pkg/gen/web/checkout_guard_bg.wasm', import.meta.url)) });
  assert.equal(web.canonicalize({ b: 1, a: [2] }), '{"a":[2],"b":1}');
  assert.match(web.fingerprint({ a: 1 }), /^[0-9a-f]{64}$/);
  const guard = new web.CheckoutGuard({ launch: async () => 'ok', storage: 'memory', fetch: async () => new Response('{}') });
  assert.ok(guard instanceof web.CheckoutGuard);
  guard.free();
});
