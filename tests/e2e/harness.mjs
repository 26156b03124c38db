// Shared helpers of the browser suites in tests/e2e/: start the reference backend binary on a
// free loopback port (or a given one, for restarts), the WeChat Pay simulator binary and the
// backend on it (`--provider wechatpay`), headless Chromium through playwright-core, the
// backend's admin and order calls, and the simulator's wallet, faults and ledger.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SERVER_BIN = process.env.CG_SERVER_BIN ?? join(ROOT, 'target/debug/checkout-guard-server');
/** The package folder served at `/pkg/` (a snapshot of `pkg/` while others rebuild it). */
export const PKG_DIR = process.env.CG_PKG ?? 'pkg';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

/**
 * Starts the server binary: `listen` defaults to a free loopback port, `db` to `:memory:`.
 * Resolves with `{ url, port, stop(), log() }` once it printed its address; `stop()` sends
 * SIGTERM and waits for the exit.
 */
export async function startServer({ listen = '127.0.0.1:0', db = ':memory:', www = 'www', args = [], env = {} } = {}) {
  assert.ok(existsSync(SERVER_BIN), `no server binary at ${SERVER_BIN}: run \`cargo build -p checkout-guard-server\` or set CG_SERVER_BIN`);
  assert.ok(existsSync(resolve(ROOT, PKG_DIR, 'gen/web/checkout_guard_bg.wasm')), 'the package is not built: run `cargo xtask build`');
  const child = spawn(SERVER_BIN, ['--profile', 'demo', '--listen', listen, '--db', db, '--www', www, '--pkg', PKG_DIR, ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the server did not start:\n${log}`)), 20_000);
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`the server exited (${code}):\n${log}`)); });
    lines.once('line', (line) => {
      clearTimeout(timer);
      ok(/(http:\/\/\S+)/.exec(line)?.[1]);
    });
  });
  assert.ok(url, 'the server printed no URL');
  const exited = new Promise((ok) => child.once('exit', ok));
  return {
    url,
    port: Number(new URL(url).port),
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Headless Chromium with a fresh profile: `{ browser, context, close() }`. */
export async function launchBrowser(viewport = { width: 1280, height: 900 }) {
  const profile = mkdtempSync(join(tmpdir(), 'checkout-guard-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * JSON request to the backend at `base`: resolves `{ status, body, headers }` (body `null` if
 * empty, `headers` the reply's `Headers`).
 */
export async function call(base, method, path, body, headers = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

/** The backend's admin, order and wallet calls, bound to one base URL (changeable on restart). */
export function backend(base) {
  const api = {
    base,
    async createOrder(content, orderNo) {
      const { status, body } = await call(api.base, 'POST', '/api/orders', orderNo ? { content, orderNo } : { content });
      assert.equal(status, 201, JSON.stringify(body));
      return body;
    },
    async updateOrder(orderNo, content) {
      const { status, body } = await call(api.base, 'PUT', `/api/orders/${orderNo}`, { content });
      assert.equal(status, 200, JSON.stringify(body));
      return body;
    },
    /** `GET /api/orders/{orderNo}`: the order as the merchant API shows it. */
    async order(orderNo) {
      const { status, body } = await call(api.base, 'GET', `/api/orders/${orderNo}`);
      assert.equal(status, 200, JSON.stringify(body));
      return body;
    },
    async stats(orderNo) {
      const { status, body } = await call(api.base, 'GET', `/admin/stats/${orderNo}`);
      assert.equal(status, 200, JSON.stringify(body));
      return body;
    },
    async dump(orderNo) {
      const { status, body } = await call(api.base, 'GET', `/admin/orders/${orderNo}`);
      assert.equal(status, 200, JSON.stringify(body));
      return body;
    },
    async addFault(rule) {
      const { status, body } = await call(api.base, 'POST', '/admin/faults', rule);
      assert.ok(status < 300, JSON.stringify(body));
    },
    async clearFaults() {
      const { status } = await call(api.base, 'DELETE', '/admin/faults');
      assert.ok(status < 300);
    },
    async settings() {
      return (await call(api.base, 'GET', '/admin/settings')).body;
    },
    async putSettings(changes) {
      const current = await api.settings();
      const { status, body } = await call(api.base, 'PUT', '/admin/settings', { ...current, ...changes });
      assert.ok(status < 300, JSON.stringify(body));
      return body;
    },
    /** `POST /sim/wallet/{prepayId}/{action}` (e.g. with an `X-Fault` header): `{ status, body }`. */
    wallet(prepayId, action, headers = {}) {
      return call(api.base, 'POST', `/sim/wallet/${prepayId}/${action}`, undefined, headers);
    },
    async faults() {
      return (await call(api.base, 'GET', '/admin/faults')).body;
    },
  };
  return api;
}

/** Polls `check` every 100 ms until it returns something truthy, which it resolves with. */
export async function waitFor(check, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

export const WECHATPAY_SIM_BIN = process.env.CG_WECHATPAY_SIM_BIN ?? join(ROOT, 'target/debug/wechatpay-sim');
/** The appid of the WeChat Pay test vectors (a paySign is signed over it). */
const VECTORS_APPID = 'wxd678efh567hg6787';

/**
 * Starts the WeChat Pay simulator binary on a free port with the throw-away keys of the WeChat
 * Pay test vectors (`wechatpay/tests/vectors/`), as `cargo xtask demo --wechatpay` does;
 * `args` adds command-line options (e.g. `--min-time-expire-ms`). Resolves `{ url,
 * stats(orderNo), serverEnv(serverPort), stop(), … }`: `serverEnv` is the payment center's
 * `CG_WECHATPAY_*` settings for it (its notify URL on `serverPort`); `wallet`, `addFault`,
 * `clearFaults`, `faults` and `transactions` are the simulator's wallet and admin calls.
 */
export async function startWechatpaySim({ args = [] } = {}) {
  assert.ok(existsSync(WECHATPAY_SIM_BIN), `no simulator at ${WECHATPAY_SIM_BIN}: run \`cargo build -p checkout-guard-wechatpay-sim\` or set CG_WECHATPAY_SIM_BIN`);
  const vectors = JSON.parse(readFileSync(join(ROOT, 'wechatpay/tests/vectors/wechatpay-v3.json'), 'utf8'));
  const keys = mkdtempSync(join(tmpdir(), 'checkout-guard-wxsim-'));
  const files = {
    merchantPrivate: ['merchant_private.pem', vectors.merchant_private_key_pem],
    merchantPublic: ['merchant_public.pem', vectors.merchant_public_key_pem],
    wechatpayPrivate: ['wechatpay_private.pem', vectors.wechatpay_private_key_pem],
    wechatpayPublic: ['wechatpay_public.pem', vectors.wechatpay_public_key_pem],
    apiv3: ['apiv3.key', vectors.apiv3_key],
  };
  const path = {};
  for (const [name, [file, text]] of Object.entries(files)) {
    path[name] = join(keys, file);
    writeFileSync(path[name], text);
  }
  const child = spawn(WECHATPAY_SIM_BIN, [
    '--listen', '127.0.0.1:0', '--mchid', vectors.mchid, '--merchant-serial', vectors.merchant_serial_no,
    '--merchant-public-key', path.merchantPublic, '--apiv3-key-file', path.apiv3,
    '--wechatpay-private-key', path.wechatpayPrivate, '--wechatpay-serial', vectors.wechatpay_public_key_id,
    '--notify-time-scale', '0.01', ...args,
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the simulator did not start:\n${log}`)), 20_000);
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`the simulator exited (${code}):\n${log}`)); });
    lines.on('line', (line) => {
      log += `${line}\n`;
      const found = /wechatpay-sim listening on (http:\/\/\S+)/.exec(line)?.[1];
      if (found) {
        clearTimeout(timer);
        ok(found);
      }
    });
  });
  const exited = new Promise((ok) => child.once('exit', ok));
  return {
    url,
    log: () => log,
    /** The simulator's own count for a business order (`attach`): charges, prepay calls, … */
    async stats(orderNo) {
      const response = await fetch(`${url}/sim/admin/stats/${encodeURIComponent(orderNo)}`);
      assert.equal(response.status, 200);
      return response.json();
    },
    /**
     * Every transaction of a business order at the simulator, oldest first: `[{ outTradeNo,
     * tradeState, payable, total }]`.
     */
    async transactions(orderNo) {
      const { status, body } = await call(url, 'GET', `/sim/admin/transactions/${encodeURIComponent(orderNo)}`);
      assert.equal(status, 200, JSON.stringify(body));
      return body.transactions;
    },
    /**
     * The buyer in the simulator's wallet: `POST /sim/wallet/{id}/{action}` (`id` a prepay id or
     * a `code_url` token; `action` confirm, cancel or fail; `headers` e.g. an `X-Fault` with
     * `notify=lost`). Resolves `{ status, body }`.
     */
    wallet(id, action, headers = {}) {
      return call(url, 'POST', `/sim/wallet/${encodeURIComponent(id)}/${action}`, undefined, headers);
    },
    /** Installs a global fault rule at the simulator (`{ spec, pathPrefix, method, times }`). */
    async addFault(rule) {
      const { status, body } = await call(url, 'POST', '/sim/admin/faults', rule);
      assert.ok(status < 300, JSON.stringify(body));
    },
    async clearFaults() {
      const { status } = await call(url, 'DELETE', '/sim/admin/faults');
      assert.ok(status < 300);
    },
    /** The global fault rules still installed: `{ rules }`. */
    async faults() {
      return (await call(url, 'GET', '/sim/admin/faults')).body;
    },
    serverEnv(serverPort) {
      return {
        CG_WECHATPAY_BASE_URL: url,
        CG_WECHATPAY_MCHID: vectors.mchid,
        CG_WECHATPAY_APPID: VECTORS_APPID,
        CG_WECHATPAY_MERCHANT_SERIAL: vectors.merchant_serial_no,
        CG_WECHATPAY_MERCHANT_PRIVATE_KEY_FILE: path.merchantPrivate,
        CG_WECHATPAY_PUBLIC_KEY_FILE: path.wechatpayPublic,
        CG_WECHATPAY_PUBLIC_KEY_ID: vectors.wechatpay_public_key_id,
        CG_WECHATPAY_APIV3_KEY_FILE: path.apiv3,
        CG_WECHATPAY_NOTIFY_URL: `http://127.0.0.1:${serverPort}/api/wechatpay/notify`,
      };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(keys, { recursive: true, force: true });
    },
  };
}

