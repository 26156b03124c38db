// The JavaScript half of `cargo xtask bench`: start-up in headless Chromium and in Node, the
// click path and the fingerprint in one Chromium page (bench.html), and status polling of the
// real wasm guard (node.cjs, the Node.js entry) against the real reference backend. Prints nothing but
// progress on stderr; writes its numbers as JSON to `--out`.
//
//   node benches/browser/run.mjs --out target/bench-js.json [--quick] [--backend http://127.0.0.1:PORT]
//
// Needs `cargo xtask build` first (pkg/gen/), the root `npm ci`, and /usr/bin/chromium.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('--quick');
const out = option('--out') ?? join(root, 'target/bench-js.json');
const backend = option('--backend');
const log = (...what) => console.error('bench:', ...what);

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** What the start-up pages request, read into the server's memory before the timed loads. */
const STARTUP_FILES = [
  '/benches/browser/startup.html',
  '/benches/browser/empty.mjs',
  '/target/bench-startup/entry.min.js',
  '/target/bench-startup/gen/web/checkout_guard_bg.wasm',
  '/pkg/index.js',
  '/pkg/shell.js',
  '/pkg/errors.js',
  '/pkg/browser.js',
  '/pkg/platform.js',
  '/pkg/button.js',
  '/pkg/canonical.js',
  '/pkg/guard.js',
  '/pkg/core.js',
  '/pkg/load.js',
  '/pkg/gen/web/checkout_guard_bg.wasm',
];

function timeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))];
};

