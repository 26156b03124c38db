// The adversarial suite (issue 7): the guard in headless Chromium against the real reference
// backend with its faults switched on, one scenario per way a buyer, a browser or a network can
// try to start a second payment. Every scenario asserts from the backend's own stats that the
// order has at most one charge and the expected number of attempts, and that the page shows a
// clear outcome; at the end the suite prints a table: scenario, attempts, charges, outcome,
// seconds.
//
// The page is tests/e2e/page/ (served with the server's `--www`, importing `/pkg/index.js`):
// one order, a Pay button attached to the guard, and a wallet the test drives (the prepay is
// confirmed or cancelled at the simulated provider over HTTP, then the launch settles).
// Scenarios run one after the other in one browser, each on its own order, with short
// time-outs and the guard's fast-polling options, so the suite stays well under 5 minutes.
//
// Scenarios 1–15 are issue 7's list; 16–22 add more ways to the same end.
//
// Run by `cargo xtask ci` with the server binary in CG_SERVER_BIN. By hand: `cargo xtask build
// && cargo build -p checkout-guard-server && node --test tests/e2e/adversarial.test.mjs`
// (CG_PKG=<dir> serves another copy of pkg/, e.g. a snapshot while someone rebuilds it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backend, launchBrowser, startServer, waitFor } from './harness.mjs';

const PAGE_DIR = 'tests/e2e/page';
/** The guard's options on the test page: fast polling, quick retries, short time-outs. */
const FAST = {
  requestTimeoutMs: 3000,
  createRetries: 4,
  createRetryMs: 200,
  lockRetryMs: 250,
  poll: { fastMs: [0, 250, 500, 750], baseMs: 400, capMs: 1000, floorMs: 250, maxDurationMs: 8000, maxQueries: 60 },
};

let server;
let api;
let browser;
let dbDir;
const table = [];

/** Starts the backend on the suite's database file (on `listen`, to come back on the same port). */
function startBackend(listen = '127.0.0.1:0') {
  return startServer({
    listen,
    www: PAGE_DIR,
    db: join(dbDir, 'orders.sqlite'),
    args: ['--notify-delay-ms', '100', '--query-interval-ms', '500'],
  });
}

before(async () => {
  dbDir = mkdtempSync(join(tmpdir(), 'checkout-guard-adv-'));
  server = await startBackend();
  api = backend(server.url);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (dbDir) rmSync(dbDir, { recursive: true, force: true });
  printTable();
});

function printTable() {
  const header = ['scenario', 'attempts', 'charges', 'outcome', 'seconds'];
  const rows = table.map((r) => [r.scenario, String(r.attempts), String(r.charges), r.outcome, r.seconds.toFixed(1)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const total = table.reduce((sum, r) => sum + r.seconds, 0);
  out.push(`${table.length} scenarios, ${total.toFixed(1)} s`);
  console.log(`\n${out.join('\n')}\n`);
}

let orderSeq = 0;
/** A fresh business order at the backend. */
async function newOrder(amount = 1999) {
  orderSeq += 1;
  return api.createOrder({ amount, currency: 'CNY', items: [{ sku: 'tea', qty: 1 }], n: orderSeq });
}

/** Opens the test page for `orderNo` in a new tab; `query` adds URL parameters. */
async function openPage(orderNo, { opts = FAST, query = {}, init, context = browser.context } = {}) {
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') page.problems.push(`console: ${message.text()}`);
  });
  if (init) await page.addInitScript(init);
  await page.goto(pageUrl(orderNo, { opts, query }));
  await pageReady(page);
  return page;
}

/** Waits until the page's guard is set up; on a time-out, says what the page showed. */
async function pageReady(page) {
  try {
    await page.locator('html[data-ready="true"]').waitFor({ state: 'attached', timeout: 20_000 });
  } catch (error) {
    const shown = await page.locator('#outcome').textContent().catch(() => '?');
    throw new Error(`the page did not start: ${shown.trim()} ${page.problems.join('; ')}`, { cause: error });
  }
}

