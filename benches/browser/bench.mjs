// The in-page benchmarks (bench.html): the click path and the fingerprint, each beside its
// plain-JS alternative in the same page. Called by run.mjs through `page.evaluate`.
//
// Timing: `performance.now()` is coarse (5 µs when cross-origin isolated, as this page is), so
// calls are timed in batches sized to last at least `minBatchMs`; the median and p99 are over
// the per-call means of those batches.
import { CheckoutGuard, fingerprint, init } from '/pkg/index.js';
import canonicalize from '/cjs/canonicalize';
import jsSha256 from '/cjs/js-sha256/build/sha256.cjs';
import { sha256 as nobleSha256 } from '/node_modules/@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '/node_modules/@noble/hashes/utils.js';
import { sha256Hex } from '/pkg/core.js';
import { canonicalWalk } from '/pkg/canonical.js';
import { makeContent } from './orders.mjs';

// The wasm loads on first use; these benches measure a guard that is ready (a guard made
// before then answers `pay` through a queued promise, not the one in flight).
await init();

const never = new Promise(() => {});
let sink;

function stats(perCallNs, calls, batch) {
  const sorted = [...perCallNs].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))];
  return { medianNs: at(50), p99Ns: at(99), calls, batch };
}

/** Times `run(n)` (which makes n calls) in batches; per-call ns. */
function measure(run, { batches = 200, minCalls = 10_000, minBatchMs = 1, warmMs = 100 } = {}) {
  // Warm up until the optimising compiler is done, else the batch size is chosen too small.
  const warmUntil = performance.now() + warmMs;
  while (performance.now() < warmUntil) run(100);
  let size = 1;
  for (;;) {
    const t = performance.now();
    run(size);
    if (performance.now() - t >= minBatchMs || size >= 1 << 24) break;
    size *= 2;
  }
  const count = Math.max(batches, Math.ceil(minCalls / size));
  const per = [];
  for (let b = 0; b < count; b++) {
    const t = performance.now();
    run(size);
    per.push(((performance.now() - t) * 1e6) / size);
  }
  return stats(per, size * count, size);
}

/** As `measure`, for a function returning a promise (awaited one call after another). */
async function measureAsync(call, { batches = 100, minCalls = 2_000, minBatchMs = 1 } = {}) {
  for (let i = 0; i < 50; i++) sink = await call();
  let size = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < size; i++) sink = await call();
    if (performance.now() - t >= minBatchMs) break;
    size *= 2;
  }
  const count = Math.max(batches, Math.ceil(minCalls / size));
  const per = [];
  for (let b = 0; b < count; b++) {
    const t = performance.now();
    for (let i = 0; i < size; i++) sink = await call();
    per.push(((performance.now() - t) * 1e6) / size);
  }
  return stats(per, size * count, size);
}

function guardOptions() {
  // Nothing leaves the page: the create request never answers, so every order stays in flight.
  return { launch: () => never, storage: 'memory', fetch: () => never };
}

