// checkout-guard for browsers, ES-module bundlers (Vite, webpack, Rollup, esbuild) and runtimes
// without a DOM (edge functions, workers).
//
// Hand-written and thin: the generated glue in ./gen/web/ does the work, ./shell.js adds the
// JS fast paths. Nothing is fetched when this module loads (no top-level await: es2020 targets
// such as Vite 5 and 6 build it, and a server or edge build can import it): the wasm (next to
// the glue, found through `import.meta.url`) is fetched on first use, when the first guard is
// made, or by `init()`, which also takes the wasm from elsewhere (a URL, a `Response`, bytes, a
// compiled module). A guard made before the wasm is ready is usable at once: its calls run
// when the wasm is. `canonicalize` and `fingerprint` are synchronous: before the wasm is ready
// they throw a `platform` error that says to `await init()`.
import glueInit, * as glue from './gen/web/checkout_guard.js';
import { wrap } from './shell.js';
import { platformError } from './errors.js';

const api = wrap(glue);
const NOT_READY = 'checkout-guard: the wasm is not loaded yet: `await init()` (or call initSync()) before canonicalize or fingerprint';
let ready = false;
let loading;

function loaded() {
  api.install();
  ready = true;
}

/** Fetches and instantiates the wasm, once; `module_or_path` as the glue's `init` takes it. */
export function init(options) {
  loading ??= glueInit(options).then(loaded, (error) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/** Instantiates the wasm synchronously from bytes or a compiled `WebAssembly.Module`. */
export function initSync(options) {
  if (!ready) {
    glue.initSync(options);
    loaded();
  }
}

/** The guard: the glue's own once the wasm is ready; until then its calls wait for it. */
export class CheckoutGuard {
  #guard;
  #made;

  constructor(options) {
    if (ready) this.#guard = new api.CheckoutGuard(options);
    else this.#made = init().then(() => (this.#guard = new api.CheckoutGuard(options)));
  }

  /**
   * `call(guard)` now when the guard is made, else once it is: a promise of the result, which
   * rejects (unhandled, for the calls that return nothing) when the wasm or the options failed.
   */
  #with(call) {
    return this.#guard ? call(this.#guard) : this.#made.then(call);
  }

  pay(order) {
    return this.#with((guard) => guard.pay(order));
  }

  submit(content) {
    return this.#with((guard) => guard.submit(content));
  }

  attach(element, getOrder) {
    if (this.#guard) return this.#guard.attach(element, getOrder);
    // Before the wasm is ready a click must not be lost, nor become two payments: the first
    // one is held (the button shows busy, later clicks are swallowed) and replayed on the
    // guard's own handler once the guard exists, which pays exactly as for any click.
    let detach;
    let detached = false;
    let held = false;
    const early = (event) => {
      event.preventDefault();
      event.stopImmediatePropagation();
      if (held) return;
      held = true;
      element.setAttribute('aria-busy', 'true');
      element.setAttribute('data-checkout-state', 'busy');
    };
    const release = () => {
      element.removeEventListener('click', early, true);
      if (held) {
        element.removeAttribute('aria-busy');
        element.removeAttribute('data-checkout-state');
      }
    };
    element.addEventListener('click', early, true);
    this.#with((guard) => {
      release();
      if (detached) return;
      detach = guard.attach(element, getOrder);
      if (held) element.click();
    }).catch((error) => {
      // The wasm or the options failed: the button is usable again (the rejection stays
      // visible as unhandled, as for every call made before the guard existed).
      release();
      throw error;
    });
    return () => {
      detached = true;
      release();
      detach?.();
    };
  }

  on(type, listener) {
    let off;
    let gone = false;
    this.#with((guard) => {
      if (!gone) off = guard.on(type, listener);
    });
    return () => {
      gone = true;
      off?.();
    };
  }

  resume(orderNo) {
    this.#with((guard) => guard.resume(orderNo));
  }

  forget(orderNo) {
    this.#with((guard) => guard.forget(orderNo));
  }

  free() {
    this.#with((guard) => guard.free());
  }
}

export function canonicalize(value) {
  if (!ready) throw platformError(NOT_READY);
  return api.canonicalize(value);
}

export function fingerprint(value) {
  if (!ready) throw platformError(NOT_READY);
  return api.fingerprint(value);
}

export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';