function pageUrl(orderNo, { opts = FAST, query = {} } = {}) {
  const params = new URLSearchParams({ order: orderNo, opts: JSON.stringify(opts), ...query });
  return `${api.base}/?${params}`;
}

/** The page's outcome and the guard's events, for a failure message. */
async function whatHappened(page) {
  const shown = await page.locator('#outcome').getAttribute('data-status').catch(() => '?');
  const log = await page.evaluate(() => window.cg.events.map((e) => JSON.stringify(e)).join('\n')).catch(() => '?');
  return `the page shows "${shown}"; the guard's events:\n${log}`;
}

/** Waits for the page's outcome box to show `status`. */
async function expectOutcome(page, status, timeout = 20_000) {
  try {
    await page.locator(`#outcome[data-status="${status}"]`).waitFor({ timeout });
  } catch (error) {
    throw new Error(`no outcome "${status}": ${await whatHappened(page)}`, { cause: error });
  }
  const title = await page.locator('#outcome .title').textContent();
  assert.ok(title.length > 5, `the page shows a clear outcome: ${title}`);
}

/** The prepay of the latest launch on `page`, once there is one. */
async function launched(page, count = 1, timeout = 15_000) {
  try {
    await page.locator(`#launches[data-count="${count}"]`).waitFor({ timeout });
  } catch (error) {
    throw new Error(`no launch #${count}: ${await whatHappened(page)}`, { cause: error });
  }
  return page.locator('#launches').evaluate((el) => ({ prepayId: el.dataset.prepayId, attemptId: el.dataset.attemptId }));
}

/** The buyer confirms in the wallet (at the simulated provider) and comes back to the page. */
async function payInWallet(page, prepayId) {
  const { status, body } = await api.wallet(prepayId, 'confirm');
  assert.equal(status, 200, JSON.stringify(body));
  await page.evaluate(() => window.cg.settleLaunch('ok'));
}

async function events(page, type) {
  return page.evaluate((t) => window.cg.events.filter((e) => !t || e.type === t), type);
}

/**
 * Runs one scenario and records its row; `body` returns `{ orderNo, outcome, attempts = 1,
 * note? }` and the backend's stats of that order must show at most one charge (exactly one
 * when the outcome is paid) and `attempts` merchant payment numbers.
 */
function scenario(name, body) {
  test(name, async (t) => {
    const started = Date.now();
    let result;
    try {
      result = await body();
    } catch (error) {
      table.push({ scenario: name, attempts: '?', charges: '?', outcome: 'FAILED', seconds: (Date.now() - started) / 1000 });
      throw error;
    }
    const { orderNo, outcome, attempts = 1, note } = result;
    if (note) t.diagnostic(note);
    const stats = await api.stats(orderNo);
    assert.ok(stats.charges <= 1, `at most one charge: ${JSON.stringify(stats)}`);
    assert.equal(stats.attemptsCreated, attempts, `attempts: ${JSON.stringify(stats)}`);
    if (outcome === 'paid') assert.equal(stats.charges, 1, JSON.stringify(stats));
    table.push({ scenario: name, attempts: stats.attemptsCreated, charges: stats.charges, outcome, seconds: (Date.now() - started) / 1000 });
  });
}

scenario('1. 50 clicks in 200 ms', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  // 50 trusted clicks at the button, sent without waiting for each other (the page counts
  // their pointerdowns, which a disabled button still receives).
  const box = await page.locator('#pay').boundingBox();
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  await Promise.all(Array.from({ length: 50 }, () => page.mouse.click(x, y)));
  const presses = await page.evaluate(() => window.cg.presses);
  assert.equal(presses.length, 50, 'all 50 clicks reached the page');
  const spread = presses[49] - presses[0];
  assert.ok(spread < 1000, `the 50 clicks took ${spread} ms`);
  const { prepayId } = await launched(page);
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  assert.equal((await events(page, 'locked')).length, 1);
  assert.deepEqual(page.problems, []);
  await page.close();
  return { orderNo, outcome: 'paid', note: `50 clicks in ${Math.round(spread)} ms` };
});

