// Shared helpers of the browser suites in tests/e2e/: start the reference backend binary on a
// free loopback port (or a given one, for restarts), headless Chromium through playwright-core,
// and the backend's admin, order and simulated-wallet calls.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
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
export async function startServer({ listen = '127.0.0.1:0', db = ':memory:', www = 'www', args = [] } = {}) {
  assert.ok(existsSync(SERVER_BIN), `no server binary at ${SERVER_BIN}: run \`cargo build -p checkout-guard-server\` or set CG_SERVER_BIN`);
  assert.ok(existsSync(resolve(ROOT, PKG_DIR, 'gen/web/checkout_guard_bg.wasm')), 'the package is not built: run `cargo xtask build`');
  const child = spawn(SERVER_BIN, ['--profile', 'demo', '--listen', listen, '--db', db, '--www', www, '--pkg', PKG_DIR, ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
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
