// The npm package as a user gets it: `npm pack` of pkg/, the tarball installed into a fresh
// Node project (require and import) and into a fresh Vite 7 app, which is built and served by
// the reference backend (page and merchant API on one origin) and driven in headless Chromium:
// fifty clicks on Pay within 200 ms make exactly one create request and one attempt.
//
// Run by `cargo xtask ci` after the package build, which passes the server binary in
// CG_SERVER_BIN. By hand: `cargo xtask build && cargo build -p checkout-guard-server &&
// node --test tests/packaging/`. Everything happens in a temporary folder under the OS temp
// dir (outside this repository, so nothing resolves through its node_modules), removed at the
// end. Only the npm registry is needed, and with a warm npm cache not even that.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PKG = join(ROOT, 'pkg');
const SERVER_BIN = process.env.CG_SERVER_BIN ?? join(ROOT, 'target/debug/checkout-guard-server');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
/** The root's pinned Vite (a 7.x) and its rollup override, which the temp app installs too. */
const ROOT_MANIFEST = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const VITE_VERSION = ROOT_MANIFEST.devDependencies.vite;
const NPM_INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
/** How long the page's `launch` keeps the "wallet" open before the buyer cancels. */
const LAUNCH_MS = 1500;

let work;
let tarball;

/** Runs a command to completion; a failure carries its output. */
function sh(command, args, cwd) {
  return new Promise((ok, fail) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { err += chunk; });
    child.once('error', fail);
    child.once('exit', (code, signal) => {
      if (code === 0) ok(out);
      else fail(new Error(`\`${command} ${args.join(' ')}\` in ${cwd} failed (${code ?? signal}):\n${out}\n${err}`));
    });
  });
}