scenario('2. Enter held down on the focused button', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').focus();
  // The first `down` is the press, the next ones are auto-repeats (`repeat: true`).
  for (let i = 0; i < 40; i += 1) await page.keyboard.down('Enter');
  await page.keyboard.up('Enter');
  const { prepayId } = await launched(page);
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  assert.equal((await events(page, 'locked')).length, 1);
  assert.equal(await page.locator('#launches').getAttribute('data-count'), '1');
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('3. create reply lost after commit, then retry', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  // The backend commits the attempt and its idempotent reply, then closes the connection.
  await api.addFault({ spec: 'drop-reply', pathPrefix: `/api/orders/${orderNo}/payments`, method: 'POST', times: 2 });
  await page.locator('#pay').click();
  const { prepayId, attemptId } = await launched(page);
  // Both lost replies were used up (by the guard's same-key retries, or the browser's own
  // silent re-send of a request whose kept-alive connection closed).
  const { rules } = await api.faults();
  assert.equal(rules.length, 0, JSON.stringify(rules));
  const sent = await events(page, 'createSent');
  assert.equal(new Set(sent.map((e) => e.key)).size, 1, `one key: ${JSON.stringify(sent)}`);
  assert.equal(sent.filter((e) => e.newKey).length, 1);
  const dump = await api.dump(orderNo);
  assert.equal(dump.idempotencyKeys, 1, JSON.stringify(dump));
  assert.equal(dump.attempts.length, 1, JSON.stringify(dump));
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await api.dump(orderNo)).attempts[0].attemptId ?? attemptId, attemptId);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('4. reload while paying', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  await page.reload();
  await pageReady(page);
  // The reloaded page resumes: it polls the status and never creates.
  await page.locator('#outcome[data-status="busy"]').waitFor();
  await waitFor(async () => (await events(page, 'statusQuery')).length > 0, 'a status query after the reload');
  const { status } = await api.wallet(prepayId, 'confirm');
  assert.equal(status, 200);
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 0, 'no create after the reload');
  assert.equal(await page.locator('#launches').getAttribute('data-count'), '0', 'no launch after the reload');
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('5. two tabs click at once', async () => {
  const { orderNo } = await newOrder();
  const [a, b] = await Promise.all([openPage(orderNo), openPage(orderNo)]);
  await Promise.all([a, b].map((p) => p.locator('#outcome[data-status="ready"]').waitFor()));
  await Promise.all([a.locator('#pay').click(), b.locator('#pay').click()]);
  // Exactly one tab launches the wallet.
  const launchedIn = await waitFor(async () => {
    const counts = await Promise.all([a, b].map((p) => p.evaluate(() => window.cg.launches.length)));
    return counts[0] + counts[1] >= 1 ? counts : null;
  }, 'a launch in one tab');
  const payer = launchedIn[0] ? a : b;
  const other = payer === a ? b : a;
  const { prepayId } = await launched(payer);
  await payInWallet(payer, prepayId);
  await Promise.all([expectOutcome(payer, 'paid'), expectOutcome(other, 'paid')]);
  const sent = [...await events(a, 'createSent'), ...await events(b, 'createSent')];
  assert.equal(sent.length, 1, JSON.stringify(sent));
  assert.equal(await other.evaluate(() => window.cg.launches.length), 0);
  assert.equal((await events(other, 'locked')).length, 1, 'the other tab clicked too');
  await Promise.all([a.close(), b.close()]);
  return { orderNo, outcome: 'paid' };
});

