// Every common stack (issue 16): one fresh app per folder here, each installed with `npm ci`
// from its own lockfile with the packed tarball of pkg/, built, served and driven against the
// reference backend. Browser stacks run in headless Chromium: fifty clicks on Pay make one
// create at the backend. The Node and edge stacks pay one order twenty times at once: one
// create. The React and Vue stacks (the package's `checkout-guard/react` and `/vue` bindings,
// React in StrictMode) pay instead of cancelling: fifty clicks make one create, the button is
// disabled while paying and shows "Paid" once the wallet confirmed, one guard is made and it is
// freed when the checkout unmounts. Folder per stack, see STACKS; `shared/` holds the page
// (`checkout.js`), the framework stacks' wallet (`wallet.js`) and the Node payer (`pay.cjs`)
// copied into every app.
//
// Run by `cargo xtask ci` after the packaging test, with the server binary in CG_SERVER_BIN. By
// hand: `cargo xtask build && cargo build -p checkout-guard-server && node --test
// tests/stacks/`; `CG_STACKS=vite6,next16` runs some only. Each app is copied into a temp
// folder (outside this repository, so nothing resolves through its node_modules), removed at
// the end. `CG_STACKS_UPDATE_LOCKS=1` runs `npm install` instead of `npm ci` and writes each
// app's new package-lock.json back here (after changing a version in its package.json).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, ROOT, backend, freePort, startServer, waitFor } from '../e2e/harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const UPDATE_LOCKS = Boolean(process.env.CG_STACKS_UPDATE_LOCKS);

/**
 * `serve`: a static build the backend serves (from that folder of the app); `start`: the app's
 * own server (`npm start`, PORT in the environment) on another origin than the backend's;
 * `run`: Node scripts, API in the environment. `pays`: the wallet confirms (shared/wallet.js);
 * `mounts`: how often the checkout mounts (React's StrictMode, in its development build: twice).
 */
const STACKS = [
  { name: 'react', serve: 'dist', pays: { mounts: 2 } },
  { name: 'vue', serve: 'dist', pays: { mounts: 1 } },
  { name: 'vite5', serve: 'dist' },
  { name: 'vite6', serve: 'dist' },
  { name: 'vite8', serve: 'dist' },
  { name: 'webpack5', serve: 'dist' },
  // `checkout-guard/bundler` through webpack's WebAssembly ES-module integration.
  { name: 'webpack5-wasm', serve: 'dist' },
  { name: 'script-module', serve: '.' },
  { name: 'iife', serve: 'dist' },
  { name: 'vite-ssr', start: true },
  { name: 'next16', start: true },
  { name: 'node', run: ['check.cjs', 'check.mjs'] },
  // Jest 30's CommonJS test runner, with its own module loader (not Node's `require`).
  { name: 'jest', run: ['node_modules/jest/bin/jest.js'] },
  { name: 'edge', run: ['check.mjs'] },
];
const ONLY = process.env.CG_STACKS?.split(',');
const NPM_QUIET = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

let work;
let browser;

/** Runs a command to completion; a failure carries its output. */
function sh(command, args, cwd, env = {}) {
  return new Promise((ok, fail) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { out += chunk; });
    child.once('error', fail);
    child.once('exit', (code, signal) => {
      if (code === 0) ok(out);
      else fail(new Error(`\`${command} ${args.join(' ')}\` in ${cwd} failed (${code ?? signal}):\n${out}`));
    });
  });
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'pkg/gen/web/checkout_guard_bg.wasm')), 'the package is not built: run `cargo xtask build`');
  work = mkdtempSync(join(tmpdir(), 'checkout-guard-stacks-'));
  const [packed] = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', work], join(ROOT, 'pkg')));
  // Every app depends on "file:../checkout-guard.tgz".
  copyFileSync(join(work, packed.filename), join(work, 'checkout-guard.tgz'));
});

