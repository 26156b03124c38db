// A tiny static server for the bench pages: the repository root on 127.0.0.1, cross-origin
// isolated (COOP + COEP, so `performance.now()` has its finest resolution), `.wasm` as
// `application/wasm` (streaming compilation), and CommonJS/UMD packages wrapped as ES modules
// under `/cjs/<package>` (the npm `canonicalize` and `js-sha256` ship no ES module).
//
// It runs in a process of its own and answers from memory (each file read once, on its first
// request; `warm` reads them before the timed loads), as a production static server or CDN
// does: the start-up bench times the page's requests, and a server sharing its event loop with
// the Playwright client (whose protocol traffic peaks during a page load) and reading the disk
// on every request answered in 1 to 150 ms (measured with a timed handler), which is this
// server's cost, not the package's. Every response is still `no-store`: each load is cold.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cache-Control': 'no-store',
};

/** `path` under `root` as `{ status, type, body }`. */
async function load(root, require, path) {
  try {
    if (path.startsWith('/cjs/')) {
      const file = require.resolve(path.slice('/cjs/'.length));
      const source = await readFile(file, 'utf8');
      const wrapped = `const module = { exports: {} }; const exports = module.exports;\n${source}\nexport default module.exports;\n`;
      return { status: 200, type: TYPES['.js'], body: Buffer.from(wrapped) };
    }
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) throw new Error('outside the root');
    return { status: 200, type: TYPES[extname(file)] ?? 'application/octet-stream', body: await readFile(file) };
  } catch {
    return { status: 404, type: 'text/plain', body: Buffer.from('not found') };
  }
}

/** Serves `root` in this process; resolves with the port. */
function listen(root) {
  const require = createRequire(join(root, 'package.json'));
  const cache = new Map();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = cache.get(path);
    if (!file) {
      file = load(root, require, path);
      cache.set(path, file);
    }
    file.then(({ status, type, body }) => {
      res.writeHead(status, { ...HEADERS, 'Content-Type': type, 'Content-Length': body.length });
      res.end(body);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

/**
 * Starts serving `root` in a child process; resolves with `{ url, warm(paths), close }`
 * (`warm` requests each path once, so that no timed request waits for the disk).
 */
export function serve(root) {
  const child = fork(fileURLToPath(import.meta.url), [root], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the bench server exited (${code})`)));
    child.once('message', (port) => {
      const url = `http://127.0.0.1:${port}`;
      resolve({
        url,
        async warm(paths) {
          for (const path of paths) await (await fetch(url + path)).arrayBuffer();
        },
        close: () =>
          new Promise((done) => {
            child.removeAllListeners('exit');
            child.once('exit', () => done());
            child.kill();
          }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = await listen(process.argv[2]);
  process.send(port);
  // The bench's process went away: so does this one.
  process.on('disconnect', () => process.exit(0));
}
