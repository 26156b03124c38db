// The default demo, on WeChat Pay API v3 (issue 14): the payment center with `--provider
// wechatpay` against the WeChat Pay simulator binary, as `cargo xtask demo` runs them. The page
// gets the real Native shape (`codeUrl`), draws it as a QR code, and shows the simulator's scan
// page (another origin) as the buyer's phone; 20 fast clicks make one prepay at the simulator,
// the buyer confirms there and presses "I have paid", the notify reaches the payment center,
// and the simulator's own records count one charge. Then a closed wallet paid again (the same
// prepay) and "lost reply after commit" (one key, one attempt), each one charge at WeChat Pay.
// The H5 scene has its own file (h5.test.mjs); the in-process provider (`cargo xtask demo
// --simulated`) is demo.test.mjs.
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

test('the demo launches the real Native shape, a QR code, and one charge at WeChat Pay (simulated)', async () => {
  const page = await browser.context.newPage();
  const problems = collectProblems(page);
  await page.goto(`${server.url}/`);
  await page.locator('#outcome[data-status="ready"]').waitFor({ timeout: 20_000 });
  // The page learnt which provider runs before the buyer can pay.
  await page.locator('#timeline', { hasText: 'WeChat Pay API v3' }).waitFor({ timeout: 10_000 });
  const orderNo = (await page.locator('#order-no').textContent()).trim();
  // WeChat Pay's scenes are offered; the toggles that act on the in-process provider are not.
  await page.locator('#scene-choice:not([hidden])').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#scene').inputValue(), 'native');
  for (const id of ['late-notify', 'lost-notify', 'short-expiry']) {
    assert.ok(!(await page.locator(`#fault-${id}`).isVisible()), `${id} is not offered`);
  }
  assert.ok(await page.locator('#fault-lost-reply').isVisible());

  const box = await page.locator('#pay').boundingBox();
  for (let i = 0; i < 20; i += 1) {
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  }
  // The QR code of `codeUrl`, drawn, and the simulator's page for it beside it.
  await page.locator('#wallet-qr:not([hidden])').waitFor({ timeout: 30_000 });
  const codeUrl = (await page.locator('#code-url').textContent()).trim();
  assert.match(codeUrl, /^weixin:\/\/wxpay\/bizpayurl\?pr=/);
  const drawn = await page.locator('#wallet-qr').evaluate((canvas) => {
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] < 128) dark += 1;
    return dark / (data.length / 4);
  });
  assert.ok(drawn > 0.2 && drawn < 0.8, `a QR code is drawn (dark share ${drawn})`);
  assert.ok(!(await page.locator('#wallet-decline').isVisible()), 'no in-process wallet buttons');

  // The buyer's phone: the simulator's wallet, on its own origin.
  const phone = page.frameLocator('#wallet-frame');
  await phone.locator('#confirm').click({ timeout: 30_000 });
  await phone.locator('h1', { hasText: 'Done' }).waitFor({ timeout: 10_000 });
  await page.locator('#wallet-paid').click();
  await page.locator('#outcome[data-status="paid"]').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('#pay').textContent(), 'Paid');

  // WeChat Pay's own records (the simulator's): one prepay call, one charge, the notify
  // acknowledged by the payment center.
  const stats = await waitFor(async () => {
    const s = await sim.stats(orderNo);
    return s.notifiesAcknowledged >= 1 && s;
  }, 'the notify acknowledged', 15_000);
  assert.equal(stats.charges, 1, JSON.stringify(stats));
  assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
  const dump = await (await fetch(`${server.url}/admin/orders/${orderNo}`)).json();
  assert.equal(dump.attempts.length, 1, JSON.stringify(dump));
  assert.equal(dump.order.paidAttempt, dump.attempts[0].attemptId);
  // The page's count: one charge, as WeChat Pay reported it.
  await page.locator('#stats[data-charges="1"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#stat-attempts').textContent(), '1');
  assert.deepEqual(problems, []);
  await page.close();
});

