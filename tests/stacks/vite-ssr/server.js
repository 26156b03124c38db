// The app's own server: the page rendered by the SSR bundle (a fingerprint computed there),
// the client build's assets as they are. PORT from the environment.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { render } from './dist/server/render.js';

const CLIENT = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'dist/client');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const CONTENT = { amount: 1999, currency: 'CNY', items: [{ sku: 'tea', qty: 2 }] };

createServer(async (request, response) => {
  const path = normalize(new URL(request.url, 'http://x').pathname);
  try {
    if (path === '/') {
      const html = render(await readFile(join(CLIENT, 'index.html'), 'utf8'), CONTENT);
      response.writeHead(200, { 'content-type': TYPES['.html'] }).end(html);
    } else {
      const body = await readFile(join(CLIENT, path));
      response.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body);
    }
  } catch (error) {
    response.writeHead(error.code === 'ENOENT' ? 404 : 500).end(String(error));
  }
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${process.env.PORT}`));
