// Finding and instantiating the wasm for the browser, Node and edge entries (./index.js,
// ./web.js, ./node.cjs through gen/shell.cjs), then binding it (./core.js). The wasm imports
// nothing. What `init` accepts is what wasm-bindgen's `init` did, so code written for it keeps
// working: `{ module_or_path }` with a URL (string, `URL`, `Request`), a `Response` or a promise
// of one, bytes or a compiled `WebAssembly.Module`; by default the wasm beside this module,
// found through `new URL(…, import.meta.url)` as Vite and webpack expect.
import { bind, bound } from './core.js';

/** The argument of `init`/`initSync`: `{ module_or_path }` / `{ module }`, or (older code) itself. */
function unwrap(options, key) {
  return options !== undefined && options !== null && Object.getPrototypeOf(options) === Object.prototype ? options[key] : options;
}

/** Instantiates `source` (a `Response`, bytes or a `WebAssembly.Module`). */
async function instantiate(source) {
  if (typeof Response === 'function' && source instanceof Response) {
    if (!source.ok) throw new Error(`failed to fetch the wasm: ${source.status} ${source.statusText} fetching '${source.url}'`);
    if (typeof WebAssembly.instantiateStreaming === 'function' && source.headers.get('Content-Type') === 'application/wasm') {
      return (await WebAssembly.instantiateStreaming(source, {})).instance;
    }
    source = await source.arrayBuffer();
  }
  const result = await WebAssembly.instantiate(source, {});
  return result instanceof WebAssembly.Instance ? result : result.instance;
}

let loading;

/**
 * Fetches (by default) and instantiates the wasm, once: later calls return the same promise;
 * after a failure, the next call tries again.
 */
export function init(options) {
  if (loading === undefined) {
    loading = bound() ? Promise.resolve() : fetchAndBind(options);
    loading.catch(() => {
      loading = undefined;
    });
  }
  return loading;
}

async function fetchAndBind(options) {
  let source = unwrap(options, 'module_or_path') ?? new URL('./gen/web/checkout_guard_bg.wasm', import.meta.url);
  if (typeof source === 'string' || source instanceof URL || (typeof Request === 'function' && source instanceof Request)) source = fetch(source);
  const instance = await instantiate(await source);
  // initSync may have bound one meanwhile: the guards made since use that one.
  if (!bound()) bind(instance.exports);
}

/** Instantiates the wasm synchronously from bytes or a compiled `WebAssembly.Module`. */
export function initSync(options) {
  if (bound()) return;
  let module = unwrap(options, 'module');
  if (!(module instanceof WebAssembly.Module)) module = new WebAssembly.Module(module);
  bind(new WebAssembly.Instance(module, {}).exports);
}