/** Opens the demo on a new order (the previous one is shown first). */
async function openNewOrder() {
  const page = await browser.context.newPage();
  const problems = collectProblems(page);
  await page.goto(`${server.url}/`);
  await page.locator('#outcome:is([data-status="ready"], [data-status="paid"])').waitFor({ timeout: 20_000 });
  await page.locator('#timeline', { hasText: 'WeChat Pay API v3' }).waitFor({ timeout: 10_000 });
  const before = (await page.locator('#order-no').textContent()).trim();
  await page.locator('#new-order').click();
  await waitFor(async () => (await page.locator('#order-no').textContent()).trim() !== before, 'a new order');
  await page.locator('#outcome[data-status="ready"]').waitFor({ timeout: 10_000 });
  return { page, problems, orderNo: (await page.locator('#order-no').textContent()).trim() };
}

async function hammer(page, clicks) {
  const box = await page.locator('#pay').boundingBox();
  for (let i = 0; i < clicks; i += 1) {
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  }
}

/** Confirms on the phone (the simulator's page), presses "I have paid", waits for paid. */
async function confirmOnPhone(page) {
  const phone = page.frameLocator('#wallet-frame');
  await phone.locator('#confirm').click({ timeout: 30_000 });
  await phone.locator('h1', { hasText: 'Done' }).waitFor({ timeout: 10_000 });
  await page.locator('#wallet-paid').click();
  await page.locator('#outcome[data-status="paid"]').waitFor({ timeout: 30_000 });
}

/** WeChat Pay's count once the notify was acknowledged: one prepay call, one charge. */
async function assertOneChargeAtWechatpay(orderNo) {
  const stats = await waitFor(async () => {
    const s = await sim.stats(orderNo);
    return s.notifiesAcknowledged >= 1 && s;
  }, 'the notify acknowledged', 15_000);
  assert.equal(stats.charges, 1, JSON.stringify(stats));
  assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
  assert.equal(stats.maxPayableAtOnce, 1, JSON.stringify(stats));
  return stats;
}

test('the wallet closed, then Pay again: the same prepay, one charge at WeChat Pay', async () => {
  const { page, problems, orderNo } = await openNewOrder();
  await hammer(page, 5);
  await page.locator('#wallet-qr:not([hidden])').waitFor({ timeout: 30_000 });
  const first = (await page.locator('#code-url').textContent()).trim();
  await page.locator('#wallet-close').click();
  await page.locator('#outcome[data-status="cancelled"]').waitFor({ timeout: 20_000 });
  await hammer(page, 5);
  await page.locator('#wallet-qr:not([hidden])').waitFor({ timeout: 30_000 });
  assert.equal((await page.locator('#code-url').textContent()).trim(), first, 'the same code_url');
  await confirmOnPhone(page);
  assert.match(await page.locator('#timeline').innerText(), /Reusing the stored prepay/);
  await assertOneChargeAtWechatpay(orderNo);
  const dump = await (await fetch(`${server.url}/admin/orders/${orderNo}`)).json();
  assert.equal(dump.attempts.length, 1, JSON.stringify(dump));
  assert.deepEqual(problems, []);
  await page.close();
});

test('lost reply after commit on WeChat Pay: one key, one attempt, one prepay, one charge', async () => {
  const { page, problems, orderNo } = await openNewOrder();
  await page.locator('#fault-lost-reply').check();
  await waitFor(async () => {
    const { rules } = await (await fetch(`${server.url}/admin/faults`)).json();
    return rules.some((rule) => rule.spec === 'drop-reply' && rule.pathPrefix.includes(orderNo));
  }, 'the lost-reply rule to be installed');
  await hammer(page, 20);
  await page.locator('#wallet-qr:not([hidden])').waitFor({ timeout: 30_000 });
  await confirmOnPhone(page);
  const log = await page.locator('#timeline').innerText();
  assert.equal(log.match(/Create sent with a NEW idempotency key/g)?.length, 1, log);
  await assertOneChargeAtWechatpay(orderNo);
  const dump = await (await fetch(`${server.url}/admin/orders/${orderNo}`)).json();
  assert.equal(dump.idempotencyKeys, 1, JSON.stringify(dump));
  assert.equal(dump.attempts.length, 1, JSON.stringify(dump));
  // The lost replies themselves are logged by the browser; nothing else may be.
  assert.deepEqual(problems.filter((p) => !p.includes('net::ERR_EMPTY_RESPONSE')), []);
  await page.close();
});
