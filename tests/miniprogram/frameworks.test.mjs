// The uni-app and Taro examples (www/miniprogram-uniapp/, www/miniprogram-taro/) as their
// WeChat builds run, in the emulated runtime (emulator.mjs, `framework`: an emulated `uni` or
// `Taro` over the emulated wx, with its storage limits) against the real payment center on
// WeChat Pay API v3 (`--provider wechatpay`, the WeChat Pay simulator binary started by the
// suite). Each scenario runs for both, and ends with WeChat Pay's charge count for the order,
// one business order for the cart, and every request and wallet having gone through the
// framework's API object, not `wx`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { MiniProgram, startServer, until, uniappPackage, taroPackage } from './emulator.mjs';

let server;
before(async () => {
  server = await startServer({ provider: 'wechatpay' });
});
after(async () => {
  if (server) await server.stop();
});

const FRAMEWORKS = [
  {
    name: 'uni-app',
    framework: 'uniapp',
    root: uniappPackage,
    entry: './static/checkout-guard/uniapp.js',
    route: 'pages/checkout/checkout',
    via: 'uni',
    wasmPath: '/static/checkout-guard/checkout_guard_bg.wasm.br',
    // `:disabled="paying || status === 'paid'"`
    disabled: (data) => data.paying || data.status === 'paid',
    status: (data) => data.status,
  },
  {
    name: 'Taro',
    framework: 'taro',
    root: taroPackage,
    entry: './checkout-guard/taro.js',
    route: 'pages/checkout/index',
    via: 'Taro',
    wasmPath: '/checkout-guard/checkout_guard_bg.wasm.br',
    // `disabled={busy || outcome === 'paid'}`
    disabled: (data) => data.busy || data.outcome === 'paid',
    status: (data) => data.outcome,
  },
];

const renderFrame = () => new Promise((resolve) => setTimeout(resolve, 40));

/** Launches the example against the test backend and opens its checkout page on a new cart. */
async function open(fw, { wallet = 'confirm', prepare } = {}) {
  const mp = new MiniProgram({ root: fw.root, server, wallet, framework: fw.framework });
  if (prepare) prepare(mp);
  const app = mp.launch((a) => {
    a.globalData.apiBase = server.url;
  });
  const page = mp.openPage(fw.route, { cart: `cart-${crypto.randomBytes(8).toString('hex')}` });
  const guard = await app.checkout;
  await renderFrame();
  const tap = () => mp.tap(page, 'onPay', fw.disabled);
  return { mp, page, guard, tap };
}

const isSubmit = (r) => r.method === 'POST' && new URL(r.url).pathname === '/api/orders';
const isCreate = (orderNo) => (r) => r.method === 'POST' && r.url.endsWith(`/api/orders/${orderNo}/payments`);

/**
 * What the backend and the runtime saw for `orderNo`: `charges` and `attempts` at the backend,
 * one submission key for the cart and every answer naming `orderNo`, and every request and
 * wallet through the framework's object. Returns the backend's stats.
 */
async function assertOrder(fw, mp, orderNo, { charges, attempts }) {
  const stats = await server.stats(orderNo);
  assert.ok(stats.charges <= 1, `order ${orderNo} charged ${stats.charges} times`);
  assert.equal(stats.charges, charges, 'charges');
  assert.equal(stats.attemptsCreated, attempts, 'attempts created');
  assert.ok(stats.maxPayableAtOnce <= 1, `${stats.maxPayableAtOnce} payable numbers at once`);
  for (const payment of mp.payments) {
    assert.equal(payment.params.signType, 'RSA', 'the JSAPI parameter set');
    assert.equal(payment.refused, undefined, `WeChat refused the launch: ${payment.refused}`);
  }
  const submissions = mp.requests.filter(isSubmit);
  assert.ok(submissions.length >= 1, 'the cart was submitted');
  assert.equal(new Set(submissions.map((r) => r.header['Idempotency-Key'])).size, 1, 'one submission key for the cart');
  const named = submissions.filter((r) => r.status < 300).map((r) => JSON.parse(r.reply).orderNo);
  assert.deepEqual([...new Set(named)], [orderNo], 'every submission answer names the one order');
  assert.deepEqual([...new Set(mp.requests.map((r) => r.via))], [fw.via], `every request went through ${fw.via}.request`);
  assert.deepEqual([...new Set(mp.payments.map((p) => p.via))], mp.payments.length ? [fw.via] : [], `every wallet through ${fw.via}.requestPayment`);
  assert.ok(mp.calls.includes(`${fw.via}.getStorageSync`), `records read through ${fw.via}.getStorageSync`);
  return stats;
}