function writeFiles(dir, files) {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

before(async () => {
  assert.ok(existsSync(join(PKG, 'gen/web/checkout_guard_bg.wasm')), 'the package is not built: run `cargo xtask build`');
  assert.match(VITE_VERSION, /^7\./, 'the root package.json pins Vite 7');
  work = mkdtempSync(join(tmpdir(), 'checkout-guard-packaging-'));
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('npm pack: the tarball holds the package and nothing else', async (t) => {
  const [packed] = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', work], PKG));
  tarball = join(work, packed.filename);
  assert.ok(existsSync(tarball));
  const files = packed.files.map((file) => file.path).sort();
  const manifest = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));
  // Exactly `files` (npm adds package.json and any README or licence).
  const extra = files.filter((path) => !manifest.files.includes(path) && !/^(package\.json|README.*|LICEN[CS]E.*)$/i.test(path));
  assert.deepEqual(extra, [], 'files npm packs beyond package.json `files`');
  const missing = manifest.files.filter((path) => !files.includes(path));
  assert.deepEqual(missing, [], 'files listed in package.json `files` but not packed');
  // Every relative import, require and `new URL(…, import.meta.url)` of a packed module points
  // at a packed file.
  const dangling = [];
  for (const path of files.filter((name) => /\.(c|m)?js$/.test(name))) {
    const text = readFileSync(join(PKG, path), 'utf8');
    const references = /(?:\bfrom|\bimport|\brequire\s*\(|\bnew URL\s*\()\s*['"](\.{1,2}\/[^'"]+)['"]/g;
    for (const [, target] of text.matchAll(references)) {
      const resolved = posix.normalize(posix.join(posix.dirname(path), target));
      if (!files.includes(resolved)) dangling.push(`${path} -> ${target}`);
    }
  }
  assert.deepEqual(dangling, [], 'packed modules refer to files that are not packed');
  t.diagnostic(`${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${files.length} files`);
});

/** A strict TypeScript consumer of the installed package, for `typed.cts` and `typed.mts`. */
const TYPED_CONSUMER = `
import { CheckoutGuard, fingerprint, isCheckoutGuardError, type Outcome } from 'checkout-guard';
const guard: CheckoutGuard = new CheckoutGuard({ launch: async () => 'ok' });
guard.on('outcome', (outcome: Outcome) => void outcome.status);
const hash: string = fingerprint({ amount: 1 });
void hash;
void isCheckoutGuardError(new Error('x'));
// @ts-expect-error launch is required
new CheckoutGuard({});
`;

test('a fresh Node project requires and imports the installed tarball', async () => {
  assert.ok(tarball, 'npm pack ran');
  const project = join(work, 'node-project');
  writeFiles(project, {
    'package.json': JSON.stringify({ name: 'node-consumer', version: '1.0.0', private: true }, null, 2),
    'check.cjs': `
      const assert = require('node:assert/strict');
      const { CheckoutGuard, canonicalize, fingerprint } = require('checkout-guard');
      assert.equal(canonicalize({ b: 2, a: 1.0 }), '{"a":1,"b":2}');
      assert.equal(fingerprint({ b: 2, a: 1.0 }), '43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777');
      assert.throws(() => fingerprint({ amount: NaN }), { name: 'CheckoutGuardError', code: 'invalid_order' });
      assert.throws(() => new CheckoutGuard({}), { code: 'invalid_options' });
      new CheckoutGuard({ launch: async () => 'ok', storage: 'memory' }).free();
      console.log('require ok: ' + require.resolve('checkout-guard'));
    `,
    'check.mjs': `
      import assert from 'node:assert/strict';
      import { CheckoutGuard, fingerprint } from 'checkout-guard';
      import cjs from 'checkout-guard';
      assert.equal(fingerprint({}), '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
      assert.equal(typeof CheckoutGuard, 'function');
      assert.equal(cjs.fingerprint, fingerprint);
      console.log('import ok: ' + import.meta.resolve('checkout-guard'));
    `,
    // TypeScript users of both module kinds get the package's declarations (not \`any\`: the
    // refused options must stay errors) through the \`node\` condition's types.d.cts.
    'typed.cts': TYPED_CONSUMER,
    'typed.mts': TYPED_CONSUMER,
    'tsconfig.json': JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: 'es2022', lib: ['es2022', 'dom'], module: 'nodenext', types: [] },
      files: ['typed.cts', 'typed.mts'],
    }),
  });
  await sh('npm', [...NPM_INSTALL, tarball], project);
  const installed = JSON.parse(readFileSync(join(project, 'node_modules/checkout-guard/package.json'), 'utf8'));
  assert.equal(installed.name, 'checkout-guard');
  assert.ok(existsSync(join(project, 'node_modules/checkout-guard/index.d.ts')), 'the types are installed');
  assert.match(await sh('node', ['check.cjs'], project), /require ok: .*node-project\/node_modules\/checkout-guard\/node\.cjs/);
  // Node takes the `node` condition for `import` as well: the CommonJS build, one instance.
  assert.match(await sh('node', ['check.mjs'], project), /import ok: .*node-project\/node_modules\/checkout-guard\/node\.cjs/);
  const tsc = join(ROOT, 'node_modules/.bin/tsc');
  for (const mode of ['nodenext', 'node16']) {
    const files = await sh(tsc, ['-p', '.', '--module', mode, '--moduleResolution', mode, '--explainFiles'], project);
    assert.match(files, /node_modules\/checkout-guard\/types\.d\.cts/, `${mode}: the package's types are read`);
  }
});

