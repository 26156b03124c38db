// The demo page's H5 scene on WeChat Pay API v3 (issue 14), in headless Chromium: the payment
// center with `--provider wechatpay` against the WeChat Pay simulator binary, as `cargo xtask
// demo` runs them. "Phone browser (H5)" makes the order an H5 one; Pay sends the whole page to
// the `h5Url` (the simulator's `/sim/h5/checkmweb`) with a `redirect_url` back to the demo; the
// buyer confirms there (or not) and comes back; the page calls `guard.resume(orderNo)` and
// shows the server's word, never starting a second payment. WeChat Pay's own records (the
// simulator's) count the charges and every transaction of the order.
//
// Run by `cargo xtask ci`, which passes CG_SERVER_BIN and CG_WECHATPAY_SIM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectProblems, launchBrowser, startWechatpayServer, startWechatpaySim, waitFor } from './harness.mjs';

let sim;
let server;
let browser;

before(async () => {
  sim = await startWechatpaySim();
  server = await startWechatpayServer(sim);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await sim?.stop();
});

async function json(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return response.json();
}

/** The demo in a new tab, with page errors collected and every create reply's `prepay` kept. */
async function openDemo() {
  const page = await browser.context.newPage();
  // WeChat Pay's (the simulator's) page has no icon: the browser's own favicon.ico request
  // there is not the demo's.
  const problems = collectProblems(page, { ignoreUrl: `${sim.url}/favicon.ico` });
  const prepays = [];
  page.on('response', async (response) => {
    if (response.request().method() === 'POST' && /\/api\/orders\/[^/]+\/payments$/.test(new URL(response.url()).pathname)) {
      try {
        prepays.push((await response.json()).prepay);
      } catch {
        // a lost reply has no body
      }
    }
  });
  await page.goto(`${server.url}/`);
  await page.locator('#outcome:is([data-status="ready"], [data-status="paid"])').waitFor({ timeout: 20_000 });
  return { page, problems, prepays };
}

/** A new order on the open page, to be paid with the H5 scene. */
async function newH5Order(page) {
  const before = (await page.locator('#order-no').textContent()).trim();
  await page.locator('#new-order').click();
  await waitFor(async () => (await page.locator('#order-no').textContent()).trim() !== before, 'a new order');
  await page.locator('#outcome[data-status="ready"]').waitFor({ timeout: 10_000 });
  const orderNo = (await page.locator('#order-no').textContent()).trim();
  await page.locator('#scene-choice:not([hidden])').waitFor({ timeout: 10_000 });
  await page.locator('#scene').selectOption('h5');
  await page.locator('#timeline', { hasText: 'Paying with a phone browser (H5)' }).waitFor({ timeout: 10_000 });
  const order = await json(`${server.url}/api/orders/${orderNo}`);
  assert.equal(order.content.scene, 'h5', JSON.stringify(order));
  return orderNo;
}

/** Clicks Pay `clicks` times and waits for WeChat Pay's H5 page; returns its URL. */
async function payToH5Page(page, clicks = 10) {
  const box = await page.locator('#pay').boundingBox();
  for (let i = 0; i < clicks; i += 1) {
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2).catch(() => {});
  }
  await page.waitForURL((url) => url.href.startsWith(`${sim.url}/sim/h5/checkmweb`), { timeout: 30_000 });
  return new URL(page.url());
}

/** The order's transactions at WeChat Pay (the simulator), oldest first. */
async function transactions(orderNo) {
  return (await json(`${sim.url}/sim/admin/transactions/${orderNo}`)).transactions;
}

/** The page gets the h5Url and nothing else: no key, no merchant number, no signature. The
 * create replies it saw (when their bodies could be read before the page left), and what the
 * payment center hands out for the attempt (the `prepay` of every create and status reply). */
async function assertOnlyH5Url(orderNo, seen) {
  const dump = await json(`${server.url}/admin/orders/${orderNo}`);
  const prepays = [...seen, ...dump.attempts.map((attempt) => attempt.prepay)];
  assert.ok(prepays.length >= 1, 'a prepay');
  for (const prepay of prepays) {
    assert.deepEqual(Object.keys(prepay), ['h5Url'], JSON.stringify(prepay));
    assert.ok(prepay.h5Url.startsWith(`${sim.url}/sim/h5/checkmweb?prepay_id=`), prepay.h5Url);
  }
}

