// The bundle itself in the emulated runtime: what it names, what the runtime lacks, how it
// loads (package paths only, entropy first), and the UTF-8 polyfill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { MiniProgram, repo, examplePackage, uniappPackage, taroPackage, PER_KEY_BYTES } from './emulator.mjs';

const bundle = path.join(repo, 'pkg/miniprogram');
/** Each example's code package and the bundle's copy in it (xtask/src/build/miniprogram.rs). */
const EXAMPLES = [
  [examplePackage, 'checkout-guard'],
  [uniappPackage, 'static/checkout-guard'],
  [taroPackage, 'checkout-guard'],
];
/** The example copies the bundle by hand: the wasm is not where "build npm" would put it. */
const COPIED = '/checkout-guard/checkout_guard_bg.wasm.br';
const require = createRequire(import.meta.url);
const FORBIDDEN = ['window', 'document', 'fetch', 'localStorage', 'eval', 'new Function'];

test('the bundle has the wasm, its brotli form and JS that names no browser API', () => {
  const files = fs.readdirSync(bundle);
  const names = ['checkout_guard_bg.wasm', 'checkout_guard_bg.wasm.br', 'driver.js', 'index.js', 'adapters.js', 'text.js', 'errors.js'];
  for (const name of [...names, 'framework.js', 'uniapp.js', 'uniapp.d.ts', 'taro.js', 'taro.d.ts']) {
    assert.ok(files.includes(name), `${name} is in pkg/miniprogram/`);
  }
  for (const name of files.filter((f) => f.endsWith('.js'))) {
    const text = fs.readFileSync(path.join(bundle, name), 'utf8');
    for (const word of FORBIDDEN) assert.ok(!text.includes(word), `${name} names ${word}`);
    for (const [root, folder] of EXAMPLES) {
      const copy = path.join(root, folder, name);
      assert.equal(fs.readFileSync(copy, 'utf8'), text, `${path.relative(repo, copy)} is current`);
    }
  }
  const wasm = fs.statSync(path.join(bundle, 'checkout_guard_bg.wasm')).size;
  const br = fs.statSync(path.join(bundle, 'checkout_guard_bg.wasm.br')).size;
  assert.ok(br < wasm / 2, `brotli ${br} < half of ${wasm}`);
});

test("the examples' own files name no browser API either", () => {
  for (const [root, folder] of EXAMPLES) {
    const own = [];
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (file !== path.join(root, folder)) walk(file);
        } else if (/\.(js|wxml|wxs)$/.test(entry.name)) own.push(file);
      }
    };
    walk(root);
    assert.ok(own.some((f) => f.includes(`${path.sep}pages${path.sep}checkout${path.sep}`)), `${root}: the checkout page is checked`);
    for (const file of own) {
      const text = fs.readFileSync(file, 'utf8');
      for (const word of FORBIDDEN) assert.ok(!text.includes(word), `${path.relative(repo, file)} names ${word}`);
    }
  }
});

test('the runtime has none of the browser globals, and loading adds none', async () => {
  const mp = new MiniProgram({ root: examplePackage });
  const missing = ['window', 'document', 'fetch', 'localStorage', 'TextEncoder', 'TextDecoder', 'crypto', 'WebAssembly', 'queueMicrotask', 'self'];
  const types = () => Object.fromEntries(missing.map((name) => [name, mp.evaluate(`typeof ${name}`)]));
  for (const [name, type] of Object.entries(types())) assert.equal(type, 'undefined', name);
  const { load } = mp.require(path.join(examplePackage, 'app.js'), './checkout-guard/index.js');
  const cg = await load({ wasmPath: '/checkout-guard/checkout_guard_bg.wasm' });
  for (const [name, type] of Object.entries(types())) assert.equal(type, 'undefined', `${name} after load`);
  // UTF-8 both ways through the polyfill: a string in, its canonical form out.
  assert.equal(cg.canonicalize({ b: 1, a: '乌龙茶 🍵' }), '{"a":"乌龙茶 🍵","b":1}');
  assert.match(cg.fingerprint({ amount: 1999 }), /^[0-9a-f]{64}$/);
});

