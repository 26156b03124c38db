// The demo page on the payment center's in-process simulated provider (`cargo xtask demo
// --simulated`), as a visitor uses it, in headless Chromium against the real reference backend:
// 20 rapid clicks on Pay, confirm in the embedded wallet, "paid", and the server's stats show
// one attempt and one charge; then the same with "lost reply after commit" switched on, and a
// cancel followed by "pay again", which reuses the prepay. The default demo, on WeChat Pay API
// v3 and its simulator, is demo-wechatpay.test.mjs (and h5.test.mjs).
//
// Run by `cargo xtask ci` (after the package build), which passes the server binary in
// CG_SERVER_BIN. By hand: `cargo xtask build && cargo build -p checkout-guard-server &&
// node --test tests/e2e/`. Screenshots (desktop and 390 px wide) go to target/screenshots/ or
// CG_SCREENSHOTS.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER_BIN = process.env.CG_SERVER_BIN ?? join(ROOT, 'target/debug/checkout-guard-server');
const SHOTS = process.env.CG_SCREENSHOTS ?? join(ROOT, 'target/screenshots');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let server;
let serverLog = '';
let baseUrl;
let context;
let profile;

/** Starts the server binary on a free loopback port with a throw-away database. */
async function startServer() {
  assert.ok(existsSync(SERVER_BIN), `no server binary at ${SERVER_BIN}: run \`cargo build -p checkout-guard-server\` or set CG_SERVER_BIN`);
  assert.ok(existsSync(join(ROOT, 'pkg/gen/web/checkout_guard_bg.wasm')), 'the package is not built: run `cargo xtask build`');
  server = spawn(SERVER_BIN, [
    '--profile', 'demo', '--listen', '127.0.0.1:0', '--db', ':memory:', '--www', 'www', '--pkg', 'pkg',
    '--notify-delay-ms', '200',
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (chunk) => { serverLog += chunk; });
  const lines = createInterface({ input: server.stdout });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the server did not start:\n${serverLog}`)), 20_000);
    server.once('exit', (code) => fail(new Error(`the server exited (${code}):\n${serverLog}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      ok(/(http:\/\/\S+)/.exec(line)?.[1]);
    });
  });
  assert.ok(url, 'the server printed no URL');
  return url;
}

before(async () => {
  baseUrl = await startServer();
  profile = mkdtempSync(join(tmpdir(), 'checkout-guard-e2e-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: DESKTOP,
  });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (server && server.exitCode === null) {
    const exited = new Promise((ok) => server.once('exit', ok));
    server.kill('SIGTERM');
    await exited;
  }
});

async function adminStats(orderNo) {
  const response = await fetch(`${baseUrl}/admin/stats/${orderNo}`);
  assert.equal(response.status, 200);
  return response.json();
}

