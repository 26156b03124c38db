// The npm package `checkout-guard-miniprogram` as a native WeChat mini-program gets it: `npm
// pack` of pkg-miniprogram/, the tarball installed into a fresh mini-program project, then laid
// out as WeChat DevTools' "build npm" (构建 npm) does for a package with a `miniprogram` field:
// that folder copied, as installed, to `miniprogram_npm/checkout-guard-miniprogram/`. The
// example's checkout page then runs from there in the emulated runtime
// (tests/miniprogram/emulator.mjs) with `require('checkout-guard-miniprogram')` and
// `load()`'s default wasm path, against the real reference backend: a double tap is one
// order, one wallet and one charge. And uni-app's and Taro's bundlers find their entries
// through the package's `exports`.
//
// Run by `cargo xtask ci` with the other packaging tests (CG_SERVER_BIN is the server binary).
// By hand: `cargo xtask build && cargo build -p checkout-guard-server && node --test
// tests/packaging/`. Everything happens in a temporary folder, removed at the end; npm needs no
// registry (the package has no dependencies).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiniProgram, startServer } from '../miniprogram/emulator.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PKG = join(ROOT, 'pkg-miniprogram');
const NAME = 'checkout-guard-miniprogram';
/** The native example's checkout page, run unchanged from the project. */
const EXAMPLE_PAGE = join(ROOT, 'www/miniprogram/pages/checkout');
/** Where "build npm" puts the wasm, from the code package root: the loader's default. */
const BUILT_WASM = `/miniprogram_npm/${NAME}/checkout_guard_bg.wasm.br`;

let work;
let server;

function sh(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`\`${command} ${args.join(' ')}\` in ${cwd} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

before(async () => {
  assert.ok(existsSync(join(PKG, 'miniprogram/checkout_guard_bg.wasm.br')), 'the package is not built: run `cargo xtask build`');
  work = mkdtempSync(join(tmpdir(), 'checkout-guard-miniprogram-npm-'));
  server = await startServer();
});

after(async () => {
  if (server) await server.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The mini-program project: package.json at the code package root (DevTools' default). */
function project(tarball) {
  const dir = join(work, 'mini-program');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'shop-mini-program', version: '1.0.0', private: true }, null, 2));
  sh('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], dir);
  return dir;
}

/** "build npm" for a package with a `miniprogram` field: that folder, copied. */
function buildNpm(dir) {
  const installed = join(dir, `node_modules/${NAME}`);
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  assert.equal(typeof manifest.miniprogram, 'string', 'the package has a `miniprogram` field');
  const source = join(installed, manifest.miniprogram);
  assert.ok(existsSync(join(source, 'index.js')), `${manifest.miniprogram}/index.js is installed`);
  cpSync(source, join(dir, `miniprogram_npm/${NAME}`), { recursive: true });
  return readdirSync(join(dir, `miniprogram_npm/${NAME}`)).sort();
}

test('each npm package carries one wasm', () => {
  const wasmIn = (dir) => JSON.parse(sh('npm', ['pack', '--dry-run', '--json'], dir))[0]
    .files.map((f) => f.path).filter((p) => /\.wasm(\.br)?$/.test(p));
  // The web, Node and bundler entries share one; the mini-program bundle is the other package.
  assert.deepEqual(wasmIn(join(ROOT, 'pkg')), ['gen/web/checkout_guard_bg.wasm']);
  assert.deepEqual(wasmIn(PKG), ['miniprogram/checkout_guard_bg.wasm.br']);
});

test(`build npm: the tarball gives miniprogram_npm/${NAME}/, whose page pays once for a double tap`, { timeout: 120000 }, async (t) => {
  const [packed] = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', work], PKG));
  const wasm = packed.files.map((f) => f.path).filter((p) => /\.wasm(\.br)?$/.test(p));
  t.diagnostic(`${packed.filename}: ${packed.size} bytes packed; wasm files: ${wasm.join(', ')}`);

  const dir = project(join(work, packed.filename));
  const files = buildNpm(dir);
  assert.ok(files.includes('checkout_guard_bg.wasm.br'), files.join(', '));
  assert.ok(!files.includes('checkout_guard_bg.wasm'), 'no raw wasm in the package');
  t.diagnostic(`miniprogram_npm/${NAME}/: ${files.join(', ')}`);

  // The app: the native example's page, loading the package the way its README says.
  cpSync(EXAMPLE_PAGE, join(dir, 'pages/checkout'), { recursive: true });
  writeFileSync(join(dir, 'app.js'), `
    const { load } = require('${NAME}');
    App({
      globalData: { apiBase: '', buyer: 'npm-buyer', guardOptions: {} },
      onLaunch() {
        this.checkout = load().then((cg) => ({
          cg,
          guard: cg.createGuard({ baseUrl: this.globalData.apiBase, namespace: 'npm', scope: this.globalData.buyer }),
        }));
      },
    });
  `);
  const mp = new MiniProgram({ root: dir, server });
  const app = mp.launch((a) => {
    a.globalData.apiBase = server.url;
  });
  const page = mp.openPage('pages/checkout/checkout');
  await page.ready;
  assert.equal(page.data.loaded, true, page.data.message);
  assert.equal(mp.instantiated, BUILT_WASM, "load()'s default is where build npm put the wasm");
  await new Promise((done) => setTimeout(done, 40));
  const disabled = (data) => !data.loaded || data.paying || data.checkoutStatus === 'paid';
  const first = mp.tap(page, 'onPay', disabled);
  assert.equal(mp.tap(page, 'onPay', disabled), null, 'the second tap is ignored');
  const outcome = await first;
  assert.equal(outcome.status, 'paid');
  const { orderNo } = page.order;
  assert.equal(mp.requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/api/orders').length, 1, 'one order');
  assert.equal(mp.payments.length, 1, 'one wallet');
  const stats = await server.stats(orderNo);
  assert.equal(stats.charges, 1, JSON.stringify(stats));
  assert.equal(stats.attemptsCreated, 1, JSON.stringify(stats));
  (await app.checkout).guard.close();

  // uni-app's and Taro's bundlers resolve the entries through `exports`.
  const resolved = sh('node', ['-e', `for (const s of ['${NAME}', '${NAME}/uniapp', '${NAME}/taro']) console.log(require.resolve(s))`], dir);
  assert.deepEqual(
    resolved.trim().split('\n').map((p) => p.slice(p.indexOf('node_modules/'))),
    ['index.js', 'uniapp.js', 'taro.js'].map((f) => `node_modules/${NAME}/miniprogram/${f}`),
  );
});