test('H5: Pay goes to WeChat Pay\'s page, the buyer confirms and comes back: paid, one charge', async () => {
  const { page, problems, prepays } = await openDemo();
  const orderNo = await newH5Order(page);
  const h5 = await payToH5Page(page);
  const back = h5.searchParams.get('redirect_url');
  assert.equal(back, `${server.url}/?h5-return=${orderNo}`);
  assert.equal((await page.locator('#out-trade-no').textContent()).trim(), (await transactions(orderNo))[0].outTradeNo);
  assert.equal(await page.locator('#state').textContent(), 'NOTPAY');

  await page.locator('#confirm').click();
  await page.locator('h1', { hasText: 'Done' }).waitFor({ timeout: 10_000 });
  assert.match(await page.locator('#result').textContent(), /SUCCESS/);
  // WeChat Pay's page goes back to the merchant's redirect_url.
  assert.equal(await page.locator('#back').getAttribute('href'), back);
  await page.locator('#back').click();
  await page.waitForURL(`${server.url}/`, { timeout: 10_000 });
  await page.locator('#outcome[data-status="paid"]').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('#pay').textContent(), 'Paid');
  assert.ok(await page.locator('#pay').isDisabled());
  assert.equal((await page.locator('#order-no').textContent()).trim(), orderNo);
  const log = await page.locator('#timeline').innerText();
  assert.match(log, /Back from WeChat Pay's H5 page/, log);
  assert.match(log, /Outcome: PAID/, log);
  assert.doesNotMatch(log, /Create sent/, 'nothing is created on the way back');

  const stats = await waitFor(async () => {
    const s = await json(`${sim.url}/sim/admin/stats/${orderNo}`);
    return s.notifiesAcknowledged >= 1 && s;
  }, 'the notify acknowledged', 15_000);
  assert.equal(stats.charges, 1, JSON.stringify(stats));
  assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
  assert.equal((await transactions(orderNo)).length, 1);
  const dump = await json(`${server.url}/admin/orders/${orderNo}`);
  assert.equal(dump.attempts.length, 1, JSON.stringify(dump));
  assert.equal(dump.order.paidAttempt, dump.attempts[0].attemptId);
  await assertOnlyH5Url(orderNo, prepays);
  assert.deepEqual(problems, []);
  await page.close();
});

test('H5: the buyer comes back without paying: still payable, no second live attempt; paying again reuses it', async () => {
  const { page, problems, prepays } = await openDemo();
  const orderNo = await newH5Order(page);
  const first = await payToH5Page(page);
  // The buyer leaves WeChat Pay's page without paying.
  await page.locator('#back').click();
  await page.waitForURL(`${server.url}/`, { timeout: 10_000 });
  // The guard's record says "launched" (the page left during the launch), so `resume` polls
  // its window (10 s on an H5 return) and, the server saying unpaid throughout, ends pending.
  await page.locator('#outcome[data-status="pending"]').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('#outcome .outcome-title').textContent(), 'Not paid yet');
  assert.ok(!(await page.locator('#pay').isDisabled()), 'the order can be paid');
  assert.equal(await page.locator('#pay').textContent(), 'Reopen the payment');
  let log = await page.locator('#timeline').innerText();
  assert.match(log, /Back from WeChat Pay's H5 page/, log);
  assert.match(log, /Server says: unpaid/, log);
  assert.match(log, /Outcome: PENDING/, log);
  assert.doesNotMatch(log, /Create sent|Wallet launched|Going to WeChat Pay/, 'nothing is created or launched on the way back');

  // At WeChat Pay: one transaction, open and payable; nothing charged; one prepay call.
  let txs = await transactions(orderNo);
  assert.equal(txs.length, 1, JSON.stringify(txs));
  assert.equal(txs[0].tradeState, 'NOTPAY');
  assert.equal(txs[0].payable, true);
  let stats = await json(`${sim.url}/sim/admin/stats/${orderNo}`);
  assert.equal(stats.charges, 0, JSON.stringify(stats));
  assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
  assert.equal((await json(`${server.url}/admin/orders/${orderNo}`)).attempts.length, 1);

  // Paying again launches the same prepay: the same H5 page, then paid once.
  const again = await payToH5Page(page, 3);
  assert.equal(again.searchParams.get('prepay_id'), first.searchParams.get('prepay_id'), 'the same prepay');
  await page.locator('#confirm').click();
  await page.locator('h1', { hasText: 'Done' }).waitFor({ timeout: 10_000 });
  await page.locator('#back').click();
  await page.waitForURL(`${server.url}/`, { timeout: 10_000 });
  await page.locator('#outcome[data-status="paid"]').waitFor({ timeout: 30_000 });
  log = await page.locator('#timeline').innerText();
  assert.match(log, /Outcome: PAID/, log);
  assert.equal(await page.locator('#pay').textContent(), 'Paid');

  stats = await waitFor(async () => {
    const s = await json(`${sim.url}/sim/admin/stats/${orderNo}`);
    return s.notifiesAcknowledged >= 1 && s;
  }, 'the notify acknowledged', 15_000);
  assert.equal(stats.charges, 1, JSON.stringify(stats));
  assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
  assert.equal(stats.maxPayableAtOnce, 1, JSON.stringify(stats));
  txs = await transactions(orderNo);
  assert.equal(txs.length, 1, JSON.stringify(txs));
  assert.equal(txs[0].tradeState, 'SUCCESS');
  const dump = await json(`${server.url}/admin/orders/${orderNo}`);
  assert.equal(dump.attempts.length, 1, JSON.stringify(dump));
  await assertOnlyH5Url(orderNo, prepays);
  assert.deepEqual(problems, []);
  await page.close();
});
