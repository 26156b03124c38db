// The stable error codes are written in five places: the one the package checks at run time
// (`CODES` in pkg/errors.js), the two declaration files apps type-check against
// (pkg/types.d.cts, pkg/miniprogram-src/index.d.ts), the table of docs/troubleshooting.md and
// the core's refusals (src/core/step.rs). A code added or renamed in one and not the others
// would type-check an app against codes the guard never throws, or throw one no doc explains:
// this test reads all five and compares them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { guardError, isCheckoutGuardError } from '../../pkg/errors.js';

const read = (path) => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');
const sorted = (codes) => [...new Set(codes)].sort();

/** The quoted members of `export type ErrorCode = | 'a' | 'b';` (comments between them allowed). */
function declared(path) {
  const text = read(path).replace(/\/\*[\s\S]*?\*\//g, '');
  const union = text.match(/export type ErrorCode =([^;]*);/);
  assert.ok(union, `${path} declares ErrorCode`);
  return sorted([...union[1].matchAll(/\|\s*'([a-z_]+)'/g)].map((m) => m[1]));
}

/** The codes of `const CODES = new Set([...])` in pkg/errors.js. */
function checked() {
  const set = read('pkg/errors.js').match(/const CODES = new Set\(\[([\s\S]*?)\]\)/);
  assert.ok(set, 'pkg/errors.js has its CODES set');
  return sorted([...set[1].matchAll(/'([a-z_]+)'/g)].map((m) => m[1]));
}

/** The first column of the table in docs/troubleshooting.md. */
function documented() {
  const rows = read('docs/troubleshooting.md').matchAll(/^\| `([a-z_]+)` \|/gm);
  return sorted([...rows].map((m) => m[1]).filter((name) => name !== 'code')); // not the header
}

test('the declared, checked and documented error codes are the same eight', () => {
  const codes = checked();
  assert.equal(codes.length, 8, `pkg/errors.js: ${codes}`);
  assert.deepEqual(declared('pkg/types.d.cts'), codes, 'pkg/types.d.cts');
  assert.deepEqual(declared('pkg/miniprogram-src/index.d.ts'), codes, 'pkg/miniprogram-src/index.d.ts');
  assert.deepEqual(documented(), codes, 'docs/troubleshooting.md');
});

test('every code the core refuses with is one the package recognises', () => {
  const step = read('src/core/step.rs');
  // `StepError::new("code", …)`, and the arms of the matches that choose a refusal's code.
  const direct = [...step.matchAll(/StepError::new\(\s*"([a-z_]+)"/g)].map((m) => m[1]);
  const chosen = [...step.matchAll(/(?:PayError|SubmitError)::\w+[^=\n]*=> "([a-z_]+)"/g)].map((m) => m[1]);
  const used = sorted([...direct, ...chosen]);
  assert.deepEqual(used, ['busy', 'invalid_options', 'invalid_order', 'network', 'server_rejected'], 'the codes src/core/step.rs refuses with');
  for (const code of used) assert.ok(checked().includes(code), `${code} is in pkg/errors.js`);
  for (const code of checked()) {
    assert.ok(isCheckoutGuardError(guardError(code, 'm')), `${code} is recognised`);
  }
  assert.equal(isCheckoutGuardError(guardError('not_a_code', 'm')), false, 'an unknown code is not');
});
