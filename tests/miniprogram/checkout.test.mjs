// The example mini-program's checkout page in the emulated runtime (see emulator.mjs), against
// the real payment center on WeChat Pay API v3 (`--provider wechatpay`, the WeChat Pay
// simulator binary started by the suite): every scenario ends with WeChat Pay's charge count
// for the order at most one, the attempts the payment center minted, and one business order
// for the buyer's cart.
//
// Run by `cargo xtask ci` with CG_SERVER_BIN and CG_WECHATPAY_SIM_BIN set to the binaries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import crypto from 'node:crypto';
import { MiniProgram, startServer, until, examplePackage } from './emulator.mjs';

let server;
before(async () => {
  server = await startServer({ provider: 'wechatpay' });
});
after(async () => {
  if (server) await server.stop();
});

const HOUR_MS = 3600 * 1000;

/** Launches the example app against the test backend and opens the checkout page (its cart
 * read from wx storage, or made: no order is submitted before the buyer taps Pay). */
async function checkout({ wallet = 'confirm', prepare, storage, clockOffsetMs = 0, guardOptions } = {}) {
  const mp = new MiniProgram({ server, wallet, storage, clockOffsetMs });
  if (prepare) prepare(mp);
  const app = mp.launch((a) => {
    a.globalData.apiBase = server.url;
    if (guardOptions) a.globalData.guardOptions = guardOptions;
  });
  const page = mp.openPage('pages/checkout/checkout');
  await page.ready;
  assert.equal(page.data.loaded, true, `the page did not load: ${page.data.message}`);
  const { guard, cg } = await app.checkout;
  await renderFrame(); // the view shows an enabled Pay button
  return { mp, app, page, guard, cg };
}

function creates(mp, orderNo) {
  return mp.requests.filter((r) => r.method === 'POST' && r.url.endsWith(`/api/orders/${orderNo}/payments`));
}

/** The business-order submissions (`POST /api/orders`) of a run. */
function submits(mp) {
  return mp.requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/api/orders');
}

/** WeChat Pay's count for the order (the simulator's) and the payment center's attempts; never
 * two payable numbers at once; a charged order is paid at the payment center too. */
async function assertCharges(orderNo, { charges, attempts }) {
  const stats = await server.stats(orderNo);
  assert.ok(stats.charges <= 1, `order ${orderNo} charged ${stats.charges} times`);
  assert.equal(stats.charges, charges, 'charges');
  assert.equal(stats.attemptsCreated, attempts, 'attempts created');
  assert.ok(stats.maxPayableAtOnce <= 1, `${stats.maxPayableAtOnce} payable numbers at once`);
  if (charges === 1) {
    const dump = await until(async () => {
      const d = await admin(`/admin/orders/${encodeURIComponent(orderNo)}`);
      return d.order.paidAttempt && d;
    }, 10000, 'the payment center to record the payment');
    assert.ok(dump.attempts.some((a) => a.attemptId === dump.order.paidAttempt), 'paid by one of its attempts');
  }
  return stats;
}

/** The `wx.requestPayment` parameters a payment was launched with: WeChat's JSAPI set, nothing
 * else (no appId in a mini-program, no key, no merchant number). */
function assertJsapiParams(payment) {
  const { success, fail, complete, ...params } = payment.params;
  assert.deepEqual(Object.keys(params).sort(), ['nonceStr', 'package', 'paySign', 'signType', 'timeStamp']);
  assert.match(params.timeStamp, /^[0-9]{10}$/);
  assert.equal(params.package, `prepay_id=${payment.prepayId}`);
  assert.equal(params.signType, 'RSA');
  assert.equal(payment.refused, undefined, `WeChat refused it: ${payment.refused}`);
}

async function admin(pathname) {
  const res = await fetch(`${server.url}${pathname}`);
  assert.equal(res.status, 200, `${pathname}: HTTP ${res.status}`);
  return res.json();
}

/**
 * One business order for the cart, across every run in `runs` (launches on the same phone):
 * every submission of the cart carried a key, one key in all (the backend keeps one order per
 * key), every reply named `orderNo`; the backend holds the cart under `orderNo` with that one
 * key; and a new keyed submission of the same cart by the same buyer is answered with that
 * order (`reused`), not a new one. Returns the cart id.
 */
