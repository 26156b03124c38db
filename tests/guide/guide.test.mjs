// The guide's code is the guide's test: every ```js block of docs/guide.md, in order, run as one
// Node module against the reference backend (the package's `checkout-guard` import pointed at
// pkg/node.cjs, `console.assert` made to throw), then the backend's own count checked: one
// order for the double submit, one attempt and one charge for the three clicks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ROOT, backend, startServer } from '../e2e/harness.mjs';

const run = promisify(execFile);

/** The ```js blocks of a Markdown file, in order. */
function jsBlocks(markdown) {
  return [...markdown.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

test('docs/guide.md runs as written: one order, one attempt, one charge', async () => {
  const guide = readFileSync(join(ROOT, 'docs/guide.md'), 'utf8');
  const blocks = jsBlocks(guide);
  assert.ok(blocks.length >= 4, `only ${blocks.length} code blocks in the guide`);
  const pkg = pathToFileURL(join(ROOT, 'pkg/node.cjs')).href;
  const source = [
    "console.assert = (ok, message) => { if (!ok) throw new Error(`assertion failed: ${message}`); };",
    ...blocks,
  ].join('\n').replace("from 'checkout-guard'", `from '${pkg}'`);
  const dir = mkdtempSync(join(tmpdir(), 'checkout-guard-guide-'));
  const file = join(dir, 'guide.mjs');
  writeFileSync(file, source);
  const server = await startServer();
  try {
    const { stdout } = await run(process.execPath, [file], {
      env: { ...process.env, SHOP_BACKEND: server.url.replace(/\/$/, '') },
      timeout: 60_000,
    });
    const orderNo = /order (\S+) paid with attempt (\S+)/.exec(stdout)?.[1];
    assert.ok(orderNo, `the guide printed no paid order:\n${stdout}`);
    const stats = await backend(server.url).stats(orderNo);
    assert.equal(stats.charges, 1);
    assert.equal(stats.attemptsCreated, 1);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