scenario('6. wallet cancel, then pay again', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  const posts = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().includes('/payments')) posts.push(request.url());
  });
  await page.locator('#pay').click();
  const first = await launched(page);
  assert.equal((await api.wallet(first.prepayId, 'cancel')).status, 200);
  await page.evaluate(() => window.cg.settleLaunch('cancelled'));
  await expectOutcome(page, 'cancelled');
  assert.equal(posts.length, 1);
  await page.locator('#pay').click();
  const second = await launched(page, 2);
  assert.equal(second.prepayId, first.prepayId, 'the same prepay is launched again');
  assert.equal(posts.length, 1, `no create call the second time: ${posts}`);
  assert.equal((await events(page, 'prepayReused')).length, 1);
  await payInWallet(page, second.prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await api.stats(orderNo)).prepayCalls, 1);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('7. prepay expired', async () => {
  const { orderNo } = await newOrder();
  const settings = await api.settings();
  await api.putSettings({ prepayTtlMs: 2500, reuseMarginMs: 0 });
  try {
    const page = await openPage(orderNo, { opts: { ...FAST, expiryMarginMs: 300 } });
    await page.locator('#outcome[data-status="ready"]').waitFor();
    await page.locator('#pay').click();
    const old = await launched(page);
    assert.equal((await api.wallet(old.prepayId, 'cancel')).status, 200);
    await page.evaluate(() => window.cg.settleLaunch('cancelled'));
    await expectOutcome(page, 'cancelled');
    // Let the prepay expire, then pay again.
    await new Promise((ok) => setTimeout(ok, 2700));
    await page.locator('#pay').click();
    const fresh = await launched(page, 2);
    assert.notEqual(fresh.attemptId, old.attemptId, 'a new merchant payment number');
    assert.notEqual(fresh.prepayId, old.prepayId);
    // The old attempt was closed at the provider before the new one existed.
    const dump = await api.dump(orderNo);
    const oldTx = dump.providerTransactions.find((t) => t.outTradeNo === old.attemptId);
    assert.equal(oldTx?.tradeState, 'CLOSED', JSON.stringify(dump));
    assert.ok((await api.stats(orderNo)).closes >= 1);
    // A confirm on the old prepay is refused; the new one pays.
    const refused = await api.wallet(old.prepayId, 'confirm');
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    await payInWallet(page, fresh.prepayId);
    await expectOutcome(page, 'paid');
    const stats = await api.stats(orderNo);
    assert.ok(stats.paymentsRefused >= 1, JSON.stringify(stats));
    await page.close();
  } finally {
    await api.putSettings(settings);
  }
  return { orderNo, outcome: 'paid', attempts: 2 };
});

scenario('8. notify lost', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  const { status } = await api.wallet(prepayId, 'confirm', { 'X-Fault': 'notify=lost' });
  assert.equal(status, 200);
  await page.evaluate(() => window.cg.settleLaunch('ok'));
  await expectOutcome(page, 'paid');
  const stats = await api.stats(orderNo);
  assert.equal(stats.notifiesReceived, 0, JSON.stringify(stats));
  assert.ok(stats.queries >= 1, `the active query found it: ${JSON.stringify(stats)}`);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('9a. the backend answers 500 for a while', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo, { opts: { ...FAST, poll: { ...FAST.poll, maxDurationMs: 4000 } } });
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  await api.addFault({ spec: 'status=500', pathPrefix: `/api/orders/${orderNo}` });
  // The buyer pays while the merchant's API is down.
  assert.equal((await api.wallet(prepayId, 'confirm')).status, 200);
  await page.evaluate(() => window.cg.settleLaunch('ok'));
  await expectOutcome(page, 'pending');
  assert.equal(await page.locator('#pay').isDisabled(), false, 'pending offers "check status"');
  await api.clearFaults();
  // "Check status": the same button asks again; the guard finds the payment, creates nothing.
  await page.locator('#pay').click();
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  assert.equal(await page.locator('#launches').getAttribute('data-count'), '1');
  await page.close();
  return { orderNo, outcome: 'pending→paid' };
});

scenario('9b. every create reply lost for a while', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  // The backend creates the attempt and commits its reply, but no reply ever reaches the page.
  await api.addFault({ spec: 'drop-reply', pathPrefix: `/api/orders/${orderNo}/payments`, method: 'POST' });
  await page.locator('#pay').click();
  await expectOutcome(page, 'pending');
  const sent = await events(page, 'createSent');
  assert.equal(new Set(sent.map((e) => e.key)).size, 1, `only the same key was re-sent: ${JSON.stringify(sent)}`);
  assert.equal(await page.locator('#launches').getAttribute('data-count'), '0');
  await api.clearFaults();
  // Back: the same key once more gets the stored reply, the attempt created the first time.
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  const keys = new Set((await events(page, 'createSent')).map((e) => e.key));
  assert.equal(keys.size, 1, 'still the one key');
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await api.dump(orderNo)).idempotencyKeys, 1);
  await page.close();
  return { orderNo, outcome: 'pending→paid' };
});