async function assertOneOrder(runs, orderNo) {
  const sent = runs.flatMap((mp) => submits(mp));
  assert.ok(sent.length >= 1, 'the cart was submitted');
  for (const request of sent) {
    assert.match(String(request.header['Idempotency-Key']), /^"[0-9a-f]{32}"$/, 'every submission carries a key');
  }
  const bodies = sent.map((r) => JSON.parse(r.body));
  const carts = new Set(bodies.map((b) => b.content.cartId));
  assert.equal(carts.size, 1, `one cart submitted: ${[...carts]}`);
  const [cartId] = carts;
  assert.equal(new Set(sent.map((r) => r.header['Idempotency-Key'])).size, 1, 'one key for the cart, in every run');
  const answered = sent.filter((r) => r.reply !== undefined && r.status < 300).map((r) => JSON.parse(r.reply).orderNo);
  assert.ok(answered.length >= 1, 'a submission was answered');
  assert.deepEqual([...new Set(answered)], [orderNo], 'every answer names the one order');
  const dump = await admin(`/admin/orders/${encodeURIComponent(orderNo)}`);
  assert.equal(dump.order.content.cartId, cartId, 'the backend holds the cart under this order');
  assert.equal(dump.submissionKeys, 1, 'one submission key landed on the order');
  // The backend's own view of the cart: the same content from the same buyer, newly keyed.
  const probe = await fetch(`${server.url}/api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `"${crypto.randomBytes(16).toString('hex')}"` },
    body: JSON.stringify({ content: bodies[0].content, buyer: bodies[0].buyer }),
  });
  const found = await probe.json();
  assert.equal(probe.status, 200, JSON.stringify(found));
  assert.equal(found.reused, true);
  assert.equal(found.orderNo, orderNo, 'the backend knows no other order for this cart');
  return cartId;
}

/** The Pay button's `disabled="{{!loaded || paying || checkoutStatus === 'paid'}}"`. */
const payDisabled = (data) => !data.loaded || data.paying || data.checkoutStatus === 'paid';
/** The "New order" / "Start over" button is shown (`wx:if`) only in these states. */
const newCartShown = (data) => !data.paying && ['paid', 'cancelled', 'failed', 'error'].includes(data.checkoutStatus);
const renderFrame = () => new Promise((resolve) => setTimeout(resolve, 40));
const storedCart = (mp) => JSON.parse(mp.storage.get('checkout-example/demo-buyer/cart'));

test('double tap: one order, one wallet, one create, one charge; the record says paid', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout();
  const first = mp.tap(page, 'onPay', payDisabled);
  const second = mp.tap(page, 'onPay', payDisabled); // before setData's re-render disabled the button
  assert.equal(second, null, 'the second tap is ignored by the page binding');
  assert.equal(page.data.paying, true);
  const outcome = await first;
  assert.equal(outcome.status, 'paid');
  assert.equal(page.data.paying, false);
  assert.equal(page.data.checkoutStatus, 'paid');
  const { orderNo } = page.order;
  assert.equal(page.data.orderNo, orderNo);
  assert.equal(submits(mp).length, 1, 'one submission');
  assert.equal(mp.payments.length, 1);
  assertJsapiParams(mp.payments[0]);
  assert.equal(creates(mp, orderNo).length, 1);
  assert.match(creates(mp, orderNo)[0].header['Idempotency-Key'], /^"[0-9a-f]{32}"$/);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  await assertOneOrder([mp], orderNo);
  const key = `checkout-guard/v1/example/demo-buyer/${orderNo}`;
  assert.ok(mp.storage.has(key), 'the record is in wx storage');
  assert.equal(JSON.parse(JSON.parse(mp.storage.get(key))).state, 'paid');
  assert.equal(storedCart(mp).orderNo, orderNo, 'the cart remembers its order');
  assert.equal(storedCart(mp).paid, true);
  guard.close();
});

test('ten taps, and ten direct pay() calls: one wallet, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout();
  mp.walletDelayMs = 300; // the buyer is still in the wallet while the taps arrive
  const taps = [];
  for (let i = 0; i < 10; i += 1) {
    taps.push(mp.tap(page, 'onPay', payDisabled));
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
  await until(() => page.order, 15000, 'the order');
  const { orderNo } = page.order;
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
  await assertOneOrder([mp], orderNo);
  guard.close();
});

test('cancel, then pay again: the same prepay is reused, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout({ wallet: 'cancel' });
  const cancelled = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(cancelled.status, 'cancelled');
  const { orderNo } = page.order;
  assert.equal(page.data.checkoutStatus, 'cancelled');
  await renderFrame();
  mp.wallet = 'confirm';
  const paid = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(paid.status, 'paid');
  assert.equal(paid.reused, true);
  assert.equal(mp.payments.length, 2);
  assert.equal(mp.payments[1].prepayId, mp.payments[0].prepayId, 'the prepay is reused');
  assert.equal(creates(mp, orderNo).length, 1, 'no second create');
  assert.equal(submits(mp).length, 1, 'the second tap pays the order it has');
  const stats = await assertCharges(orderNo, { charges: 1, attempts: 1 });
  assert.equal(stats.prepayCalls, 1);
  await assertOneOrder([mp], orderNo);
  guard.close();
});

test('the create reply is lost: the same key is sent again, one attempt, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout();
  // The first POST under /api/orders/ is this order's create (the submission is /api/orders).
  await server.addFault({ spec: 'drop-reply', pathPrefix: '/api/orders/', method: 'POST', times: 1 });
  const outcome = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(outcome.status, 'paid');
  const { orderNo } = page.order;
  const sent = creates(mp, orderNo);
  assert.ok(sent.length >= 2, `the create was retried (${sent.length} sent)`);
  assert.equal(sent[0].status, undefined, 'the first create got no reply');
  assert.equal(new Set(sent.map((r) => r.header['Idempotency-Key'])).size, 1, 'one key for every try');
  assert.equal(mp.payments.length, 1);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  await assertOneOrder([mp], orderNo);
  guard.close();
});

test('the app is hidden during payment and shown again: the guard asks at once, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout({ wallet: 'hang' });
  const paying = mp.tap(page, 'onPay', payDisabled);
  await until(() => mp.payments.length === 1, 15000, 'the wallet');
  const { orderNo } = page.order;
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
  await assertOneOrder([mp], orderNo);
  guard.close();
});

test('relaunched on the same phone, a paid order is answered from wx storage', { timeout: 60000 }, async () => {
  const first = await checkout();
  assert.equal((await first.mp.tap(first.page, 'onPay', payDisabled)).status, 'paid');
  const { orderNo } = first.page.order;
  first.guard.close();
  const second = await checkout({ storage: first.mp.storage });
  assert.equal(second.page.data.orderNo, orderNo, 'the relaunched page shows the paid order');
  assert.equal(second.page.data.checkoutStatus, 'paid');
  const again = await second.guard.pay(first.page.order);
  assert.equal(again.status, 'paid');
  assert.equal(second.mp.payments.length, 0, 'no wallet');
  assert.equal(creates(second.mp, orderNo).length, 0, 'no create');
  assert.equal(submits(second.mp).length, 0, 'no submission');
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  await assertOneOrder([first.mp, second.mp], orderNo);
  second.guard.close();
});

test('storage is full: a storage warning, records in memory, still one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout({ prepare: (m) => m.fillStorage(64) });
  const warnings = [];
  guard.on('storage', (event) => warnings.push(event));
  const outcome = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(outcome.status, 'paid');
  const { orderNo } = page.order;
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /exceed storage max size 10MB/);
  assert.match(warnings[0].message, /kept in memory/);
  assert.ok(mp.errors.some(([level, text]) => level === 'warn' && /checkout-guard storage/.test(text)), 'the page logged it');
  assert.ok(![...mp.storage.keys()].some((k) => k.startsWith('checkout-guard/') || k.startsWith('checkout-example/')), 'nothing was written');
  assert.ok(mp.errors.some(([level, text]) => level === 'warn' && /cart is kept in memory/.test(text)), 'the page kept its cart in memory');
  // Paying again in this run is answered from memory: no new create, no wallet.
  await new Promise((resolve) => setTimeout(resolve, 40));
  const again = await guard.pay(page.order);
  assert.equal(again.status, 'paid');
  assert.equal(mp.payments.length, 1);
  assert.equal(creates(mp, orderNo).length, 1);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  await assertOneOrder([mp], orderNo);
  guard.close();
});

test('the example package holds the bundle the build made', { timeout: 60000 }, async () => {
  const { mp, guard } = await checkout();
  assert.equal(mp.instantiated, '/checkout-guard/checkout_guard_bg.wasm.br');
  assert.ok(path.isAbsolute(examplePackage));
  guard.close();
});

// ---- issue 11, point 5: one order per cart across launches ---------------------------------

test('a double tap on the submit/pay button of a new cart: one submission, one order, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout();
  assert.equal(page.data.orderNo, '', 'no order before the buyer agrees');
  assert.equal(submits(mp).length, 0, 'opening the page submits nothing');
  const { content } = page.cart;
  const first = mp.tap(page, 'onPay', payDisabled);
  const second = mp.tap(page, 'onPay', payDisabled); // before the re-render disabled the button
  assert.equal(second, null, 'the second tap is ignored while the first submits');
  // A second handler that did not see the lock (another page instance, say) joins the guard's
  // submission in flight: the same order, no second request.
  const joined = await Promise.all([guard.submit(content), guard.submit(content)]);
  const outcome = await first;
  assert.equal(outcome.status, 'paid');
  const { orderNo } = page.order;
  for (const submitted of joined) assert.equal(submitted.orderNo, orderNo);
  assert.equal(submits(mp).length, 1, 'one submission request');
  assert.equal(mp.payments.length, 1, 'one wallet');
  assert.equal(creates(mp, orderNo).length, 1, 'one create');
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  await assertOneOrder([mp], orderNo);
  guard.close();
});

test('killed after paying, before the wallet called back: relaunched, the same order is paid, no second order', { timeout: 60000 }, async () => {
  const first = await checkout({ wallet: 'hang' });
  first.mp.tap(first.page, 'onPay', payDisabled);
  await until(() => first.mp.payments.length === 1, 15000, 'the wallet');
  const { orderNo } = first.page.order;
  assert.equal(storedCart(first.mp).orderNo, orderNo, 'the cart remembers its order before paying');
  assert.equal(storedCart(first.mp).paid, false);
  // The buyer pays in WeChat Pay, and the app is killed before the wallet's callback.
  const wallet = await server.wallet(first.mp.payments[0].prepayId, 'confirm');
  assert.equal(wallet.status, 200, wallet.body);
  first.mp.kill();

  const second = await checkout({ storage: first.mp.storage });
  assert.equal(second.page.data.orderNo, orderNo, 'the relaunched page has the same order');
  await until(() => second.page.data.checkoutStatus === 'paid', 15000, 'the resumed order to show paid');
  assert.equal(second.page.data.message, 'Paid. Thank you!');
  assert.equal(storedCart(second.mp).paid, true);
  assert.equal(second.mp.tap(second.page, 'onPay', payDisabled), null, 'the Pay button is disabled');
  // Paying it anyway (a stale handler) is answered paid: the guard makes it safe.
  const again = await second.guard.pay(second.page.order);
  assert.equal(again.status, 'paid');
  assert.equal(again.orderNo, orderNo);
  assert.equal(submits(second.mp).length, 0, 'no submission after the relaunch');
  assert.equal(creates(second.mp, orderNo).length, 0, 'no create after the relaunch');
  assert.equal(second.mp.payments.length, 0, 'no wallet after the relaunch');
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  const cartId = await assertOneOrder([first.mp, second.mp], orderNo);

  // The buyer orders again: a new cart, hence a new order, paid once too.
  await renderFrame();
  assert.ok(newCartShown(second.page.rendered), 'the "New order" button is shown');
  await second.page.onNewCart();
  assert.equal(second.page.data.orderNo, '');
  assert.notEqual(second.page.cart.content.cartId, cartId, 'a new cart id');
  await renderFrame();
  const next = await second.mp.tap(second.page, 'onPay', payDisabled);
  assert.equal(next.status, 'paid');
  assert.notEqual(next.orderNo, orderNo, 'a new cart is a new order');
  await assertCharges(next.orderNo, { charges: 1, attempts: 1 });
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  second.guard.close();
});

test('killed while the create request went unanswered: relaunched, the same order, one attempt, one charge', { timeout: 60000 }, async () => {
  const first = await checkout();
  // The first POST under /api/orders/ is the create of the order (its reply is lost; the
  // backend made the attempt).
  await server.addFault({ spec: 'drop-reply', pathPrefix: '/api/orders/', method: 'POST', times: 1 });
  first.mp.tap(first.page, 'onPay', payDisabled);
  const lost = await until(() => first.page.order && creates(first.mp, first.page.order.orderNo).find((r) => r.done), 15000, 'the create to go unanswered');
  assert.equal(lost.status, undefined, 'the create got no reply');
  const { orderNo } = first.page.order;
  first.mp.kill(); // before the guard re-sends it
  await server.clearFaults();
  assert.equal(first.mp.payments.length, 0);
  assert.equal(creates(first.mp, orderNo).length, 1);

  const second = await checkout({ storage: first.mp.storage });
  assert.equal(second.page.data.orderNo, orderNo, 'the relaunched page has the same order');
  // The guard finds out what became of it (never opening the wallet): waiting for payment.
  await until(() => second.page.data.checkoutStatus === 'cancelled', 15000, 'the resumed order to settle');
  assert.match(second.page.data.message, new RegExp(`Order ${orderNo} is waiting for payment`));
  assert.equal(second.mp.payments.length, 0, 'resuming opens no wallet');
  await renderFrame();
  const outcome = await second.mp.tap(second.page, 'onPay', payDisabled);
  assert.equal(outcome.status, 'paid');
  assert.equal(outcome.orderNo, orderNo);
  assert.equal(submits(second.mp).length, 0, 'no submission after the relaunch');
  const keys = new Set([...creates(first.mp, orderNo), ...creates(second.mp, orderNo)].map((r) => r.header['Idempotency-Key']));
  assert.equal(keys.size, 1, 'every create of the order, in both runs, used the key minted before the kill');
  assert.equal(second.mp.payments.length, 1);
  const stats = await assertCharges(orderNo, { charges: 1, attempts: 1 });
  assert.equal(stats.prepayCalls, 1);
  await assertOneOrder([first.mp, second.mp], orderNo);
  second.guard.close();
});

test('killed while the submission went unanswered: relaunched, the same key again, one order, one charge', { timeout: 60000 }, async () => {
  const first = await checkout();
  // The submission's reply is lost (the backend made the order).
  await server.addFault({ spec: 'drop-reply', pathPrefix: '/api/orders', method: 'POST', times: 1 });
  first.mp.tap(first.page, 'onPay', payDisabled);
  const lost = await until(() => submits(first.mp).find((r) => r.done), 15000, 'the submission to go unanswered');
  assert.equal(lost.status, undefined, 'the submission got no reply');
  first.mp.kill(); // before the guard re-sends it
  await server.clearFaults();
  assert.equal(first.page.order, null, 'the page never learnt the order number');

  const second = await checkout({ storage: first.mp.storage });
  assert.equal(second.page.cart.content.cartId, first.page.cart.content.cartId, 'the same cart');
  assert.equal(second.page.data.orderNo, '');
  const outcome = await second.mp.tap(second.page, 'onPay', payDisabled);
  assert.equal(outcome.status, 'paid');
  const { orderNo } = second.page.order;
  assert.equal(submits(second.mp).length, 1);
  assert.equal(submits(second.mp)[0].header['Idempotency-Key'], lost.header['Idempotency-Key'], 'the stored key is re-sent');
  assert.equal(JSON.parse(submits(second.mp)[0].reply).reused, true, 'the order the lost reply would have named');
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  await assertOneOrder([first.mp, second.mp], orderNo);
  second.guard.close();
});

test('the phone clock is 3 h ahead: the guard judges expiry on the server clock, the wallet opens, one charge', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout({ clockOffsetMs: 3 * HOUR_MS });
  const skew = mp.evaluate('Date.now()') - Date.now();
  assert.ok(Math.abs(skew - 3 * HOUR_MS) < 1000, `the phone clock is ahead by ${skew} ms`);
  assert.ok(Math.abs(mp.evaluate('new Date().getTime()') - Date.now() - 3 * HOUR_MS) < 1000, 'new Date() too');
  const clocks = [];
  guard.on('serverClock', (event) => clocks.push(event));
  const outcome = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(outcome.status, 'paid', `outcome ${JSON.stringify(outcome)}`);
  const { orderNo } = page.order;
  assert.equal(mp.payments.length, 1, 'the wallet was launched');
  assert.ok(clocks.length >= 1, 'the guard learnt the server clock');
  assert.ok(Math.abs(clocks[0].offsetMs + 3 * HOUR_MS) < 5000, `server minus phone: ${clocks[0].offsetMs} ms`);
  // The prepay is valid for 2 h on the server's clock: on the phone's, it expired an hour ago.
  const dump = await admin(`/admin/orders/${encodeURIComponent(orderNo)}`);
  assert.equal(dump.attempts.length, 1);
  assert.equal(creates(mp, orderNo).length, 1);
  await assertCharges(orderNo, { charges: 1, attempts: 1 });
  await assertOneOrder([mp], orderNo);
  guard.close();
});

test('wx.requestPayment never calls back: pending (wallet_no_reply) after launchTimeoutMs, unlocked, paying again reopens the same prepay', { timeout: 60000 }, async () => {
  const { mp, page, guard } = await checkout({ wallet: 'hang', guardOptions: { launchTimeoutMs: 2000 } });
  const started = Date.now();
  const stalled = await mp.tap(page, 'onPay', payDisabled);
  const waited = Date.now() - started;
  assert.equal(stalled.status, 'pending', JSON.stringify(stalled));
  assert.equal(stalled.reason, 'wallet_no_reply');
  assert.ok(waited >= 2000 && waited < 10000, `the outcome came after ${waited} ms`);
  assert.equal(page.data.paying, false, 'the page is no longer locked');
  assert.equal(page.data.checkoutStatus, 'pending');
  const { orderNo } = page.order;
  assert.equal(mp.payments.length, 1);
  await renderFrame();
  assert.ok(!payDisabled(page.rendered), 'the button ("Check payment") is enabled');
  mp.wallet = 'confirm';
  const paid = await mp.tap(page, 'onPay', payDisabled);
  assert.ok(paid, 'the tap was taken');
  assert.equal(paid.status, 'paid');
  assert.equal(paid.orderNo, orderNo);
  if (stalled.attemptId !== null) assert.equal(paid.attemptId, stalled.attemptId, 'the same attempt');
  assert.equal(mp.payments.length, 2, 'the wallet was opened again');
  assert.equal(mp.payments[1].prepayId, mp.payments[0].prepayId, 'the same prepay');
  assert.equal(creates(mp, orderNo).length, 1, 'no second create');
  assert.equal(submits(mp).length, 1, 'no second submission');
  const stats = await assertCharges(orderNo, { charges: 1, attempts: 1 });
  assert.equal(stats.prepayCalls, 1);
  await assertOneOrder([mp], orderNo);
  guard.close();
});

test('a paySign for another appid: WeChat refuses to open the wallet, nothing is charged, the order stays payable', { timeout: 60000 }, async () => {
  // The mini-program runs under an appid other than the one the payment center signs for (a
  // misconfigured CG_WECHATPAY_APPID): WeChat's paySign check fails, as it would on a phone.
  const { mp, page, guard } = await checkout({ prepare: (m) => { m.appId = 'wx0000000000000000'; } });
  const outcome = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(outcome.status, 'failed', JSON.stringify(outcome));
  assert.equal(outcome.reason, 'wallet');
  const { orderNo } = page.order;
  assert.equal(mp.payments.length, 1);
  assert.equal(mp.payments[0].refused, '支付验证签名失败');
  assert.equal(mp.payments[0].result, 'requestPayment:fail 支付验证签名失败');
  assert.equal(mp.payments[0].walletStatus, undefined, 'no wallet was opened');
  const stats = await assertCharges(orderNo, { charges: 0, attempts: 1 });
  assert.equal(stats.paymentsRefused, 0, 'nothing reached the wallet');
  assert.equal(stats.prepayCalls, 1);
  // The same prepay in the right mini-program pays (WeChat never opened the wallet: the
  // attempt is neither paid nor dead, and the guard asked the server before saying failed).
  mp.appId = server.appId;
  await renderFrame();
  const paid = await mp.tap(page, 'onPay', payDisabled);
  assert.equal(paid.status, 'paid', JSON.stringify(paid));
  assert.equal(paid.attemptId, outcome.attemptId, 'the same attempt');
  assert.equal(paid.reused, true);
  assert.equal(mp.payments.length, 2);
  assert.equal(mp.payments[1].prepayId, mp.payments[0].prepayId, 'the same prepay');
  assertJsapiParams(mp.payments[1]);
  assert.equal(creates(mp, orderNo).length, 1, 'no second create');
  const after = await assertCharges(orderNo, { charges: 1, attempts: 1 });
  assert.equal(after.prepayCalls, 1);
  guard.close();
});
