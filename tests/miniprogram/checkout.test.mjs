// The example mini-program's checkout page in the emulated runtime (see emulator.mjs), against
// the real reference backend: every scenario ends with the backend's charge count for the
// order at most one, and the attempts it expects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { MiniProgram, startServer, until, examplePackage } from './emulator.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  if (server) await server.stop();
});

/** Launches the example app against the test backend and opens the checkout page. */
async function checkout({ wallet = 'confirm', prepare, storage } = {}) {
  const mp = new MiniProgram({ server, wallet, storage });
  if (prepare) prepare(mp);
  const app = mp.launch((a) => {
    a.globalData.apiBase = server.url;
  });
  const page = mp.openPage('pages/checkout/checkout');
  await page.ready;
  assert.ok(page.order, `the page created no order: ${page.data.message}`);
  const { guard, cg } = await app.checkout;
  await renderFrame(); // the view shows the order number and an enabled Pay button
  return { mp, app, page, guard, cg, orderNo: page.order.orderNo };
}

function creates(mp, orderNo) {
  return mp.requests.filter((r) => r.method === 'POST' && r.url.endsWith(`/api/orders/${orderNo}/payments`));
}

async function assertCharges(orderNo, { charges, attempts }) {
  const stats = await server.stats(orderNo);
  assert.ok(stats.charges <= 1, `order ${orderNo} charged ${stats.charges} times`);
  assert.equal(stats.charges, charges, 'charges');
  assert.equal(stats.attemptsCreated, attempts, 'attempts created');
  return stats;
}

/** The Pay button's `disabled="{{paying || !orderNo || checkoutStatus === 'paid'}}"`. */
const payDisabled = (data) => data.paying || !data.orderNo || data.checkoutStatus === 'paid';
const renderFrame = () => new Promise((resolve) => setTimeout(resolve, 40));

test('double tap: one wallet, one create, one charge; the record says paid', { timeout: 60000 }, async () => {
  const { mp, page, guard, orderNo } = await checkout();
  const first = mp.tap(page, 'onPay', payDisabled);
  const second = mp.tap(page, 'onPay', payDisabled); // before setData's re-render disabled the button
  assert.equal(second, null, 'the second tap is ignored by the page binding');
  assert.equal(page.data.paying, true);
  const outcome = await first;
  assert.equal(outcome.status, 'paid');
  assert.equal(page.data.paying, false);
  assert.equal(page.data.checkoutStatus, 'paid');
  assert.equal(mp.payments.length, 1);
  assert.equal(creates(mp, orderNo).length, 1);
  assert.match(creates(mp, orderNo)[0].header['Idempotency-Key'], /^"[0-9a-f]{32}"$/);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  const key = [...mp.storage.keys()].find((k) => k.startsWith('checkout-guard/v1/example/demo-buyer/'));
  assert.ok(key, 'the record is in wx storage');
  assert.equal(JSON.parse(JSON.parse(mp.storage.get(key))).state, 'paid');
  guard.close();
});

test('ten taps, and ten direct pay() calls: one wallet, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard, orderNo } = await checkout();
  mp.walletDelayMs = 300; // the buyer is still in the wallet while the taps arrive
  const taps = [];
  for (let i = 0; i < 10; i += 1) {
    taps.push(mp.tap(page, 'onPay', payDisabled));
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
  const direct = Array.from({ length: 10 }, () => guard.pay(page.order));
  assert.equal(taps.filter((t) => t !== null).length, 1, 'only the first tap pays');
  assert.equal(mp.tap(page, 'onPay', payDisabled), null, 'the rendered button is disabled');
  const outcomes = await Promise.all([taps[0], ...direct]);
  for (const outcome of outcomes) {
    assert.equal(outcome.status, 'paid');
    assert.equal(outcome.attemptId, outcomes[0].attemptId);
  }
  assert.equal(mp.payments.length, 1);
  assert.equal(creates(mp, orderNo).length, 1);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  guard.close();
});

