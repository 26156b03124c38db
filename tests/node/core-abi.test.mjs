// The core's binding (pkg/core.js) over the wasm's own ABI (src/wasm/step.rs), alone: texts in
// and out as UTF-8 through the wasm's buffers, across memory growth; refusals as the core's
// JSON text; a freed guard, a null guard or lengths beyond the input trap instead of guessing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Core, bind, bound, sha256Hex } from '../../pkg/core.js';

const WASM = readFileSync(new URL('../../pkg/gen/web/checkout_guard_bg.wasm', import.meta.url));
const { instance } = await WebAssembly.instantiate(WASM, {});
assert.equal(WebAssembly.Module.imports(new WebAssembly.Module(WASM)).length, 0, 'the wasm imports nothing');
bind(instance.exports);

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

test('texts cross as UTF-8, whatever their characters and however large', () => {
  assert.ok(bound());
  for (const text of ['', 'abc', 'héllo', '中文支付', '😀x', '{"a":"\\u0000"}']) {
    assert.equal(sha256Hex(text), sha256(text), JSON.stringify(text));
  }
  // A lone surrogate becomes U+FFFD, as TextEncoder (and wasm-bindgen before) made it.
  assert.equal(sha256Hex('a\uD800b'), sha256('a\uFFFDb'));
  // Larger than the memory the module starts with: the input buffer grows, the views follow.
  const pages = instance.exports.memory.buffer.byteLength;
  const large = '支'.repeat(1 << 20);
  assert.equal(sha256Hex(large), sha256(large));
  assert.ok(instance.exports.memory.buffer.byteLength > pages, 'the memory grew');
  assert.equal(sha256Hex('after'), sha256('after'));
});

test("a refusal is the core's JSON text; a guard answers with batches", () => {
  assert.throws(
    () => new Core('nope', new Uint8Array(32)),
    (text) => JSON.parse(text).error.code === 'invalid_options',
  );
  assert.throws(
    () => new Core('{}', new Uint8Array(31)),
    (text) => JSON.parse(text).error.code === 'platform',
  );
  const core = new Core('{"scope":"shop-1"}', new Uint8Array(32).fill(7));
  assert.equal(core.namespace(), 'default');
  assert.equal(core.scope(), 'shop-1');
  assert.equal(core.wouldStart('A1'), true);
  let batch = JSON.parse(core.pay('A1', '{"a":1}', 1, 1_000_000));
  const lock = batch.do.find((action) => action.op === 'lock');
  assert.equal(lock.orderNo, 'A1');
  batch = JSON.parse(core.locked(lock.id, true, 1_000_001));
  const get = batch.do.find((action) => action.op === 'get');
  assert.equal(get.key, 'checkout-guard/v1/default/shop-1/A1');
  // No stored record (`undefined`, not the empty text): the status is asked for.
  batch = JSON.parse(core.stored(get.id, undefined, 1_000_002));
  const send = batch.do.find((action) => action.op === 'send');
  assert.equal(send.method, 'GET');
  assert.equal(send.url, '/api/orders/A1/payment');
  core.free();
  // The empty text is a text, not its absence: a stored record that cannot be read.
  const other = new Core('{}', new Uint8Array(32).fill(8));
  const locking = JSON.parse(other.pay('A1', '{"a":1}', 1, 1_000_000)).do.find((action) => action.op === 'lock');
  const reading = JSON.parse(other.locked(locking.id, true, 1_000_001)).do.find((action) => action.op === 'get');
  const rejected = JSON.parse(other.stored(reading.id, '', 1_000_002)).do.find((action) => action.op === 'emit');
  assert.equal(rejected.event.type, 'recordRejected');
  other.free();
});

test('a freed guard, a null guard and lengths beyond the input trap', () => {
  const core = new Core('{}', new Uint8Array(32));
  core.free();
  core.free(); // harmless
  assert.throws(() => core.timer(0), WebAssembly.RuntimeError);
  assert.throws(() => instance.exports.cg_timer(0, 0), WebAssembly.RuntimeError);
  assert.throws(() => instance.exports.cg_sha256(1 << 30), WebAssembly.RuntimeError);
  // The module still serves the next call.
  assert.equal(sha256Hex('x'), sha256('x'));
});