/**
 * The page's uncaught errors and console errors, collected into the returned array (a test
 * asserts it stays empty); console messages from `ignoreUrl` (another origin's page) are not
 * the page's own.
 */
export function collectProblems(page, { ignoreUrl } = {}) {
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const { url } = message.location();
    if (ignoreUrl !== undefined && url === ignoreUrl) return;
    if (message.type() === 'error') problems.push(`console: ${message.text()} (${url})`);
  });
  return problems;
}

/** A free loopback port (a server whose notify URL must name its port before it starts). */
export async function freePort() {
  const probe = createServer();
  await new Promise((ok) => probe.listen(0, '127.0.0.1', ok));
  const { port } = probe.address();
  await new Promise((ok) => probe.close(ok));
  return port;
}

/**
 * Starts the server binary on WeChat Pay (`--provider wechatpay`) against `sim` (from
 * `startWechatpaySim`): on `listen` (a restart on the same port), or on a free port; the other
 * options as `startServer`'s.
 */
export async function startWechatpayServer(sim, { listen, args = [], env = {}, ...rest } = {}) {
  const address = listen ?? `127.0.0.1:${await freePort()}`;
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return startServer({
    ...rest,
    listen: address,
    args: ['--provider', 'wechatpay', ...args],
    env: { ...sim.serverEnv(port), ...env },
  });
}