after(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The app copied out of the repository with the shared files, installed from its lockfile. */
async function install(name) {
  const app = join(work, name);
  cpSync(join(HERE, name), app, {
    recursive: true,
    filter: (path) => !/[\\/](node_modules|dist|\.next)$/.test(path),
  });
  copyFileSync(join(HERE, 'shared/checkout.js'), join(app, 'checkout.js'));
  copyFileSync(join(HERE, 'shared/pay.cjs'), join(app, 'pay.cjs'));
  copyFileSync(join(HERE, 'shared/wallet.js'), join(app, 'wallet.js'));
  if (UPDATE_LOCKS) {
    await sh('npm', ['install', ...NPM_QUIET], app);
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8'));
    // The tarball is new at every build: its checksum is not part of the lock.
    delete lock.packages['node_modules/checkout-guard'].integrity;
    writeFileSync(join(HERE, name, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
    rmSync(join(app, 'node_modules'), { recursive: true, force: true });
  }
  await sh('npm', ['ci', ...NPM_QUIET], app);
  return app;
}

/** Starts the app's own server (`npm start`) on `port`; resolves once it answers. */
async function startApp(app, port) {
  const child = spawn('npm', ['start'], {
    cwd: app,
    env: { ...process.env, PORT: String(port), NEXT_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout.on('data', (chunk) => { log += chunk; });
  child.stderr.on('data', (chunk) => { log += chunk; });
  const exited = new Promise((done) => child.once('exit', done));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    // npm's child (node, next) runs in the group started here: end the group.
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGTERM');
    await exited;
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) assert.fail(`the app server exited (${child.exitCode}):\n${log}`);
      return fetch(url).then((reply) => reply.ok, () => false);
    }, `the app server on ${url}:\n${log}`, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop, log: () => log };
}

for (const stack of STACKS) {
  test(stack.name, { skip: ONLY && !ONLY.includes(stack.name) }, async (t) => {
    const started = Date.now();
    const app = await install(stack.name);
    const installed = Date.now();
    await sh('npm', ['run', 'build'], app, { NEXT_TELEMETRY_DISABLED: '1' });
    const built = Date.now();
    if (stack.run) await runNode(t, app, stack.run);
    else await runBrowser(t, app, stack);
    t.diagnostic(`${stack.name}: npm ci ${((installed - started) / 1000).toFixed(1)} s, build ${((built - installed) / 1000).toFixed(1)} s, run ${((Date.now() - built) / 1000).toFixed(1)} s`);
  });
}

/** The Node scripts against the backend: each submits one order and pays it twenty times. */
async function runNode(t, app, scripts) {
  const server = await startServer({ www: app });
  try {
    const api = backend(server.url);
    for (const script of scripts) {
      const out = await sh('node', [script], app, { API: server.url });
      const orderNo = /order ([^\s:]+)/.exec(out)?.[1];
      assert.ok(orderNo, out);
      const stats = await api.stats(orderNo);
      assert.equal(stats.attemptsCreated, 1, JSON.stringify(stats));
      assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
      t.diagnostic(`${script}: ${out.trim()}`);
    }
  } finally {
    await server.stop();
  }
}

/** The app in Chromium: fifty clicks make one create, paying again reuses the prepay. */
async function runBrowser(t, app, stack) {
  let appServer;
  let server;
  let context;
  try {
    let url;
    if (stack.start) {
      const port = await freePort();
      server = await startServer({ www: join(work, 'no-www'), args: ['--cors-origin', `http://127.0.0.1:${port}`] });
      appServer = await startApp(app, port);
      url = `${appServer.url}/?api=${encodeURIComponent(server.url)}`;
    } else {
      server = await startServer({ www: join(app, stack.serve) });
      url = `${server.url}/`;
    }
    browser ??= await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    const creates = [];
    const wasm = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (request.method() === 'POST' && /^\/api\/orders\/[^/]+\/payments$/.test(path)) creates.push(request.url());
    });
    page.on('response', (response) => {
      if (new URL(response.url()).pathname.endsWith('.wasm')) wasm.push(`${response.status()} ${response.url()}`);
      if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
    });

    // Fifty clicks within 200 ms: on a machine too busy to deliver them that fast, the page is
    // loaded again (a new order) and the burst repeated, at most three times.
    let orderNo;
    for (let attempt = 1; ; attempt += 1) {
      await page.goto(url);
      await page.locator('#outcome[data-status="ready"]').waitFor({ timeout: 30_000 }).catch((error) => {
        throw new Error(`${error.message}\n${problems.join('\n')}\n${appServer?.log() ?? ''}`);
      });
      orderNo = (await page.locator('#order-no').textContent()).trim();
      const spanMs = await clickFiftyTimes(page);
      if (spanMs < 200) break;
      assert.ok(attempt < 3, `fifty clicks took ${spanMs.toFixed(0)} ms, three times`);
    }
    assert.equal(wasm.length >= 1 && wasm.every((line) => line.startsWith('200 ')), true, `wasm fetched: ${wasm.join(', ')}`);
    const createsFor = () => creates.filter((request) => request.includes(`/${orderNo}/`));
    if (stack.pays) {
      await checkPaid(page, orderNo, backend(server.url), createsFor, stack.pays);
      assert.deepEqual(problems, []);
      t.diagnostic(`${stack.name}: order ${orderNo}, ${wasm.join(', ')}`);
      return;
    }
    await page.locator('#outcome[data-status="cancelled"]').waitFor({ timeout: 20_000 });
    const seen = await page.evaluate(() => window.seen);
    assert.equal(createsFor().length, 1, `create requests: ${creates.join(', ')}`);
    assert.equal(seen.launches.length, 1);
    assert.deepEqual(seen.launches[0].button, { disabled: true, state: 'busy' });
    assert.equal(seen.outcomes.length, 1, JSON.stringify(seen.outcomes));
    assert.equal(seen.outcomes[0].status, 'cancelled');
    assert.deepEqual(seen.errors, []);
    const api = backend(server.url);
    let stats = await api.stats(orderNo);
    assert.equal(stats.attemptsCreated, 1, JSON.stringify(stats));
    assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));

    // Pay again after the cancel: the stored prepay is launched again, still one attempt.
    await page.locator('#pay').click();
    await page.waitForFunction(() => window.seen.outcomes.length === 2, null, { timeout: 20_000 });
    assert.equal(createsFor().length, 1, 'the stored prepay is reused without a create request');
    stats = await api.stats(orderNo);
    assert.equal(stats.attemptsCreated, 1, JSON.stringify(stats));
    assert.deepEqual(problems, []);
    t.diagnostic(`${stack.name}: order ${orderNo}, ${wasm.join(', ')}`);
  } finally {
    await context?.close();
    await appServer?.stop();
    await server?.stop();
  }
}