scenario('9c. the backend is unreachable when the buyer clicks', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo, { opts: { ...FAST, poll: { ...FAST.poll, maxDurationMs: 3000 } } });
  await page.locator('#outcome[data-status="ready"]').waitFor();
  // Down from the click until the guard gives up (pending: it cannot ask whether an attempt
  // exists, so it creates nothing), then up on the same file and port.
  const { port } = server;
  await server.stop();
  try {
    await page.locator('#pay').click();
    await expectOutcome(page, 'pending');
  } finally {
    server = await startBackend(`127.0.0.1:${port}`);
  }
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  assert.equal(new Set((await events(page, 'createSent')).map((e) => e.key)).size, 1, 'one key');
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  await page.close();
  return { orderNo, outcome: 'pending→paid' };
});

scenario('10a. localStorage disabled', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo, {
    init: () => {
      // What a browser with site data blocked does: reading `localStorage` throws.
      Object.defineProperty(window, 'localStorage', {
        get() {
          throw new DOMException('Access is denied for this document.', 'SecurityError');
        },
      });
    },
  });
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  await page.locator('#warning').waitFor({ state: 'visible' });
  assert.match(await page.locator('#warning').textContent(), /memory/);
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('10b. localStorage full', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo, {
    init: () => {
      Storage.prototype.setItem = function setItem() {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      };
    },
  });
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  await page.locator('#warning').waitFor({ state: 'visible' });
  assert.match(await page.locator('#warning').textContent(), /memory/);
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

for (const [letter, variant, forge] of [
  ['a', 'corrupt', () => '{"v": 1, "orderNo": '],
  ['b', 'foreign', (r) => JSON.stringify({ ...r, scope: 'another-buyer' })],
  ['c', 'future-version', (r) => JSON.stringify({ ...r, v: 7 })],
]) {
  scenario(`11${letter}. a ${variant} record in storage`, async () => {
    const { orderNo, fingerprint } = await newOrder();
    const page = await openPage(orderNo);
    await page.locator('#outcome[data-status="ready"]').waitFor();
    // A ready prepay that was never issued, for this very order: launching it would be wrong.
    const now = Date.now();
    const record = {
      v: 1, orderNo, scope: 'buyer-1', fingerprint, key: '0123456789abcdef0123456789abcdef',
      attemptId: `${orderNo}xforged`, prepay: { prepayId: 'wxforged' },
      createdAt: now, expiresAt: now + 3_600_000, updatedAt: now, state: 'ready',
    };
    await page.evaluate(([key, value]) => localStorage.setItem(key, value),
      [`checkout-guard/v1/e2e/buyer-1/${orderNo}`, forge(record)]);
    await page.locator('#pay').click();
    const { prepayId } = await launched(page);
    assert.notEqual(prepayId, 'wxforged');
    assert.equal((await events(page, 'recordRejected')).length, 1, JSON.stringify(await events(page)));
    await payInWallet(page, prepayId);
    await expectOutcome(page, 'paid');
    await page.close();
    return { orderNo, outcome: 'paid' };
  });
}

/** Makes `Date.now` (the guard's clock) run `window.clockOffset` ms off the real time. */
function skewableClock() {
  const realNow = Date.now.bind(Date);
  window.clockOffset = 0;
  Date.now = () => realNow() + window.clockOffset;
}

