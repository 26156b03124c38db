// The Node.js entry of the package (node.cjs): canonicalize/fingerprint against RFC 8785's examples,
// against the npm `canonicalize` package + node:crypto on random values, and the error codes.
// Run by `cargo xtask ci` after `cargo xtask build` (node --test tests/node/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import jcs from 'canonicalize';
import { canonicalize, fingerprint } from '../../pkg/node.cjs';

const require = createRequire(import.meta.url);
const sha256 = (text) => createHash('sha256').update(text, 'utf8').digest('hex');

test('RFC 8785 §3.2.2: numbers, strings and literals', () => {
  const input = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
      '"literals": [null, true, false]}',
  );
  assert.equal(
    canonicalize(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

test('RFC 8785 §3.2.3: members sorted by UTF-16 code units', () => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  const keys = Object.keys(JSON.parse(canonicalize(input)));
  // JSON.parse keeps insertion order except for integer-like keys, which come first.
  assert.deepEqual(keys, ['1', '\r', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
  assert.ok(canonicalize(input).startsWith('{"\\r":"Carriage Return","1":"One","\u0080"'));
});

test('RFC 8785 appendix B: ECMAScript number serialisation', () => {
  const cases = [
    [0, '0'], [-0, '0'], [1e21, '1e+21'], [1e20, '100000000000000000000'],
    [5e-324, '5e-324'], [1e-7, '1e-7'], [0.000001, '0.000001'],
    [9007199254740993, '9007199254740992'], [1.7976931348623157e308, '1.7976931348623157e+308'],
    [-1.5, '-1.5'], [295147905179352830000, '295147905179352830000'], [1e23, '1e+23'],
  ];
  for (const [value, expected] of cases) {
    assert.equal(canonicalize(value), expected, `for ${value}`);
  }
});

test('fingerprint is SHA-256 of the canonical form (known vectors)', () => {
  assert.equal(fingerprint({}), '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  assert.equal(
    fingerprint({ b: 2, a: 1.0 }),
    '43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777',
  );
});

// A small deterministic PRNG (mulberry32) so a failure can be reproduced from its seed.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomNumber(r) {
  const bits = new DataView(new ArrayBuffer(8));
  switch (Math.floor(r() * 5)) {
    case 0: return Math.floor((r() - 0.5) * 2 ** 60);
    case 1: return (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
    case 2: return [0, -0, 1, -1, 2 ** 53, 2 ** 53 + 2, 1e21, 1e-7, 5e-324][Math.floor(r() * 9)];
    default: {
      for (;;) {
        bits.setUint32(0, Math.floor(r() * 2 ** 32));
        bits.setUint32(4, Math.floor(r() * 2 ** 32));
        const x = bits.getFloat64(0);
        if (Number.isFinite(x)) return x;
      }
    }
  }
}

function randomString(r) {
  const pool = ['a', 'Z', '0', '"', '\\', '/', '\n', '\t', '\u0000', '\u001f', '\u007f', 'é',
    '\u2028', '\u20ac', '\ufb33', '\ud83d\ude00', '中', ' '];
  let s = '';
  const n = Math.floor(r() * 8);
  for (let i = 0; i < n; i++) s += pool[Math.floor(r() * pool.length)];
  return s;
}

function randomValue(r, depth) {
  const kind = Math.floor(r() * (depth > 3 ? 4 : 6));
  switch (kind) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return randomNumber(r);
    case 3: return randomString(r);
    case 4: return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth + 1));
    default: {
      const object = {};
      const n = Math.floor(r() * 6);
      for (let i = 0; i < n; i++) object[randomString(r)] = randomValue(r, depth + 1);
      return object;
    }
  }
}

test('agrees with the npm `canonicalize` package and node:crypto on 2000 random values', () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const value = randomValue(rng(seed), 0);
    const expected = jcs(value);
    assert.equal(canonicalize(value), expected, `seed ${seed}`);
    assert.equal(fingerprint(value), sha256(expected), `seed ${seed}`);
  }
});

test('what JSON cannot say is refused with code invalid_order and its path', () => {
  const cyclic = { a: {} };
  cyclic.a.back = cyclic;
  let deep = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  const cases = [
    [{ amount: NaN }, 'order.amount'],
    [{ items: [1, Infinity] }, 'order.items[1]'],
    [{ total: -Infinity }, 'order.total'],
    [{ coupon: undefined }, 'order.coupon'],
    [undefined, 'order'],
    [{ f() {} }, 'order.f'],
    [{ s: Symbol('x') }, 'order.s'],
    [{ n: 10n }, 'order.n'],
    [{ s: '\ud800' }, 'order.s'],
    [cyclic, 'order.a.back'],
    [deep, 'order'],
  ];
  for (const [value, path] of cases) {
    for (const call of [canonicalize, fingerprint]) {
      assert.throws(
        () => call(value),
        (error) => {
          assert.ok(error instanceof Error);
          assert.equal(error.name, 'CheckoutGuardError');
          assert.equal(error.code, 'invalid_order');
          assert.ok(error.message.startsWith(path), error.message);
          return true;
        },
        `${call.name}(${path})`,
      );
    }
  }
});

test('toJSON is honoured, as JSON.stringify does', () => {
  assert.equal(canonicalize({ at: new Date(0) }), '{"at":"1970-01-01T00:00:00.000Z"}');
});

test('the Node entry loads with require and with import', async () => {
  const viaRequire = require('../../pkg/node.cjs');
  assert.equal(viaRequire.fingerprint({}), fingerprint({}));
  const viaImport = await import('../../pkg/node.cjs');
  assert.equal(typeof viaImport.canonicalize, 'function');
});

test('the RFC 8785 vectors shared with the Rust canonicalizer (tests/vectors/jcs.json)', () => {
  const { vectors } = require('../vectors/jcs.json');
  assert.ok(vectors.length >= 10, 'the vector file lost its vectors');
  for (const { name, input, canonical, sha256: print } of vectors) {
    const value = JSON.parse(input);
    assert.equal(canonicalize(value), canonical, name);
    assert.equal(fingerprint(value), print, name);
    assert.equal(sha256(canonical), print, `${name}: the file's own hash`);
  }
});

test('objects that share a first key but not their shape are each sorted by their own keys', () => {
  // The walk reuses a shape's sorted names (pkg/canonical.js `shapeOf`); a hit must need the
  // very same keys in the same order.
  const lines = [
    { b: 1, a: 2 },
    { b: 1, c: 3, a: 0 },
    { b: 2, a: 1 },
    { b: 3, a: { b: [{ b: 0, a: 1 }, { b: 1 }], z: null } },
    { b: 4, '\u0080': 1, '\r': 2 },
    { b: 5, a: 6 },
    {},
  ];
  for (const value of [lines, { lines, b: 0, a: lines[1] }]) {
    assert.equal(canonicalize(value), jcs(value));
    assert.equal(fingerprint(value), createHash('sha256').update(jcs(value)).digest('hex'));
  }
});
