// The Node.js entry's (node.cjs) CheckoutGuard: options errors name the option, and a burst of pay()
// calls for one order sends exactly one create request (against an in-process fake server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckoutGuard } from '../../pkg/node.cjs';

const launch = async () => 'ok';

function optionsError(options, option) {
  assert.throws(
    () => new CheckoutGuard(options),
    (error) => {
      assert.equal(error.name, 'CheckoutGuardError');
      assert.equal(error.code, 'invalid_options');
      assert.ok(error.message.includes(`\`${option}\``), `${error.message} should name ${option}`);
      return true;
    },
  );
}

test('options errors name the option', () => {
  optionsError({}, 'launch');
  optionsError({ launch: 'not a function' }, 'launch');
  optionsError({ launch, pol: {} }, 'pol');
  optionsError({ launch, prepayTtlMs: -1 }, 'prepayTtlMs');
  optionsError({ launch, prepayTtlMs: NaN }, 'prepayTtlMs');
  optionsError({ launch, poll: { capMs: 'soon' } }, 'poll.capMs');
  optionsError({ launch, poll: { capMz: 1 } }, 'poll.capMz');
  optionsError({ launch, endpoints: { create: '/pay' } }, 'endpoints.create');
  optionsError({ launch, endpoints: { refund: '/x/{orderNo}' } }, 'endpoints.refund');
  optionsError({ launch, storage: 'disk' }, 'storage');
  optionsError({ launch, storage: { getItem() {} } }, 'storage');
  optionsError({ launch, requestTimeoutMs: 5 }, 'requestTimeoutMs');
  optionsError({ launch, namespace: 'a/b' }, 'namespace');
  optionsError({ launch, scope: '' }, 'scope');
  optionsError({ launch, fetch: 42 }, 'fetch');
  assert.throws(() => new CheckoutGuard(null), { code: 'invalid_options' });
});

/** A fake merchant backend behind `fetch`: counts creates, says paid once one exists. */
function fakeServer() {
  const calls = { create: 0, status: 0, keys: new Set() };
  const fetch = async (url, init) => {
    const orderNo = decodeURIComponent(url.split('/')[3]);
    if (init.method === 'POST') {
      calls.create += 1;
      calls.keys.add(init.headers['Idempotency-Key']);
      const { fingerprint } = JSON.parse(init.body);
      calls.attempt = { orderNo, attemptId: `${orderNo}x1`, fingerprint, prepay: { prepayId: 'wx1' }, expiresAt: Date.now() + 600000, reused: false };
      return new Response(JSON.stringify(calls.attempt), { status: 201 });
    }
    calls.status += 1;
    const body = calls.attempt
      ? { orderNo, status: 'paid', attemptId: calls.attempt.attemptId }
      : { orderNo, status: 'none' };
    return new Response(JSON.stringify(body), { status: 200 });
  };
  return { calls, fetch };
}

test('fifty pay() calls for one order: one create, fifty paid outcomes', async () => {
  const server = fakeServer();
  const launched = [];
  const storage = new Map();
  const guard = new CheckoutGuard({
    namespace: 'node-test',
    scope: 'buyer-1',
    fetch: server.fetch,
    storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v), removeItem: (k) => storage.delete(k) },
    launch: async (prepay, context) => { launched.push({ prepay, context }); return 'ok'; },
    poll: { fastMs: [0, 10, 20], baseMs: 20, floorMs: 10 },
  });
  const order = { orderNo: 'A20261123001', content: { amount: 1999, items: [{ sku: 'tea', qty: 2 }] } };
  const outcomes = await Promise.all(Array.from({ length: 50 }, () => guard.pay(order)));
  assert.equal(server.calls.create, 1);
  assert.equal(server.calls.keys.size, 1);
  assert.match([...server.calls.keys][0], /^"[0-9a-f]{32}"$/);
  assert.equal(launched.length, 1);
  assert.deepEqual(launched[0].prepay, { prepayId: 'wx1' });
  assert.deepEqual(launched[0].context, { orderNo: 'A20261123001', attemptId: 'A20261123001x1' });
  for (const outcome of outcomes) {
    assert.equal(outcome.status, 'paid');
    assert.equal(outcome.orderNo, 'A20261123001');
    assert.equal(outcome.attemptId, 'A20261123001x1');
  }
  const keys = [...storage.keys()];
  assert.deepEqual(keys, ['checkout-guard/v1/node-test/buyer-1/A20261123001']);
  assert.equal(JSON.parse(storage.get(keys[0])).state, 'paid');
  // Paid is final: paying again answers at once, without a request.
  const again = await guard.pay(order);
  assert.equal(again.status, 'paid');
  assert.equal(server.calls.create, 1);
  guard.free();
});