/** The Vite app: buy one order from the backend, guard its Pay button, cancel in the "wallet". */
const APP_FILES = {
  'index.html': `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><link rel="icon" href="data:,"><title>checkout-guard in a Vite app</title></head>
  <body>
    <p>Order <span id="order-no">…</span></p>
    <button id="pay" type="button">Pay</button>
    <p id="outcome" role="status" data-status="loading">loading</p>
    <script type="module" src="/main.js"></script>
  </body>
</html>
`,
  'main.js': `import { CheckoutGuard, fingerprint, init } from 'checkout-guard';

// \`fingerprint\` is synchronous: the wasm (loaded on first use) must be there.
await init();

// What the test reads back: the launches (with the button as it looked then), the outcomes.
const seen = (window.seen = { launches: [], outcomes: [], errors: [] });
const button = document.querySelector('#pay');
const outcome = document.querySelector('#outcome');

const reply = await fetch('/api/orders', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ content: { amount: 1999, currency: 'CNY', items: [{ sku: 'tea', qty: 2 }] } }),
});
const order = await reply.json();
if (fingerprint(order.content) !== order.fingerprint) throw new Error('fingerprints differ from the server');
document.querySelector('#order-no').textContent = order.orderNo;

const guard = new CheckoutGuard({
  namespace: 'vite-app',
  scope: 'buyer-1',
  // A wallet the buyer leaves without paying.
  launch: async (prepay, context) => {
    seen.launches.push({
      context,
      prepay,
      button: {
        disabled: button.disabled,
        ariaBusy: button.getAttribute('aria-busy'),
        state: button.dataset.checkoutState ?? null,
      },
    });
    await new Promise((done) => setTimeout(done, ${LAUNCH_MS}));
    return 'cancelled';
  },
});
guard.on('outcome', (event) => {
  seen.outcomes.push(event);
  outcome.dataset.status = event.status;
  outcome.textContent = event.status;
});
guard.on('error', (error) => seen.errors.push(\`\${error.code}: \${error.message}\`));
guard.attach(button, () => ({ orderNo: order.orderNo, content: order.content }));
// The page keeps its guard reachable: once the guard object is garbage-collected, an attached
// button silently stops paying (attach holds the guard weakly).
window.checkoutGuard = guard;
outcome.dataset.status = 'ready';
outcome.textContent = 'ready';
`,
};