/** Opens the demo in a new tab, with page errors and CSP violations collected. */
async function openDemo() {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${baseUrl}/`);
  await page.locator('#outcome:is([data-status="ready"], [data-status="paid"])').waitFor({ timeout: 20_000 });
  return { page, problems };
}

/** A fresh order on the open page. */
async function newOrder(page) {
  const before = await page.locator('#order-no').textContent();
  await page.locator('#new-order').click();
  await waitFor(async () => (await page.locator('#order-no').textContent()) !== before, 'a new order');
  await page.locator('#outcome[data-status="ready"]').waitFor();
  return (await page.locator('#order-no').textContent()).trim();
}

/** 20 clicks as fast as a mouse can, at the Pay button's centre (a locked button ignores them). */
async function hammerPay(page, clicks = 20) {
  const box = await page.locator('#pay').boundingBox();
  for (let i = 0; i < clicks; i += 1) {
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  }
}

async function confirmInWallet(page) {
  // Up to 15 s of same-key retries may come first (the lost-reply scenario).
  await page.frameLocator('#wallet-frame').locator('#confirm').click({ timeout: 30_000 });
}

async function expectPaidOnce(page, orderNo) {
  await page.locator('#outcome[data-status="paid"]').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('#pay').textContent(), 'Paid');
  assert.ok(await page.locator('#pay').isDisabled(), 'a paid order cannot be paid again');
  // The page's own view of the server's stats, then the server itself.
  await page.locator('#stats[data-charges="1"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#stat-charges').textContent(), '1');
  assert.equal(await page.locator('#stat-attempts').textContent(), '1');
  const stats = await adminStats(orderNo);
  assert.equal(stats.charges, 1, JSON.stringify(stats));
  assert.equal(stats.attemptsCreated, 1, JSON.stringify(stats));
  assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
  return stats;
}

async function timeline(page) {
  return page.locator('#timeline').innerText();
}

async function screenshots(page, name, scrollTo = null) {
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: join(SHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  if (scrollTo) await page.locator(scrollTo).scrollIntoViewIfNeeded();
  // What a phone shows at the current scroll position (the wallet scrolls into view when it
  // opens), then the whole page.
  await page.screenshot({ path: join(SHOTS, `${name}-390.png`) });
  await page.screenshot({ path: join(SHOTS, `${name}-390-full.png`), fullPage: true });
  // Nothing may be wider than a phone.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= PHONE.width, `the page is ${overflow} px wide at ${PHONE.width} px`);
  await page.setViewportSize(DESKTOP);
}

test('20 rapid clicks, confirm in the wallet: paid, 1 attempt, 1 charge', async () => {
  const { page, problems } = await openDemo();
  const orderNo = await newOrder(page);
  await screenshots(page, '1-ready');
  await hammerPay(page);
  await page.locator('#pay[data-checkout-state="busy"]').waitFor();
  await screenshots(page, '2-wallet', '#wallet-open');
  await confirmInWallet(page);
  await expectPaidOnce(page, orderNo);
  const log = await timeline(page);
  assert.equal(log.match(/Create sent with a NEW idempotency key/g)?.length, 1, log);
  assert.equal(log.match(/Pay button locked/g)?.length, 1, log);
  assert.match(log, /Outcome: PAID/);
  // The stored record says paid.
  assert.match(await page.locator('#record').textContent(), /"state": "paid"/);
  await screenshots(page, '3-paid', '#insight-title');
  // A reload shows the same order, paid, without asking for a payment again.
  await page.reload();
  await page.locator('#outcome[data-status="paid"]').waitFor({ timeout: 20_000 });
  assert.equal((await page.locator('#order-no').textContent()).trim(), orderNo);
  assert.ok(await page.locator('#pay').isDisabled());
  assert.equal((await adminStats(orderNo)).attemptsCreated, 1);
  assert.deepEqual(problems, []);
  await page.close();
});

test('lost reply after commit: one key, still 1 attempt, 1 charge', async () => {
  const { page, problems } = await openDemo();
  const orderNo = await newOrder(page);
  await page.locator('#fault-lost-reply').check();
  // The toggle installs a global rule for this order's create requests.
  await waitFor(async () => {
    const { rules } = await (await fetch(`${baseUrl}/admin/faults`)).json();
    return rules.some((rule) => rule.spec === 'drop-reply' && rule.pathPrefix.includes(orderNo));
  }, 'the lost-reply rule to be installed');
  await hammerPay(page);
  await confirmInWallet(page);
  await expectPaidOnce(page, orderNo);
  // Paid means a create got its reply, so all 4 lost replies were used up by then (by the
  // browser's own silent re-sends on kept-alive connections, or by the guard's same-key retries).
  await waitFor(async () => !(await page.locator('#fault-lost-reply').isChecked()), 'the toggle to switch off');
  const log = await timeline(page);
  assert.match(log, /Fault used up: Lost reply after commit/, log);
  assert.equal(log.match(/Create sent with a NEW idempotency key/g)?.length, 1, log);
  assert.doesNotMatch(log, /Outcome: (PENDING|FAILED)/, log);
  const dump = await (await fetch(`${baseUrl}/admin/orders/${orderNo}`)).json();
  assert.equal(dump.idempotencyKeys, 1, JSON.stringify(dump));
  assert.equal(dump.attempts.length, 1, JSON.stringify(dump));
  await screenshots(page, '4-lost-reply');
  // The lost replies themselves are logged by the browser; nothing else may be.
  assert.deepEqual(problems.filter((p) => !p.includes('net::ERR_EMPTY_RESPONSE')), []);
  await page.close();
});

test('cancel in the wallet, pay again: the same prepay is launched, 1 attempt, 1 charge', async () => {
  const { page, problems } = await openDemo();
  const orderNo = await newOrder(page);
  await hammerPay(page, 5);
  await page.frameLocator('#wallet-frame').locator('#cancel').click({ timeout: 20_000 });
  await page.locator('#outcome[data-status="cancelled"]').waitFor({ timeout: 20_000 });
  await screenshots(page, '5-cancelled', '#outcome');
  await hammerPay(page, 5);
  await confirmInWallet(page);
  await expectPaidOnce(page, orderNo);
  const log = await timeline(page);
  assert.match(log, /Reusing the stored prepay/, log);
  assert.deepEqual(problems, []);
  await page.close();
});

async function waitFor(check, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}