async function browserBenches(results) {
  const site = await serve(root);
  const userDataDir = mkdtempSync(join(tmpdir(), 'cg-bench-'));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    results.chromium = browser.version();
    // Start-up: a fresh context (empty cache, no compiled-code cache) per page load, of the
    // package's modules as published and of the entry bundled as an app ships it.
    bundleEntry();
    await site.warm(STARTUP_FILES);
    const loads = quick ? 3 : 20;
    for (const [key, query] of [['startupChromium', ''], ['startupChromiumBundled', '?entry=bundled']]) {
      const runs = [];
      for (let i = 0; i < loads; i++) {
        const context = await browser.newContext();
        const page = await context.newPage();
        // The page reports on its console when it is done: nothing of Playwright's runs in the
        // page during the timed load (`waitForFunction` would inject its script there and poll
        // every animation frame, on the main thread the load is timed on).
        const reported = new Promise((resolve, reject) => {
          page.on('console', (message) => {
            const text = message.text();
            if (text.startsWith('startup ')) resolve(JSON.parse(text.slice('startup '.length)));
          });
          page.on('pageerror', reject);
        });
        await page.goto(`${site.url}/benches/browser/startup.html${query}`, { waitUntil: 'commit' });
        runs.push(await timeout(reported, 30_000, 'startup.html did not report'));
        await context.close();
      }
      results[key] = {
        loads,
        firstRequestMs: median(runs.map((r) => r.firstRequestMs)),
        requestFloorMs: median(runs.map((r) => r.requestFloorMs)),
        floorParts: Object.fromEntries(
          ['beforeFetchMs', 'sendMs', 'firstByteMs', 'lastByteMs', 'afterMs'].map((part) => [
            part,
            median(runs.map((r) => r.floorParts?.[part]).filter((v) => typeof v === 'number')) ?? null,
          ]),
        ),
        importMs: median(runs.map((r) => r.importMs)),
        wasmMs: median(runs.map((r) => r.wasmMs)),
        constructMs: median(runs.map((r) => r.constructMs)),
        totalMs: median(runs.map((r) => r.totalMs)),
        jsArrivedMs: median(runs.map((r) => r.jsArrivedMs)),
        wasmFetchMs: median(runs.map((r) => r.wasmFetchMs)),
        sinceNavigationMs: median(runs.map((r) => r.sinceNavigationMs)),
      };
      log(`start-up (Chromium${query ? ', bundled' : ''})`, JSON.stringify(results[key]));
    }

    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => log('page error:', e.message));
    await page.goto(`${site.url}/benches/browser/bench.html`);
    await page.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
    results.clickPath = await page.evaluate((q) => window.bench.clickPath({ quick: q }), quick);
    log('click path', JSON.stringify(results.clickPath));
    results.fingerprint = await page.evaluate((q) => window.bench.fingerprints({ quick: q }), quick);
    for (const row of Object.values(results.fingerprint)) delete row.results;
    log('fingerprint', JSON.stringify(results.fingerprint));
    await context.close();
  } finally {
    await browser.close();
    await site.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

/** pkg/index.js bundled and minified by esbuild (as the size figure measures it), the wasm where it looks. */
function bundleEntry() {
  const dir = join(root, 'target/bench-startup');
  mkdirSync(dir, { recursive: true });
  const esbuild = join(root, 'node_modules/.bin/esbuild');
  const built = spawnSync(esbuild, ['pkg/index.js', '--bundle', '--minify', '--format=esm', '--platform=browser', '--log-level=warning', `--outfile=${join(dir, 'entry.min.js')}`], { cwd: root, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`esbuild failed: ${built.stderr}`);
  // Where the bundle's `new URL('./gen/web/checkout_guard_bg.wasm', import.meta.url)` finds it
  // (esbuild leaves the URL as written, relative to the bundle).
  mkdirSync(join(dir, 'gen/web'), { recursive: true });
  copyFileSync(join(root, 'pkg/gen/web/checkout_guard_bg.wasm'), join(dir, 'gen/web/checkout_guard_bg.wasm'));
}

function nodeStartup(results) {
  const runs = [];
  const count = quick ? 3 : 20;
  for (let i = 0; i < count; i++) {
    const child = spawnSync(process.execPath, [join(here, 'startup-node.cjs')], { encoding: 'utf8', timeout: 30_000 });
    if (child.status !== 0) throw new Error(`startup-node.cjs failed: ${child.stderr}`);
    runs.push(JSON.parse(child.stdout));
  }
  results.startupNode = {
    runs: count,
    node: process.version,
    requireMs: median(runs.map((r) => r.requireMs)),
    constructMs: median(runs.map((r) => r.constructMs)),
    totalMs: median(runs.map((r) => r.totalMs)),
  };
  log('start-up (Node)', JSON.stringify(results.startupNode));
}

/** splitmix64, as benches/polling.rs: repeatable delays. */
function rng(seed) {
  let state = BigInt(seed);
  const mask = (1n << 64n) - 1n;
  const next = () => {
    state = (state + 0x9e3779b97f4a7c15n) & mask;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
    return z ^ (z >> 31n);
  };
  const unit = () => Number(next() >> 11n) / 2 ** 53;
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(unit(), Number.MIN_VALUE))) * Math.cos(2 * Math.PI * unit());
  return { unit, normal };
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/**
 * Status polling against the real backend: node.cjs, the Node.js entry of the guard, the reference
 * server with its defaults (notify 1 s after the confirm, active provider query at most every
 * 3 s), buyers confirming in the simulated wallet after D, D lognormal (median 20 s, sigma 0.8,
 * clamped to 3–600 s) scaled by 1/10 to keep the run short. Counts the status requests each
 * payment sent and the time from the wallet's confirm to `pay()` resolving `paid`.
 */
async function realBackend(results) {
  const require = createRequire(import.meta.url);
  const { CheckoutGuard } = require('../../pkg/node.cjs');
  const payments = quick ? 3 : 20;
  const scale = 0.1;
  const content = { amount: 1999, currency: 'CNY', items: [{ sku: 'tea', qty: 1 }] };
  let namespace = 0;

  async function onePayment(flow, longPollSecs, delayMs) {
    let statusRequests = 0;
    const counted = (url, init) => {
      if ((init?.method ?? 'GET') === 'GET') statusRequests += 1;
      return fetch(new URL(url, backend), init);
    };
    const created = await (await fetch(`${backend}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content }) })).json();
    let confirmedAt;
    const confirm = async (prepay) => {
      const reply = await fetch(`${backend}/sim/wallet/${prepay.prepayId}/confirm`, { method: 'POST', headers: { accept: 'application/json' } });
      if (!reply.ok) throw new Error(`confirm: ${reply.status} ${await reply.text()}`);
      confirmedAt = performance.now();
    };
    const launch = async (prepay) => {
      if (flow === 'signal') {
        await sleep(delayMs);
        await confirm(prepay);
      } else {
        setTimeout(() => confirm(prepay).catch((e) => log(e.message)), delayMs);
      }
      return 'ok';
    };
    namespace += 1;
    const guard = new CheckoutGuard({ launch, namespace: `bench${namespace}`, storage: 'memory', fetch: counted, poll: { longPollSecs } });
    try {
      const outcome = await guard.pay({ orderNo: created.orderNo, content });
      const detectedAt = performance.now();
      return { status: outcome.status, statusRequests, detectionMs: confirmedAt === undefined ? null : detectedAt - confirmedAt };
    } finally {
      guard.free();
    }
  }

  const runs = [];
  for (const flow of ['signal', 'qr']) {
    for (const longPollSecs of [20, 0]) {
      const random = rng(0x5eed);
      const delays = Array.from({ length: payments }, () => scale * 1000 * Math.min(600, Math.max(3, Math.exp(Math.log(20) + 0.8 * random.normal()))));
      runs.push(
        Promise.all(delays.map((d) => onePayment(flow, longPollSecs, d))).then((list) => {
          const paid = list.filter((r) => r.status === 'paid' && r.detectionMs !== null);
          const detection = paid.map((r) => r.detectionMs / 1000);
          return {
            flow,
            longPollSecs,
            payments,
            paid: paid.length,
            statusRequests: list.reduce((s, r) => s + r.statusRequests, 0) / payments,
            p50s: median(detection),
            p95s: percentile(detection, 95),
            maxDelayS: Math.max(...delays) / 1000,
          };
        }),
      );
    }
  }
  results.pollingReal = { delayScale: scale, rows: await Promise.all(runs) };
  log('polling (real backend)', JSON.stringify(results.pollingReal));
}

const results = { quick };
await browserBenches(results);
nodeStartup(results);
if (backend) await realBackend(results);
writeFileSync(out, JSON.stringify(results, null, 2));
log(`wrote ${out}`);
