// A tiny static server for the bench pages: the repository root on 127.0.0.1, cross-origin
// isolated (COOP + COEP, so `performance.now()` has its finest resolution), `.wasm` as
// `application/wasm` (streaming compilation), and CommonJS/UMD packages wrapped as ES modules
// under `/cjs/<package>` (the npm `canonicalize` and `js-sha256` ship no ES module).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, join, normalize } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** Starts serving `root`; resolves with `{ url, close }`. */
export function serve(root) {
  const require = createRequire(join(root, 'package.json'));
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    try {
      if (path.startsWith('/cjs/')) {
        const file = require.resolve(path.slice('/cjs/'.length));
        const source = await readFile(file, 'utf8');
        const wrapped = `const module = { exports: {} }; const exports = module.exports;\n${source}\nexport default module.exports;\n`;
        res.writeHead(200, { ...headers, 'Content-Type': TYPES['.js'] });
        res.end(wrapped);
        return;
      }
      const file = normalize(join(root, path));
      if (!file.startsWith(root)) throw new Error('outside the root');
      const body = await readFile(file);
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end('not found');
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((done) => server.close(done)),
      });
    });
  });
}