test('WXWebAssembly takes only paths inside the code package', async () => {
  const mp = new MiniProgram({ root: examplePackage });
  const { load } = mp.require(path.join(examplePackage, 'app.js'), './checkout-guard/index.js');
  for (const bad of ['https://example.com/checkout_guard_bg.wasm', '../../pkg/miniprogram/checkout_guard_bg.wasm', '/app.js', '/missing.wasm']) {
    await assert.rejects(load({ wasmPath: bad }), /WXWebAssembly\.instantiate/, bad);
  }
  const cg = await load({ wasmPath: 'checkout-guard/checkout_guard_bg.wasm.br' });
  assert.equal(typeof cg.createGuard, 'function');
});

test('entropy comes from wx.getRandomValues before any guard exists; no fallback', async () => {
  const mp = new MiniProgram({ root: examplePackage });
  const wx = mp.evaluate('wx');
  const { load, addEntropy, isCheckoutGuardError } = mp.require(path.join(examplePackage, 'app.js'), './checkout-guard/index.js');
  const getRandomValues = wx.getRandomValues;
  wx.getRandomValues = ({ fail }) => setTimeout(() => fail({ errMsg: 'getRandomValues:fail system error' }), 1);
  await assert.rejects(load({ wasmPath: COPIED }), (error) => isCheckoutGuardError(error) && error.code === 'platform' && /getRandomValues/.test(error.message));
  wx.getRandomValues = getRandomValues;
  const cg = await load({ wasmPath: COPIED });
  assert.ok(mp.randomCalls >= 1);
  // Too little entropy is refused, with the package's own error.
  assert.throws(() => addEntropy(new Uint8Array(16)), (e) => isCheckoutGuardError(e) && e.code === 'platform');
  assert.equal(isCheckoutGuardError(new Error('x')), false);
  const guard = cg.createGuard({ baseUrl: 'http://127.0.0.1:9', resumeOnShow: false });
  assert.equal(typeof guard.pay, 'function');
  guard.close();
});

test('options errors name the option; request and storage are required without the loader', async () => {
  const mp = new MiniProgram({ root: examplePackage });
  const { load } = mp.require(path.join(examplePackage, 'app.js'), './checkout-guard/index.js');
  const cg = await load({ wasmPath: COPIED });
  const launch = async () => 'ok';
  const request = async () => ({ status: 200, headers: { get: () => null }, text: async () => '' });
  const named = (options, option) =>
    assert.throws(() => new cg.MiniProgramGuard(options), (e) => e.code === 'invalid_options' && e.message.includes(`\`${option}\``));
  named({ launch, storage: 'memory' }, 'request');
  named({ launch, request }, 'storage');
  named({ launch, request, storage: 'local' }, 'storage');
  named({ launch, request, storage: 'memory', fetch: request }, 'fetch');
  assert.throws(() => cg.createGuard({ pol: {} }), (e) => e.code === 'invalid_options' && e.message.includes('`pol`'));
});

test('the adapters: storage limits, headers and status codes, wallet results', async () => {
  const adapters = require(path.join(bundle, 'adapters.js'));
  const mp = new MiniProgram({ root: examplePackage });
  const wx = mp.evaluate('wx');
  const storage = adapters.wxStorage(wx);
  assert.equal(storage.getItem('absent'), null);
  storage.setItem('k', 'v');
  assert.equal(storage.getItem('k'), 'v');
  storage.removeItem('k');
  assert.equal(storage.getItem('k'), null);
  assert.throws(() => storage.setItem('big', 'x'.repeat(PER_KEY_BYTES)), /1 MB per-key limit/);
  mp.fillStorage(10);
  assert.throws(() => storage.setItem('one-more', 'x'.repeat(100)), /exceed storage max size 10MB/);

  // wx.request: every HTTP status is a reply; headers are read case-insensitively.
  const http = await import('node:http');
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(req.url === '/busy' ? 409 : 200, { 'Retry-After': '3', 'Content-Type': 'application/json' });
    res.end(req.url === '/busy' ? '{"error":"in_progress"}' : '{"ok":true}');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const request = adapters.wxRequest(wx);
  const reply = await request(`${base}/busy`, { method: 'POST', headers: { 'Idempotency-Key': '"abc"', Prefer: 'wait=5' }, body: '{}', timeoutMs: 2000 });
  assert.equal(reply.status, 409);
  assert.equal(reply.headers.get('retry-after'), '3');
  assert.equal(await reply.text(), '{"error":"in_progress"}');
  assert.equal(seen[0]['idempotency-key'], '"abc"');
  assert.equal(seen[0].prefer, 'wait=5');
  const ok = await request(`${base}/`, { method: 'GET', headers: {}, timeoutMs: 2000 });
  assert.equal(await ok.text(), '{"ok":true}', 'the body stays text');
  await new Promise((resolve) => server.close(resolve));
  await assert.rejects(request(`${base}/`, { method: 'GET', headers: {}, timeoutMs: 2000 }), /request:fail/);

  // wx.requestPayment results.
  const results = [];
  for (const errMsg of [null, 'requestPayment:fail cancel', 'requestPayment:fail (-1) system error']) {
    const fake = {
      requestPayment: (o) => setTimeout(() => (errMsg === null ? o.success({ errMsg: 'requestPayment:ok' }) : o.fail({ errMsg })), 1),
    };
    results.push(await adapters.wxRequestPayment(fake)({ prepayId: 'wx1' }, { orderNo: 'A1', attemptId: 'A1x' }));
  }
  assert.deepEqual(results, ['ok', 'cancelled', 'failed']);
  assert.equal(adapters.paymentParams({ prepayId: 'wx9' }).package, 'prepay_id=wx9');
});

