// The server entry (dist/server/render.js): the package bundled in, used on first request.
import { fingerprint } from 'checkout-guard';

export function render(html, content) {
  return html.replace('<!--server-fingerprint-->', fingerprint(content));
}