/** The double click: the cost of asking again while the order is locked. */
export async function clickPath({ quick = false } = {}) {
  const opts = quick ? { batches: 20, minCalls: 10_000, minBatchMs: 0.5, warmMs: 30 } : {};
  const out = { crossOriginIsolated: globalThis.crossOriginIsolated };

  // The baseline: a bare single-flight Map, the least any guard can do.
  const flights = new Map();
  const start = (order) => new Promise(() => {});
  const singleFlight = (order) => {
    const flight = flights.get(order.orderNo);
    if (flight !== undefined) return flight;
    const promise = start(order);
    flights.set(order.orderNo, promise);
    return promise;
  };
  // Eight orders in flight, asked in turn, so that no compiler can hoist the look-up.
  const content = makeContent(1024);
  const orders = Array.from({ length: 8 }, (_, i) => ({ orderNo: `BENCH-${i}`, content }));
  const order = orders[0];
  const firsts = orders.map(singleFlight);
  out.map = measure((n) => {
    let p;
    for (let i = 0; i < n; i++) p = singleFlight(orders[i & 7]);
    if (p !== firsts[(n - 1) & 7]) throw new Error('map: not joined');
  }, opts);

  const guard = new CheckoutGuard(guardOptions());
  const inFlight = orders.map((o) => guard.pay(o));
  out.paySame = measure((n) => {
    let p;
    for (let i = 0; i < n; i++) p = guard.pay(orders[i & 7]);
    if (p !== inFlight[(n - 1) & 7]) throw new Error('pay: not joined');
  }, opts);
  out.paySameJoins = guard.pay(order) === inFlight[0];

  // The same content in a new object each time: fingerprinted, then joined by the core.
  const copies = Array.from({ length: 64 }, () => ({ orderNo: order.orderNo, content: structuredClone(order.content) }));
  out.payCopy = measure((n) => {
    for (let i = 0; i < n; i++) sink = guard.pay(copies[i & 63]);
  }, { ...opts, batches: quick ? 10 : 100 });

  // A click on the locked <button>: disabled, so the browser does not even dispatch it.
  const button = document.createElement('button');
  document.body.append(button);
  guard.attach(button, () => order);
  button.click();
  out.buttonLocked = button.disabled;
  out.clickLockedButton = measure((n) => {
    for (let i = 0; i < n; i++) button.click();
  }, opts);

  // A click on a locked non-button element (`role="button"`): the handler runs.
  const div = document.createElement('div');
  div.setAttribute('role', 'button');
  document.body.append(div);
  const other = { orderNo: 'BENCH-DIV', content: order.content };
  guard.attach(div, () => other);
  div.click();
  out.clickLockedDiv = measure((n) => {
    for (let i = 0; i < n; i++) div.click();
  }, { ...opts, batches: quick ? 10 : 100 });

  // Click → disabled: a fresh order each time; `disabled` must be set when click() returns.
  const samples = quick ? 20 : 200;
  const times = [];
  let disabledBeforeReturn = 0;
  for (let i = 0; i < samples; i++) {
    const b = document.createElement('button');
    document.body.append(b);
    const fresh = { orderNo: `LOCK-${i}`, content: order.content };
    guard.attach(b, () => fresh);
    const t = performance.now();
    b.click();
    const dt = performance.now() - t;
    if (b.disabled && b.getAttribute('aria-busy') === 'true') disabledBeforeReturn += 1;
    times.push(dt * 1e6);
    b.remove();
  }
  out.clickToDisabled = { ...stats(times, samples, 1), disabledBeforeReturn, samples };
  return out;
}

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
const encoder = new TextEncoder();

const IMPLEMENTATIONS = {
  guard: (content) => fingerprint(content),
  canonicalizeNoble: (content) => bytesToHex(nobleSha256(utf8ToBytes(canonicalize(content)))),
  canonicalizeJsSha256: (content) => jsSha256(canonicalize(content)),
  jsonStringify: (content) => JSON.stringify(content),
};
const webCrypto = async (content) => hex(await crypto.subtle.digest('SHA-256', encoder.encode(canonicalize(content))));

/** Per-call cost of fingerprinting an order of `bytes` JSON bytes, every way. */
export async function fingerprints({ sizes = [1024, 65536], quick = false } = {}) {
  const out = {};
  for (const bytes of sizes) {
    const content = makeContent(bytes);
    const row = { jsonBytes: JSON.stringify(content).length, canonicalBytes: canonicalize(content).length };
    const expected = await webCrypto(content);
    const results = { canonicalizeWebCrypto: expected };
    const opts = quick ? { batches: 10, minCalls: 50, minBatchMs: 0.5, warmMs: 30 } : { batches: 60, minCalls: bytes > 4096 ? 300 : 3000 };
    for (const [name, fn] of Object.entries(IMPLEMENTATIONS)) {
      if (name !== 'jsonStringify') results[name] = fn(content);
      row[name] = measure((n) => {
        for (let i = 0; i < n; i++) sink = fn(content);
      }, opts);
    }
    row.canonicalizeWebCrypto = await measureAsync(() => webCrypto(content), opts);
    // The full walk alone (what fingerprint() costs when the fast path of pkg/canonical.js
    // declines: the path kept for the error), hashed in wasm.
    results.guardWalk = sha256Hex(canonicalWalk(content));
    row.guardWalk = measure((n) => {
      for (let i = 0; i < n; i++) sink = sha256Hex(canonicalWalk(content));
    }, opts);
    row.sameHex = Object.values(results).every((h) => h === expected);
    row.hex = expected;
    row.results = results;
    out[bytes] = row;
  }
  return out;
}