test('the UTF-8 polyfill agrees with the platform codec', () => {
  const { Utf8Encoder, Utf8Decoder } = require(path.join(bundle, 'text.js'));
  const encoder = new Utf8Encoder();
  const decoder = new Utf8Decoder('utf-8', { ignoreBOM: true });
  const native = new TextDecoder('utf-8', { ignoreBOM: true });
  // The polyfill's encoder has `encodeInto` alone (what pkg/core.js calls).
  const encode = (text) => {
    const view = new Uint8Array(text.length * 3);
    return view.slice(0, encoder.encodeInto(text, view).written);
  };
  for (const text of ['', 'abc', 'héllo', '中文支付', '😀x', '\uD800', 'a\uDC00b', '\uFEFFbom', 'x'.repeat(20000) + 'é']) {
    const bytes = encode(text);
    assert.deepEqual([...bytes], [...new TextEncoder().encode(text)], JSON.stringify(text));
    assert.equal(decoder.decode(bytes), native.decode(bytes));
  }
  for (let n = 0; n < 5000; n += 1) {
    const bytes = Uint8Array.from({ length: n % 7 }, (_, i) => [0x41, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff, 0xa0, 0x9f][(n * 7 + i * 13) % 11]);
    assert.equal(decoder.decode(bytes), native.decode(bytes));
  }
  const view = new Uint8Array(4);
  assert.deepEqual(encoder.encodeInto('a中b', view), new TextEncoder().encodeInto('a中b', new Uint8Array(4)));
});

test("the emulated WeChat checks a paySign as WeChat does: the vectors' one passes, any change is refused", () => {
  const vectors = JSON.parse(fs.readFileSync(path.join(repo, 'wechatpay/tests/vectors/wechatpay-v3.json'), 'utf8'));
  const { appId, ...launch } = vectors.request_payment;
  delete launch.message;
  const server = { appId, merchantPublicKey: vectors.merchant_public_key_pem };
  const mp = new MiniProgram({ root: examplePackage, server });
  assert.equal(mp.appId, appId, "the mini-program runs under the merchant's appid by default");
  assert.equal(mp.paySignRefusal(launch), null, 'the vectors\' paySign verifies');
  const refused = (change, appIdOf = appId) => new MiniProgram({ root: examplePackage, server, appId: appIdOf }).paySignRefusal({ ...launch, ...change });
  assert.equal(refused({}, 'wx0000000000000000'), '支付验证签名失败', 'another appid');
  assert.equal(refused({ timeStamp: String(Number(launch.timeStamp) + 1) }), '支付验证签名失败');
  assert.equal(refused({ nonceStr: `${launch.nonceStr}x` }), '支付验证签名失败');
  assert.equal(refused({ package: 'prepay_id=wx2014102720093955226570000000000000' }), '支付验证签名失败');
  const bytes = Buffer.from(launch.paySign, 'base64');
  bytes[0] ^= 1;
  assert.equal(refused({ paySign: bytes.toString('base64') }), '支付验证签名失败');
  assert.equal(refused({ paySign: 'not base64 at all' }), '支付验证签名失败');
  assert.equal(refused({ paySign: '' }), '调用支付JSAPI缺少参数：paySign');
  assert.equal(refused({ signType: 'MD5' }), 'signType MD5 is not RSA');
  // The in-process provider's prepay has no paySign and no key to check it with.
  assert.equal(new MiniProgram({ root: examplePackage, server: {} }).paySignRefusal({ package: 'prepay_id=wx1' }), null);
});
