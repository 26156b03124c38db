// The JS fast paths of the package give exactly the full walk's answers: the canonical text
// (pkg/canonical.js: `canonicalText`, the fast path, against `canonicalWalk`, the walk that
// names the path of what JSON cannot say) and the fingerprint of every value (or the walk's own
// error), and `pay()` on an order object in flight joins it while anything else still reaches
// the core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { canonicalText, canonicalWalk } from '../../pkg/canonical.js';

const require = createRequire(import.meta.url);
const api = require('../../pkg/node.cjs');
const sha256 = (text) => createHash('sha256').update(text, 'utf8').digest('hex');

const outcome = (fn) => {
  try {
    return { ok: fn() };
  } catch (error) {
    return { code: error.code, message: error.message };
  }
};

const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
const values = [
  { amount: 1999, currency: 'CNY', items: [{ sku: 'tea', qty: 1, price: 12.5 }] },
  { b: 1, a: 2, '\u{1F600}': 3, '\uFFFF': 4, é: 5, A: 6, '': 7 },
  { n: [0, -0, 1e21, 1e-7, 123456789012345680000, 5e-324, 1.7976931348623157e308, 0.1 + 0.2] },
  { s: 'quote " backslash \\ nl \n tab \t nul \u0000 del \u007f ls \u2028 emoji \u{1F600} 茶' },
  { when: new Date(0), invalid: new Date(NaN), nested: { toJSON: (key) => `key:${key}` } },
  [{ toJSON: (key) => typeof key }, 'x'],
  Object.assign(Object.create(null), { z: null, y: true, x: false }),
  { deep: JSON.parse('['.repeat(63) + ']'.repeat(63)) },
  { tooDeep: JSON.parse('['.repeat(64) + ']'.repeat(64)) },
  { bad: NaN },
  { bad: Infinity },
  { bad: undefined },
  { bad: () => 1 },
  { bad: Symbol('s') },
  { bad: 10n },
  { bad: 'lone \uD800 surrogate' },
  { 'lone \uDC00 key': 1 },
  { boxed: new Number(5) },
  { map: new Map([[1, 2]]) },
  { instance: new (class Point { constructor() { this.x = 1; } })() },
  sparse,
  { toJSON: 5, a: 1 },
  Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`${String.fromCharCode(0x7a - i)}${i}`, i])),
  'a string',
  42,
  null,
  undefined,
];

test('canonicalize and fingerprint: the fast path equals the walk, errors included', () => {
  for (const value of values) {
    const walked = outcome(() => canonicalWalk(value));
    const at = `values[${values.indexOf(value)}]`;
    const fast = canonicalText(value);
    if (fast !== undefined) assert.deepEqual({ ok: fast }, walked, `the fast path of ${at}`);
    assert.deepEqual(outcome(() => api.canonicalize(value)), walked, `canonicalize(${at})`);
    const printed = walked.ok === undefined ? walked : { ok: sha256(walked.ok) };
    assert.deepEqual(outcome(() => api.fingerprint(value)), printed, `fingerprint(${at})`);
  }
  // What JSON cannot say is refused, naming where it is.
  assert.deepEqual(outcome(() => api.canonicalize({ a: [1, { b: NaN }] })), {
    code: 'invalid_order',
    message: 'order.a[1].b is NaN, which JSON cannot represent',
  });
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  assert.deepEqual(outcome(() => api.fingerprint(cyclic)), {
    code: 'invalid_order',
    message: 'order.self refers back to itself (a cycle)',
  });
  assert.equal(canonicalText(cyclic), undefined);
});

test('pay(): the same object in flight gets the same promise; a copy still reaches the core', async () => {
  let creates = 0;
  let answer;
  const fetch = (url, init) => {
    if (init.method === 'POST') {
      creates += 1;
      return new Promise((resolve) => {
        answer = () => {
          const { fingerprint } = JSON.parse(init.body);
          const body = { orderNo: 'FAST-1', attemptId: 'FAST-1x1', fingerprint, prepay: { prepayId: 'wx1' }, expiresAt: Date.now() + 600000, reused: false };
          resolve(new Response(JSON.stringify(body), { status: 201 }));
        };
      });
    }
    const body = creates === 0 ? { orderNo: 'FAST-1', status: 'none' } : { orderNo: 'FAST-1', status: 'paid', attemptId: 'FAST-1x1' };
    return Promise.resolve(new Response(JSON.stringify(body), { status: 200 }));
  };
  const guard = new api.CheckoutGuard({ launch: async () => 'ok', storage: 'memory', fetch });
  const order = { orderNo: 'FAST-1', content: { amount: 1 } };
  const first = guard.pay(order);
  assert.equal(guard.pay(order), first, 'the same object joins without the wasm');
  const copy = guard.pay({ orderNo: 'FAST-1', content: { amount: 1 } });
  assert.notEqual(copy, first);
  await assert.rejects(guard.pay({ orderNo: 'FAST-1', content: { amount: 2 } }), { code: 'busy' });
  while (!answer) await new Promise((r) => setTimeout(r, 5));
  answer();
  const [a, b] = await Promise.all([first, copy]);
  assert.equal(a.status, 'paid');
  assert.deepEqual(a, b);
  assert.equal(creates, 1);
  // Settled: the next call reaches the core again (paid, reused) instead of the old promise.
  const again = guard.pay(order);
  assert.notEqual(again, first);
  assert.equal((await again).status, 'paid');
  guard.free();
});
