'use strict';
// One cold start in Node: load the package (read and compile the wasm), construct a guard.
// Prints { requireMs, constructMs, totalMs } as JSON; run.mjs runs it in fresh processes.
const t0 = performance.now();
const { CheckoutGuard } = require('../../pkg/node.cjs');
const t1 = performance.now();
const guard = new CheckoutGuard({ launch: () => 'ok', storage: 'memory', fetch: () => new Promise(() => {}) });
const t2 = performance.now();
guard.free();
process.stdout.write(JSON.stringify({ requireMs: t1 - t0, constructMs: t2 - t1, totalMs: t2 - t0 }));
process.exit(0);