test('bad orders are refused with invalid_order', async () => {
  const guard = new CheckoutGuard({ launch, storage: 'memory', fetch: fakeServer().fetch });
  await assert.rejects(guard.pay({ orderNo: 'A1', content: { amount: NaN } }), { code: 'invalid_order' });
  await assert.rejects(guard.pay({ content: {} }), { code: 'invalid_order' });
  await assert.rejects(guard.pay({ orderNo: 'A20261123002' }), { code: 'invalid_order' });
  guard.free();
});

test('storage that fails is reported once as a storage event, and paying still works', async () => {
  const server = fakeServer();
  const broken = { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError'); }, removeItem: () => {} };
  const guard = new CheckoutGuard({ launch, storage: broken, fetch: server.fetch, poll: { fastMs: [0, 10], baseMs: 20, floorMs: 10 } });
  const warnings = [];
  guard.on('storage', (event) => warnings.push(event));
  const outcome = await guard.pay({ orderNo: 'C20261123001', content: { amount: 5 } });
  assert.equal(outcome.status, 'paid');
  assert.equal(server.calls.create, 1);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0].type, 'storage');
  assert.match(warnings[0].message, /setItem/);
  guard.free();
});

test('without localStorage (Node) the first storage listener hears about the memory fallback', () => {
  const guard = new CheckoutGuard({ launch });
  const warnings = [];
  const unsubscribe = guard.on('storage', (event) => warnings.push(event));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /localStorage/);
  unsubscribe();
  guard.free();
});

test('the guard\'s errors are recognised at run time: instanceof and isCheckoutGuardError', async () => {
  const { CheckoutGuardError, isCheckoutGuardError } = await import('../../pkg/node.cjs');
  let thrown;
  try {
    new CheckoutGuard({});
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof CheckoutGuardError);
  assert.ok(isCheckoutGuardError(thrown));
  assert.equal(thrown.code, 'invalid_options');
  const guard = new CheckoutGuard({ launch, storage: 'memory', fetch: fakeServer().fetch });
  const rejected = await guard.pay({ orderNo: 'A1', content: { amount: NaN } }).catch((e) => e);
  assert.ok(rejected instanceof CheckoutGuardError);
  assert.equal(rejected.code, 'invalid_order');
  guard.free();
  assert.equal(new Error('x') instanceof CheckoutGuardError, false);
  assert.equal(isCheckoutGuardError(Object.assign(new Error('x'), { name: 'CheckoutGuardError', code: 'nope' })), false);
  assert.equal(isCheckoutGuardError({ name: 'CheckoutGuardError', code: 'busy' }), false);
  assert.throws(() => new CheckoutGuardError(), TypeError);
});

test('headers: fixed or computed per request, on every request; the guard\'s own cannot be replaced', async () => {
  const seen = [];
  let server = fakeServer();
  const fetch = (url, init) => {
    seen.push({ ...init.headers });
    return server.fetch(url, init);
  };
  const fixed = new CheckoutGuard({ launch, storage: 'memory', fetch, headers: { Authorization: 'Bearer t-1' }, poll: { fastMs: [0, 10], baseMs: 20, floorMs: 10 } });
  assert.equal((await fixed.pay({ orderNo: 'H1', content: { amount: 1 } })).status, 'paid');
  assert.ok(seen.length >= 2);
  assert.ok(seen.every((h) => h.Authorization === 'Bearer t-1'), JSON.stringify(seen));
  fixed.free();
  let n = 0;
  seen.length = 0;
  server = fakeServer();
  const computed = new CheckoutGuard({ launch, storage: 'memory', fetch, headers: () => ({ 'X-Buyer-Token': `t-${++n}` }), poll: { fastMs: [0, 10], baseMs: 20, floorMs: 10 } });
  assert.equal((await computed.pay({ orderNo: 'H2', content: { amount: 1 } })).status, 'paid');
  assert.deepEqual(seen.map((h) => h['X-Buyer-Token']), seen.map((_, i) => `t-${i + 1}`));
  assert.ok(seen.some((h) => h['Idempotency-Key']), 'the guard\'s own header is still there');
  computed.free();
  optionsError({ launch, headers: 'Bearer x' }, 'headers');
  optionsError({ launch, headers: { 'Idempotency-Key': 'x' } }, 'headers');
  optionsError({ launch, headers: { 'bad name': 'x' } }, 'headers');
  optionsError({ launch, headers: { Authorization: 42 } }, 'headers');
  optionsError({ launch, headers: { Authorization: 'a\r\nb' } }, 'headers');
});