scenario('12a. the clock jumps +1 hour mid-payment', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo, { init: skewableClock });
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  await page.evaluate(() => { window.clockOffset = 3_600_000; });
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('12b. the clock jumps -1 hour mid-payment, then pay again', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo, { init: skewableClock });
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const first = await launched(page);
  await page.evaluate(() => { window.clockOffset = -3_600_000; });
  assert.equal((await api.wallet(first.prepayId, 'cancel')).status, 200);
  await page.evaluate(() => window.cg.settleLaunch('cancelled'));
  await expectOutcome(page, 'cancelled');
  // The stored record now looks an hour in the future: not trusted alone, but the server still
  // has the live attempt, so paying again launches the same prepay.
  await page.locator('#pay').click();
  const second = await launched(page, 2);
  assert.equal(second.prepayId, first.prepayId);
  await payInWallet(page, second.prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('13. the amount changes for the same business order', async () => {
  const { orderNo } = await newOrder(1999);
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const old = await launched(page);
  assert.equal((await api.wallet(old.prepayId, 'cancel')).status, 200);
  await page.evaluate(() => window.cg.settleLaunch('cancelled'));
  await expectOutcome(page, 'cancelled');
  // The buyer adds a second tin: same order number, new content.
  await api.updateOrder(orderNo, { amount: 3998, currency: 'CNY', items: [{ sku: 'tea', qty: 2 }] });
  await page.evaluate(() => window.cg.refresh());
  const clicked = Date.now();
  await page.locator('#pay').click();
  const fresh = await launched(page, 2);
  // The deciding status query is answered at once, never held as a long poll.
  assert.ok(Date.now() - clicked < 5000, `the new attempt took ${Date.now() - clicked} ms to launch`);
  assert.notEqual(fresh.prepayId, old.prepayId, 'the old prepay is not reused for the new amount');
  assert.notEqual(fresh.attemptId, old.attemptId);
  assert.equal((await events(page, 'prepayReused')).length, 0);
  // The old prepay (the old amount) can no longer be paid.
  const refused = await api.wallet(old.prepayId, 'confirm');
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  await payInWallet(page, fresh.prepayId);
  await expectOutcome(page, 'paid');
  const dump = await api.dump(orderNo);
  const paid = dump.providerTransactions.filter((t) => t.tradeState === 'SUCCESS');
  assert.equal(paid.length, 1, JSON.stringify(dump));
  assert.equal(paid[0].amount, 3998, JSON.stringify(paid));
  await page.close();
  return { orderNo, outcome: 'paid', attempts: 2 };
});

scenario('14. the backend restarts mid-payment', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  await page.evaluate(() => window.cg.settleLaunch('ok'));
  await waitFor(async () => (await events(page, 'statusQuery')).length > 0, 'status polling');
  // Down for a second and a half while the page polls, then up again on the same file and port.
  await server.stop();
  await new Promise((ok) => setTimeout(ok, 1500));
  server = await startBackend(`127.0.0.1:${server.port}`);
  assert.equal(server.url, api.base);
  assert.equal((await api.wallet(prepayId, 'confirm')).status, 200);
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('15. paid in the wallet after the page was closed, then back', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  await page.close();
  assert.equal((await api.wallet(prepayId, 'confirm')).status, 200);
  const back = await openPage(orderNo);
  await expectOutcome(back, 'paid');
  assert.ok(await back.locator('#pay').isDisabled(), 'a paid order cannot be paid again');
  assert.equal((await events(back, 'createSent')).length, 0);
  assert.equal(await back.locator('#launches').getAttribute('data-count'), '0');
  await back.close();
  return { orderNo, outcome: 'paid' };
});

// Beyond the list: more ways to get a second payment, each the same assertions.

scenario('16. the create is slower than the guard\'s time-out', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo, { opts: { ...FAST, requestTimeoutMs: 1000 } });
  await page.locator('#outcome[data-status="ready"]').waitFor();
  // The provider call takes 2.5 s: the guard gives up on the request after 1 s and re-sends the
  // same key. Aborting the request ends its handler at the backend before the provider call
  // returned, so the attempt it had written stays `creating`, and the re-send closes it (at the
  // provider too, when it got that far) before minting the next merchant payment number.
  await api.addFault({ spec: 'provider-latency=2500', pathPrefix: `/api/orders/${orderNo}/payments`, method: 'POST', times: 1 });
  await page.locator('#pay').click();
  const { prepayId, attemptId } = await launched(page);
  const sent = await events(page, 'createSent');
  assert.ok(sent.length >= 2, `the same key was re-sent: ${JSON.stringify(sent)}`);
  assert.equal(new Set(sent.map((e) => e.key)).size, 1, JSON.stringify(sent));
  const attempts = await othersClosed(orderNo, attemptId);
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  await page.close();
  return { orderNo, outcome: 'paid', attempts };
});