for (const fw of FRAMEWORKS) {
  test(`${fw.name}: double tap: one order, one wallet, one create, one charge; records in storage`, { timeout: 60000 }, async () => {
    const { mp, page, guard, tap } = await open(fw);
    assert.equal(mp.instantiated, fw.wasmPath, `the ${fw.name} default wasm path`);
    const first = tap();
    assert.equal(tap(), null, 'the second tap is ignored by the page');
    const outcome = await first;
    assert.equal(outcome.status, 'paid');
    assert.equal(fw.status(page.data), 'paid');
    const { orderNo } = page.data;
    assert.equal(outcome.orderNo, orderNo);
    assert.equal(mp.requests.filter(isSubmit).length, 1, 'one submission');
    assert.equal(mp.requests.filter(isCreate(orderNo)).length, 1, 'one create');
    assert.equal(mp.payments.length, 1, 'one wallet');
    await assertOrder(fw, mp, orderNo, { charges: 1, attempts: 1 });
    const key = [...mp.storage.keys()].find((k) => k.startsWith('checkout-guard/') && k.endsWith(`/${orderNo}`));
    assert.ok(key, 'the record is in wx storage');
    assert.equal(JSON.parse(JSON.parse(mp.storage.get(key))).state, 'paid');
    assert.ok(mp.calls.includes(`${fw.via}.setStorageSync`), `written through ${fw.via}.setStorageSync`);
    guard.close();
  });

  test(`${fw.name}: cancel, then pay again: the same prepay is reused, one charge`, { timeout: 60000 }, async () => {
    const { mp, page, guard, tap } = await open(fw, { wallet: 'cancel' });
    const cancelled = await tap();
    assert.equal(cancelled.status, 'cancelled', JSON.stringify(cancelled));
    assert.equal(fw.status(page.data), 'cancelled');
    const { orderNo } = page.data;
    await renderFrame();
    mp.wallet = 'confirm';
    const paid = await tap();
    assert.equal(paid.status, 'paid');
    assert.equal(paid.orderNo, orderNo);
    assert.equal(paid.reused, true);
    assert.equal(mp.payments.length, 2);
    assert.equal(mp.payments[1].prepayId, mp.payments[0].prepayId, 'the prepay is reused');
    assert.equal(mp.requests.filter(isCreate(orderNo)).length, 1, 'no second create');
    const stats = await assertOrder(fw, mp, orderNo, { charges: 1, attempts: 1 });
    assert.equal(stats.prepayCalls, 1);
    guard.close();
  });

  test(`${fw.name}: the app is hidden during payment and shown again: asked at once, one charge`, { timeout: 60000 }, async () => {
    const { mp, page, guard, tap } = await open(fw, { wallet: 'hang' });
    const paying = tap();
    await until(() => mp.payments.length === 1, 15000, 'the wallet');
    const { orderNo } = page.data;
    mp.hide();
    // The buyer pays in WeChat Pay; the wallet's callback never reaches the page.
    const wallet = await server.wallet(mp.payments[0].prepayId, 'confirm');
    assert.equal(wallet.status, 200, wallet.body);
    await renderFrame();
    assert.equal(tap(), null, 'a tap while paying is ignored');
    const shown = Date.now();
    mp.show();
    const outcome = await Promise.race([
      paying,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no outcome 10 s after the app was shown')), 10000)),
    ]);
    assert.equal(outcome.status, 'paid');
    assert.ok(Date.now() - shown < 5000, `the outcome took ${Date.now() - shown} ms after the app was shown`);
    // uni-app: the guard's own uni.onAppShow listener; Taro: the app's onShow calls pageShown().
    assert.equal(mp.calls.includes(`${fw.via}.onAppShow`), fw.via === 'uni');
    assert.equal(mp.payments.length, 1);
    assert.equal(mp.requests.filter(isCreate(orderNo)).length, 1);
    await assertOrder(fw, mp, orderNo, { charges: 1, attempts: 1 });
    guard.close();
  });

  test(`${fw.name}: storage is full: the wx limits hold through ${fw.via}, records in memory, one charge`, { timeout: 60000 }, async () => {
    const { mp, page, guard, tap } = await open(fw, { prepare: (m) => m.fillStorage(64) });
    const warnings = [];
    guard.on('storage', (event) => warnings.push(event));
    const outcome = await tap();
    assert.equal(outcome.status, 'paid');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0].message, /exceed storage max size 10MB/);
    assert.ok(![...mp.storage.keys()].some((k) => k.startsWith('checkout-guard/')), 'nothing was written');
    await assertOrder(fw, mp, page.data.orderNo, { charges: 1, attempts: 1 });
    guard.close();
  });

  test(`${fw.name}: load() without the framework's API object is a platform error naming it`, async () => {
    const mp = new MiniProgram({ root: fw.root, server, framework: fw.framework });
    const { load } = mp.require(path.join(fw.root, 'app.js'), fw.entry);
    await assert.rejects(load({}), (error) => error.code === 'platform' && error.message.includes(`\`${fw.via}\``));
  });
}