/**
 * After the fifty clicks on a framework stack's Pay button: one create, disabled while paying,
 * "Paid" (and still disabled) once the wallet confirmed, one guard made (StrictMode's double
 * mount included) and not freed while in use, then freed when the checkout unmounts.
 */
async function checkPaid(page, orderNo, api, createsFor, { mounts }) {
  const pay = page.locator('#pay');
  await page.locator('#outcome[data-status="paid"]').waitFor({ timeout: 20_000 });
  await page.waitForFunction(() => document.querySelector('#pay')?.dataset.checkoutState === 'paid', null, { timeout: 5_000 });
  const seen = await page.evaluate(() => window.seen);
  assert.equal(createsFor().length, 1, 'one create request for fifty clicks');
  assert.equal(seen.launches.length, 1);
  assert.deepEqual(seen.launches[0].button, { disabled: true, state: 'busy' }, 'the button while the wallet is open');
  assert.deepEqual(seen.outcomes.map((outcome) => outcome.status), ['paid']);
  assert.deepEqual(seen.errors, []);
  assert.equal(seen.mounts, mounts, 'the checkout mounted');
  assert.equal(seen.guards, 1, 'one guard made');
  assert.equal(seen.freed, 0, 'no guard freed while mounted');
  assert.equal(await pay.isDisabled(), true, 'a paid order cannot be paid again');
  assert.equal((await pay.textContent()).trim(), 'Paid');
  const stats = await api.stats(orderNo);
  assert.equal(stats.attemptsCreated, 1, JSON.stringify(stats));
  assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
  await page.locator('#close').click();
  await page.waitForFunction(() => window.seen.freed === 1, null, { timeout: 5_000 });
  await pay.waitFor({ state: 'detached' });
}

/**
 * Fifty real (trusted) clicks at the Pay button's centre, sent back to back without waiting
 * for each to be handled; returns the time from the first press the page saw to the last.
 */
async function clickFiftyTimes(page) {
  const box = await page.locator('#pay').boundingBox();
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Input.dispatchMouseEvent', { type: 'mouseMoved', ...at });
  await page.evaluate(() => {
    window.presses = [];
    window.addEventListener('pointerdown', (event) => window.presses.push(event.timeStamp), true);
  });
  await Promise.all(Array.from({ length: 50 }, () => [
    cdp.send('Input.dispatchMouseEvent', { type: 'mousePressed', ...at, button: 'left', clickCount: 1 }),
    cdp.send('Input.dispatchMouseEvent', { type: 'mouseReleased', ...at, button: 'left', clickCount: 1 }),
  ]).flat());
  await cdp.detach();
  const presses = await page.evaluate(() => window.presses);
  assert.equal(presses.length, 50, 'the page saw fifty presses');
  return presses.at(-1) - presses[0];
}