test('a fresh Vite 7 app: built, served by the backend, fifty clicks make one create', async (t) => {
  assert.ok(tarball, 'npm pack ran');
  assert.ok(existsSync(SERVER_BIN), `no server binary at ${SERVER_BIN}: run \`cargo build -p checkout-guard-server\` or set CG_SERVER_BIN`);
  const app = join(work, 'vite-app');
  writeFiles(app, {
    ...APP_FILES,
    'package.json': JSON.stringify({
      name: 'vite-consumer',
      version: '1.0.0',
      private: true,
      type: 'module',
      devDependencies: { vite: VITE_VERSION },
      overrides: ROOT_MANIFEST.overrides,
    }, null, 2),
  });
  // The root's lockfile pins Vite's whole tree to what `npm ci` put in the npm cache.
  copyFileSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
  await sh('npm', [...NPM_INSTALL, tarball], app);
  const vite = JSON.parse(readFileSync(join(app, 'node_modules/vite/package.json'), 'utf8'));
  assert.match(vite.version, /^7\./);
  await sh('node', [join(app, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], app);
  const assets = readdirSync(join(app, 'dist/assets'));
  // The package's one wasm, emitted once (not the bundler or Node build's copy as well).
  const wasmAssets = assets.filter((name) => name.endsWith('.wasm'));
  assert.equal(wasmAssets.length, 1, `wasm in dist/assets: ${assets.join(', ')}`);
  const sizes = assets.map((name) => `${name} ${statSync(join(app, 'dist/assets', name)).size} B`);
  t.diagnostic(`vite ${vite.version} built: ${sizes.join(', ')}`);

  const server = await startServer(join(app, 'dist'));
  let context;
  try {
    context = await chromium.launchPersistentContext(mkdtempSync(join(work, 'chromium-')), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
    });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    const creates = [];
    let wasmStatus = null;
    page.on('request', (request) => {
      if (request.method() === 'POST' && /^\/api\/orders\/[^/]+\/payments$/.test(new URL(request.url()).pathname)) {
        creates.push(request.url());
      }
    });
    page.on('response', (response) => {
      if (new URL(response.url()).pathname.endsWith('.wasm')) wasmStatus = response.status();
      if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
    });

    // Fifty clicks within 200 ms: on a machine too busy to deliver them that fast, the page is
    // loaded again (a new order) and the burst repeated, at most three times.
    let orderNo;
    for (let attempt = 1; ; attempt += 1) {
      await page.goto(`${server.url}/`);
      await page.locator('#outcome[data-status="ready"]').waitFor({ timeout: 20_000 });
      assert.equal(wasmStatus, 200, 'the wasm asset was fetched from the built app');
      orderNo = (await page.locator('#order-no').textContent()).trim();
      assert.match(orderNo, /^\S{6,}$/);
      const spanMs = await clickFiftyTimes(context, page);
      t.diagnostic(`fifty clicks: ${spanMs.toFixed(0)} ms from the first press to the last`);
      if (spanMs < 200) break;
      assert.ok(attempt < 3, `fifty clicks took ${spanMs.toFixed(0)} ms, three times`);
    }
    const createsFor = () => creates.filter((url) => url.includes(`/${orderNo}/`));

    // Busy while the payment runs: the create, then the wallet.
    const pay = page.locator('#pay');
    assert.ok(await pay.isDisabled());
    assert.equal(await pay.getAttribute('aria-busy'), 'true');
    assert.equal(await pay.getAttribute('data-checkout-state'), 'busy');

    await page.locator('#outcome[data-status="cancelled"]').waitFor({ timeout: 20_000 });
    const seen = await page.evaluate(() => window.seen);
    assert.equal(createsFor().length, 1, `create requests: ${creates.join(', ')}`);
    assert.equal(seen.launches.length, 1);
    assert.equal(seen.launches[0].context.orderNo, orderNo);
    assert.deepEqual(seen.launches[0].button, { disabled: true, ariaBusy: 'true', state: 'busy' });
    assert.ok(seen.launches[0].prepay.prepayId, JSON.stringify(seen.launches[0].prepay));
    assert.equal(seen.outcomes.length, 1, JSON.stringify(seen.outcomes));
    assert.equal(seen.outcomes[0].status, 'cancelled');
    assert.equal(seen.outcomes[0].orderNo, orderNo);
    assert.deepEqual(seen.errors, []);
    // Usable again, showing the outcome.
    assert.ok(!(await pay.isDisabled()));
    assert.equal(await pay.getAttribute('aria-busy'), null);
    assert.equal(await pay.getAttribute('data-checkout-state'), 'cancelled');

    let stats = await (await fetch(`${server.url}/admin/stats/${orderNo}`)).json();
    assert.equal(stats.attemptsCreated, 1, JSON.stringify(stats));
    assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
    assert.equal(stats.charges, 0, JSON.stringify(stats));

    // Pay again after the cancel: the stored prepay is launched again, still one attempt.
    await pay.click();
    await page.waitForFunction(() => window.seen.outcomes.length === 2, null, { timeout: 20_000 });
    const again = await page.evaluate(() => window.seen);
    assert.equal(createsFor().length, 1, 'the stored prepay is reused without a create request');
    assert.equal(again.launches.length, 2);
    assert.deepEqual(again.launches[1].prepay, again.launches[0].prepay);
    assert.equal(again.outcomes[1].status, 'cancelled');
    assert.equal(again.outcomes[1].reused, true);
    stats = await (await fetch(`${server.url}/admin/stats/${orderNo}`)).json();
    assert.equal(stats.attemptsCreated, 1, JSON.stringify(stats));
    assert.equal(stats.prepayCalls, 1, JSON.stringify(stats));
    assert.deepEqual(problems, []);
  } finally {
    await context?.close();
    await server.stop();
  }
});

/**
 * Fifty real (trusted) clicks at the Pay button's centre, sent to the browser back to back
 * without waiting for each to be handled. Returns the time from the first press the page saw to
 * the last (pointer events reach the page even while the button is disabled).
 */
async function clickFiftyTimes(context, page) {
  const box = await page.locator('#pay').boundingBox();
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const cdp = await context.newCDPSession(page);
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

/** The reference backend serving `www` on a free loopback port with a throw-away database. */
async function startServer(www) {
  let log = '';
  const child = spawn(SERVER_BIN, [
    '--profile', 'demo', '--listen', '127.0.0.1:0', '--db', ':memory:', '--www', www, '--pkg', join(work, 'no-pkg'),
  ], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.on('data', (chunk) => { log += chunk; });
  const exited = new Promise((done) => {
    child.once('exit', done);
    child.once('error', done);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  // It prints one line, "checkout-guard-server listening on http://…", once it is bound.
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the server did not start:\n${log}`)), 20_000);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`the server exited (${code}):\n${log}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      ok(/(http:\/\/\S+)/.exec(line)?.[1]);
    });
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  if (!url) await stop();
  assert.ok(url, 'the server printed no URL');
  return { url, stop };
}