/**
 * Every attempt of `orderNo` but `live` is closed, at the backend and at the provider (so none
 * can ever be charged); resolves with the number of attempts (at most 2).
 */
async function othersClosed(orderNo, live) {
  const dump = await api.dump(orderNo);
  const others = dump.attempts.filter((a) => a.attemptId !== live);
  assert.ok(others.every((a) => a.state === 'closed'), JSON.stringify(dump.attempts));
  const orphans = dump.providerTransactions.filter((t) => t.outTradeNo !== live);
  assert.ok(orphans.every((t) => t.tradeState === 'CLOSED'), JSON.stringify(dump.providerTransactions));
  assert.ok(dump.attempts.length <= 2, JSON.stringify(dump.attempts));
  return dump.attempts.length;
}

scenario('17. the provider\'s reply to the create is lost', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  // The provider made a prepay the merchant never heard of: the next create closes it at the
  // provider first and mints a new merchant payment number (it can never be charged).
  await api.addFault({ spec: 'provider=lost', pathPrefix: `/api/orders/${orderNo}/payments`, method: 'POST', times: 1 });
  await page.locator('#pay').click();
  const { prepayId, attemptId } = await launched(page);
  const attempts = await othersClosed(orderNo, attemptId);
  await payInWallet(page, prepayId);
  await expectOutcome(page, 'paid');
  await page.close();
  return { orderNo, outcome: 'paid', attempts };
});

scenario('18. the paying tab is closed, the waiting tab takes over', async () => {
  const { orderNo } = await newOrder();
  const a = await openPage(orderNo);
  await a.locator('#outcome[data-status="ready"]').waitFor();
  await a.locator('#pay').click();
  const { prepayId } = await launched(a);
  const b = await openPage(orderNo);
  await b.locator('#pay').click();
  await waitFor(async () => (await events(b, 'waitingForOtherTab')).length > 0, 'the second tab to wait');
  // The paying tab goes away mid-payment (its lock with it); the buyer pays the wallet it opened.
  await a.close();
  const relaunched = await launched(b);
  assert.equal(relaunched.prepayId, prepayId, 'the waiting tab launches the same prepay');
  await payInWallet(b, prepayId);
  await expectOutcome(b, 'paid');
  assert.equal((await events(b, 'createSent')).length, 0);
  await b.close();
  return { orderNo, outcome: 'paid' };
});

