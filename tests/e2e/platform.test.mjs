// The package's platform pieces (pkg/platform.js, pkg/browser.js) in real headless Chromium, one test per
// concern, each asserting what a buyer or a merchant would observe: records in `localStorage`
// and the one fallback warning, the request as it goes out and the reply as it comes back, a
// silent server timed out and its request aborted, a refused second lock (Web Locks and the
// storage lease), a message arriving on another channel object, "the buyer is back" on the
// right events only, the Pay button's attributes. The modules are loaded as the page loads
// them, from the backend's /pkg/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startServer } from './harness.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(`${server.url}/`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('storage: localStorage holds the records; a full storage falls back to memory with one warning', async () => {
  const seen = await page.evaluate(async () => {
    const { Store } = await import('/pkg/platform.js');
    const { browserStore } = await import('/pkg/browser.js');
    const local = browserStore('local');
    local.set('cg-test:order-1', '{"v":1}');
    const stored = localStorage.getItem('cg-test:order-1');
    const read = local.get('cg-test:order-1');
    local.remove('cg-test:order-1');
    const removed = [localStorage.getItem('cg-test:order-1'), local.get('cg-test:order-1') ?? null];
    const localWarnings = local.takeWarnings();

    const full = new Store({
      getItem: () => null,
      setItem: () => {
        throw new DOMException('quota', 'QuotaExceededError');
      },
      removeItem: () => {},
    });
    full.set('a', '1');
    full.set('b', '2');
    const fallback = [full.get('a'), full.get('b')];
    const warnings = full.takeWarnings();
    const again = full.takeWarnings();
    full.remove('a');

    // A write that works again replaces the memory copy.
    let fail = true;
    const inner = new Map();
    const flaky = new Store({
      getItem: (k) => inner.get(k) ?? null,
      setItem: (k, v) => {
        if (fail) throw new Error('full');
        inner.set(k, v);
      },
      removeItem: (k) => inner.delete(k),
    });
    flaky.set('k', 'old');
    fail = false;
    flaky.set('k', 'new');
    return { stored, read, removed, localWarnings, fallback, warnings, again, afterRemove: full.get('a') ?? null, flaky: [flaky.get('k'), inner.get('k')] };
  });
  assert.equal(seen.stored, '{"v":1}');
  assert.equal(seen.read, '{"v":1}');
  assert.deepEqual(seen.removed, [null, null]);
  assert.deepEqual(seen.localWarnings, []);
  assert.deepEqual(seen.fallback, ['1', '2']);
  assert.equal(seen.warnings.length, 1, JSON.stringify(seen.warnings));
  assert.match(seen.warnings[0], /setItem threw .*records are kept in memory/);
  assert.deepEqual(seen.again, []);
  assert.equal(seen.afterRemove, null);
  assert.deepEqual(seen.flaky, ['new', 'new']);
});

test('transport: the contract headers and body go out, status, Retry-After and body come back', async () => {
  const seen = await page.evaluate(async () => {
    const { Transport } = await import('/pkg/platform.js');
    const calls = [];
    const fetch = (url, init) => {
      calls.push({ url, init: { ...init, signal: init.signal instanceof AbortSignal } });
      return Promise.resolve(new Response('{"error":"in_progress"}', { status: 409, headers: { 'Retry-After': '3' } }));
    };
    const transport = new Transport(fetch, [['X-Buyer-Token', 't1']], 1000);
    const reply = await transport.send({
      method: 'POST',
      url: '/api/orders/A1/payments',
      headers: { 'Idempotency-Key': '"k1"', 'Content-Type': 'application/json', Accept: 'application/json' },
      body: '{"fingerprint":"f"}',
      waitSecs: 0,
    });
    const computed = new Transport(fetch, () => ({ 'X-Buyer-Token': 't2' }), 1000);
    await computed.send({ method: 'GET', url: '/api/orders/A1/payment', headers: { Prefer: 'wait=5', Accept: 'application/json' }, body: null, waitSecs: 5 });
    return { reply, calls };
  });
  assert.deepEqual(seen.reply, { status: 409, retryAfter: '3', body: '{"error":"in_progress"}' });
  const [create, status] = seen.calls;
  assert.equal(create.url, '/api/orders/A1/payments');
  assert.equal(create.init.method, 'POST');
  assert.equal(create.init.body, '{"fingerprint":"f"}');
  assert.equal(create.init.cache, 'no-store');
  assert.equal(create.init.signal, true);
  assert.deepEqual(create.init.headers, {
    'X-Buyer-Token': 't1',
    'Idempotency-Key': '"k1"',
    'Content-Type': 'application/json',
    Accept: 'application/json',
  });
  assert.equal(status.init.headers.Prefer, 'wait=5');
  assert.equal(status.init.headers['X-Buyer-Token'], 't2');
  assert.equal(status.init.body, undefined);
  // The long poll's wait is added to the time-out.
  assert.equal(status.init.timeoutMs, 6000);
});

test('transport: a silent server times out and its request is aborted; a rejecting fetch is an error', async () => {
  const seen = await page.evaluate(async () => {
    const { Transport } = await import('/pkg/platform.js');
    let aborted = false;
    const silent = (url, init) => {
      init.signal.addEventListener('abort', () => {
        aborted = true;
      });
      return new Promise(() => {});
    };
    const errors = [];
    for (const fetch of [silent, () => Promise.reject(new TypeError('Failed to fetch')), () => Promise.resolve({})]) {
      try {
        await new Transport(fetch, [], 50).send({ method: 'GET', url: '/x', headers: {}, body: null, waitSecs: 0 });
        errors.push('resolved');
      } catch (error) {
        errors.push(error.message);
      }
    }
    // And a real request to the real backend through the global fetch.
    const real = await new Transport(fetch, [], 5000).send({ method: 'GET', url: '/api/orders/NO-SUCH/payment', headers: { Accept: 'application/json' }, body: null, waitSecs: 0 });
    return { aborted, errors, real: real.status };
  });
  assert.deepEqual(seen.errors, ['no reply within 50 ms', 'Failed to fetch', 'the request resolved without a status']);
  assert.equal(seen.aborted, true);
  assert.equal(seen.real, 404);
});