test('cancel, then pay again: the same prepay is reused, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard, orderNo } = await checkout({ wallet: 'cancel' });
  const cancelled = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(cancelled.status, 'cancelled');
  assert.equal(page.data.checkoutStatus, 'cancelled');
  await renderFrame();
  mp.wallet = 'confirm';
  const paid = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(paid.status, 'paid');
  assert.equal(paid.reused, true);
  assert.equal(mp.payments.length, 2);
  assert.equal(mp.payments[1].prepayId, mp.payments[0].prepayId, 'the prepay is reused');
  assert.equal(creates(mp, orderNo).length, 1, 'no second create');
  const stats = await assertCharges(orderNo, { charges: 1, attempts: 1 });
  assert.equal(stats.prepayCalls, 1);
  guard.close();
});

test('the create reply is lost: the same key is sent again, one attempt, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard, orderNo } = await checkout();
  await server.addFault({ spec: 'drop-reply', pathPrefix: `/api/orders/${orderNo}/payments`, method: 'POST', times: 1 });
  const outcome = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(outcome.status, 'paid');
  const sent = creates(mp, orderNo);
  assert.ok(sent.length >= 2, `the create was retried (${sent.length} sent)`);
  assert.equal(sent[0].status, undefined, 'the first create got no reply');
  assert.equal(new Set(sent.map((r) => r.header['Idempotency-Key'])).size, 1, 'one key for every try');
  assert.equal(mp.payments.length, 1);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  guard.close();
});

test('the app is hidden during payment and shown again: the guard asks at once, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard, orderNo } = await checkout({ wallet: 'hang' });
  const paying = mp.tap(page, 'onPay', payDisabled);
  await until(() => mp.payments.length === 1, 15000, 'the wallet');
  mp.hide();
  // The buyer pays in WeChat Pay; the wallet's callback never reaches the page.
  const wallet = await server.wallet(mp.payments[0].prepayId, 'confirm');
  assert.equal(wallet.status, 200, wallet.body);
  await renderFrame();
  assert.equal(mp.tap(page, 'onPay', payDisabled), null, 'a tap while paying is ignored');
  const shown = Date.now();
  mp.show();
  const outcome = await Promise.race([
    paying,
    new Promise((_, reject) => setTimeout(() => reject(new Error('no outcome 10 s after onAppShow')), 10000)),
  ]);
  assert.equal(outcome.status, 'paid');
  assert.ok(Date.now() - shown < 5000, `the outcome took ${Date.now() - shown} ms after onAppShow`);
  assert.equal(mp.payments.length, 1);
  assert.equal(creates(mp, orderNo).length, 1);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  guard.close();
});

test('relaunched on the same phone, a paid order is answered from wx storage', { timeout: 60000 }, async () => {
  const first = await checkout();
  assert.equal((await first.mp.tap(first.page, 'onPay', payDisabled)).status, 'paid');
  first.guard.close();
  const second = await checkout({ storage: first.mp.storage });
  const again = await second.guard.pay(first.page.order);
  assert.equal(again.status, 'paid');
  assert.equal(second.mp.payments.length, 0, 'no wallet');
  assert.equal(creates(second.mp, first.orderNo).length, 0, 'no create');
  await assertCharges(first.orderNo, { charges: 1, attempts: 1 });
  second.guard.close();
});

test('storage is full: a storage warning, records in memory, still one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard, orderNo } = await checkout({ prepare: (m) => m.fillStorage(64) });
  const warnings = [];
  guard.on('storage', (event) => warnings.push(event));
  const outcome = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(outcome.status, 'paid');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /exceed storage max size 10MB/);
  assert.match(warnings[0].message, /kept in memory/);
  assert.ok(mp.errors.some(([level, text]) => level === 'warn' && /checkout-guard storage/.test(text)), 'the page logged it');
  assert.ok(![...mp.storage.keys()].some((k) => k.startsWith('checkout-guard/')), 'nothing was written');
  // Paying again in this run is answered from memory: no new create, no wallet.
  await new Promise((resolve) => setTimeout(resolve, 40));
  const again = await guard.pay(page.order);
  assert.equal(again.status, 'paid');
  assert.equal(mp.payments.length, 1);
  assert.equal(creates(mp, orderNo).length, 1);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  guard.close();
});

test('the example package holds the bundle the build made', { timeout: 60000 }, async () => {
  const { mp, guard } = await checkout();
  assert.equal(mp.instantiated, '/checkout-guard/checkout_guard_bg.wasm.br');
  assert.ok(path.isAbsolute(examplePackage));
  guard.close();
});