scenario('19. storage wiped mid-payment, pay again', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const first = await launched(page);
  await page.evaluate(() => window.cg.settleLaunch('cancelled'));
  await expectOutcome(page, 'cancelled');
  // The buyer clears the site's data and opens the checkout again.
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await pageReady(page);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const second = await launched(page);
  assert.equal(second.prepayId, first.prepayId, 'the live attempt is launched again');
  await payInWallet(page, second.prepayId);
  await expectOutcome(page, 'paid');
  assert.equal((await api.stats(orderNo)).prepayCalls, 1);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('20. cancelled here, paid on another device, pay again', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  await page.evaluate(() => window.cg.settleLaunch('cancelled'));
  await expectOutcome(page, 'cancelled');
  // The buyer scans the same QR code with a phone and pays there; the notify is lost.
  assert.equal((await api.wallet(prepayId, 'confirm', { 'X-Fault': 'notify=lost' })).status, 200);
  // Paying again here launches the stored prepay (no create); the wallet shows it paid and
  // the buyer comes back: the status says paid.
  await page.locator('#pay').click();
  const again = await launched(page, 2);
  assert.equal(again.prepayId, prepayId);
  const refused = await api.wallet(prepayId, 'confirm');
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  await page.evaluate(() => window.cg.settleLaunch('ok'));
  await expectOutcome(page, 'paid');
  assert.equal((await events(page, 'createSent')).length, 1);
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('21. the notify arrives twice', async () => {
  const { orderNo } = await newOrder();
  const page = await openPage(orderNo);
  await page.locator('#outcome[data-status="ready"]').waitFor();
  await page.locator('#pay').click();
  const { prepayId } = await launched(page);
  assert.equal((await api.wallet(prepayId, 'confirm', { 'X-Fault': 'notify=dup' })).status, 200);
  await page.evaluate(() => window.cg.settleLaunch('ok'));
  await expectOutcome(page, 'paid');
  await waitFor(async () => (await api.stats(orderNo)).notifiesDuplicate >= 1, 'the second notify');
  await page.close();
  return { orderNo, outcome: 'paid' };
});

scenario('22. a second tab opens the order after it was paid in the first', async () => {
  const { orderNo } = await newOrder();
  const a = await openPage(orderNo);
  await a.locator('#outcome[data-status="ready"]').waitFor();
  await a.locator('#pay').click();
  const { prepayId } = await launched(a);
  await payInWallet(a, prepayId);
  await expectOutcome(a, 'paid');
  const b = await openPage(orderNo);
  await expectOutcome(b, 'paid');
  assert.ok(await b.locator('#pay').isDisabled());
  assert.equal((await events(b, 'createSent')).length, 0);
  // Even a pay() called by script in that tab answers paid without a request.
  const outcome = await b.evaluate(async () => {
    const { orderNo: no, content } = window.cg.order;
    return (await window.cg.guard.pay({ orderNo: no, content })).status;
  });
  assert.equal(outcome, 'paid');
  assert.equal((await events(b, 'createSent')).length, 0);
  await Promise.all([a.close(), b.close()]);
  return { orderNo, outcome: 'paid' };
});

scenario('23. two tabs: cancelled, then both pay again at once', async () => {
  const { orderNo } = await newOrder();
  const [a, b] = await Promise.all([openPage(orderNo), openPage(orderNo)]);
  await Promise.all([a, b].map((p) => p.locator('#outcome[data-status="ready"]').waitFor()));
  await a.locator('#pay').click();
  const { prepayId } = await launched(a);
  await b.locator('#pay').click();
  await a.evaluate(() => window.cg.settleLaunch('cancelled'));
  // The waiting tab hears the outcome (or takes the lock and reuses the prepay itself).
  await expectOutcome(a, 'cancelled');
  const launchesBefore = async () => (await Promise.all([a, b].map((p) => p.evaluate(() => window.cg.launches.length))));
  await waitFor(async () => {
    const status = await b.locator('#outcome').getAttribute('data-status');
    return status === 'cancelled' || (await launchesBefore())[1] > 0;
  }, 'the second tab to settle');
  await b.evaluate(() => window.cg.settleLaunch('cancelled'));
  await b.locator('#outcome[data-status="cancelled"]').waitFor();
  const [la, lb] = await launchesBefore();
  await Promise.all([a.locator('#pay').click(), b.locator('#pay').click()]);
  await waitFor(async () => {
    const [na, nb] = await launchesBefore();
    return na + nb > la + lb;
  }, 'a launch after paying again');
  const all = [...await a.evaluate(() => window.cg.launches), ...await b.evaluate(() => window.cg.launches)];
  assert.ok(all.every((l) => l.prepayId === prepayId), `only the one prepay is ever launched: ${JSON.stringify(all)}`);
  assert.equal((await api.wallet(prepayId, 'confirm')).status, 200);
  await Promise.all([a, b].map((p) => p.evaluate(() => window.cg.settleLaunch('ok'))));
  await Promise.all([expectOutcome(a, 'paid'), expectOutcome(b, 'paid')]);
  const sent = [...await events(a, 'createSent'), ...await events(b, 'createSent')];
  assert.equal(sent.length, 1, JSON.stringify(sent));
  await Promise.all([a.close(), b.close()]);
  return { orderNo, outcome: 'paid' };
});