test('tab lock: Web Locks refuse a second holder until released; orders are independent', async () => {
  const seen = await page.evaluate(async () => {
    const { Store } = await import('/pkg/platform.js');
    const { TabLocks } = await import('/pkg/browser.js');
    const store = new Store(undefined);
    const a = new TabLocks(store, 'a');
    const b = new TabLocks(store, 'b');
    const held = await a.tryAcquire('cg-test-order-1', 1);
    const refused = await b.tryAcquire('cg-test-order-1', 1);
    const other = await b.tryAcquire('cg-test-order-2', 1);
    held.release();
    await new Promise((done) => setTimeout(done, 20));
    const again = await b.tryAcquire('cg-test-order-1', 1);
    return { mechanism: a.mechanism, held: held !== null, refused, other: other !== null, again: again !== null };
  });
  assert.deepEqual(seen, { mechanism: 'webLocks', held: true, refused: null, other: true, again: true });
});

test('tab lock: the storage lease refuses a second owner until it expires, and a release frees only its own', async () => {
  const seen = await page.evaluate(async () => {
    const { Store } = await import('/pkg/platform.js');
    const { TabLocks } = await import('/pkg/browser.js');
    const store = new Store(undefined);
    const lease = (owner) => new TabLocks(store, owner, { leaseMs: 1000, mechanism: 'lease' });
    const [a, b] = [lease('a'), lease('b')];
    const held = await a.tryAcquire('order-1', 10_000);
    const refused = await b.tryAcquire('order-1', 10_500);
    held.renew(10_900);
    const renewed = await b.tryAcquire('order-1', 11_500);
    // The holder vanished without releasing (a crashed tab): the lease expires.
    const taken = await b.tryAcquire('order-1', 12_000);
    // a's late release must not free b's lease.
    held.release();
    const stillB = store.get('checkout-guard:lock:order-1');
    taken.release();
    const c = await lease('c').tryAcquire('order-1', 12_001);
    return { held: held !== null, refused, renewed, taken: taken !== null, stillB, c: c !== null, stored: store.get('checkout-guard:lock:order-1') };
  });
  assert.deepEqual(seen, { held: true, refused: null, renewed: null, taken: true, stillB: 'b 13000', c: true, stored: 'c 13001' });
});

test('broadcast: another channel object of the same name receives the message, never itself', async () => {
  const seen = await page.evaluate(async () => {
    const { openChannel } = await import('/pkg/browser.js');
    const record = (name) => {
      const heard = [];
      return { channel: openChannel(name, (text) => heard.push(text)), heard };
    };
    const first = record('cg-test-outcomes');
    const second = record('cg-test-outcomes');
    const elsewhere = record('cg-test-other-name');
    first.channel.post('{"orderNo":"A1","status":"paid"}');
    await new Promise((done) => setTimeout(done, 50));
    for (const r of [first, second, elsewhere]) r.channel.close();
    return [first.heard, second.heard, elsewhere.heard];
  });
  assert.deepEqual(seen, [[], ['{"orderNo":"A1","status":"paid"}'], []]);
});

test('visibility: "the buyer is back" on visible and on a back-forward restore only, until unwatched', async () => {
  const seen = await page.evaluate(async () => {
    const { watchVisibility } = await import('/pkg/browser.js');
    let shown = 0;
    const unwatch = watchVisibility(() => {
      shown += 1;
    });
    const counts = [document.visibilityState];
    document.dispatchEvent(new Event('visibilitychange'));
    counts.push(shown);
    dispatchEvent(new PageTransitionEvent('pageshow', { persisted: false }));
    counts.push(shown);
    dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));
    counts.push(shown);
    unwatch();
    document.dispatchEvent(new Event('visibilitychange'));
    counts.push(shown);
    return counts;
  });
  assert.deepEqual(seen, ['visible', 1, 1, 2, 2]);
});

test('button: locked busy, then the outcome shown; paid stays disabled; the page\'s own attributes come back', async () => {
  const seen = await page.evaluate(async () => {
    const { Button, STATE_ATTRIBUTE } = await import('/pkg/button.js');
    const state = (el) => [el.hasAttribute('disabled'), el.getAttribute('aria-busy'), el.getAttribute(STATE_ATTRIBUTE)];
    const make = () => document.body.appendChild(document.createElement('button'));
    const out = {};
    const a = new Button(make());
    a.lock();
    out.locked = state(a.element);
    a.show('pending');
    out.pending = state(a.element);
    const b = new Button(make());
    b.lock();
    b.show('paid');
    out.paid = state(b.element);
    const el = make();
    el.setAttribute('disabled', '');
    el.setAttribute('aria-busy', 'false');
    const c = new Button(el);
    c.lock();
    c.show('cancelled');
    out.own = state(el);
    const d = new Button(make());
    d.lock();
    d.show(null);
    out.refused = state(d.element);
    return out;
  });
  assert.deepEqual(seen.locked, [true, 'true', 'busy']);
  assert.deepEqual(seen.pending, [false, null, 'pending']);
  assert.deepEqual(seen.paid, [true, null, 'paid']);
  assert.deepEqual(seen.own, [true, 'false', 'cancelled']);
  assert.deepEqual(seen.refused, [false, null, null]);
});
