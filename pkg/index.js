// checkout-guard for browsers, ES-module bundlers (Vite, webpack, Rollup, esbuild) and runtimes
// without a DOM (edge functions, workers).
//
// Hand-written and thin: ./shell.js is the API (the JS driver of ./guard.js over the core,
// bound by ./core.js; ./load.js finds and instantiates the wasm). Nothing is fetched when this module loads (no top-level await: es2020 targets
// such as Vite 5 and 6 build it, and a server or edge build can import it): the wasm (in ./gen/web/,
// found through `import.meta.url`) is fetched on first use, when the first guard is
// made, or by `init()`, which also takes the wasm from elsewhere (a URL, a `Response`, bytes, a
// compiled module). A guard made before the wasm is ready is usable at once: its calls run
// when the wasm is. `canonicalize` and `fingerprint` are synchronous: before the wasm is ready
// they throw a `platform` error that says to `await init()`.
import { Core, bound, sha256Hex } from './core.js';
import { init as load, initSync as loadSync } from './load.js';
import { wrap } from './shell.js';
import { platformError } from './errors.js';
// The rest of the module graph, named here so that a browser loading the package unbundled
// fetches it in one round trip, not one per level (shell → guard → platform). Bundlers drop these.
import {} from './browser.js';
import {} from './button.js';
import {} from './canonical.js';
import {} from './guard.js';
import {} from './platform.js';

const api = wrap({ Core, sha256Hex });
const NOT_READY = 'checkout-guard: the wasm is not loaded yet: `await init()` (or call initSync()) before canonicalize or fingerprint';

/** Fetches and instantiates the wasm, once; `module_or_path` as ./load.js takes it. */
export function init(options) {
  return load(options);
}

/** Instantiates the wasm synchronously from bytes or a compiled `WebAssembly.Module`. */
export function initSync(options) {
  loadSync(options);
}

/**
 * The guard: the shell's own once the wasm is ready; until then its calls wait for it. A wasm
 * that fails to load (a network blip) does not disable the guard for the page's life: the next
 * call, or the next click on an attached button, loads it again.
 */
export class CheckoutGuard {
  #guard;
  #made;
  #options;
  /** What `on` and `attach` set up before the guard existed: run once it does, however many loads that takes. */
  #setup = [];

  constructor(options) {
    if (bound()) {
      this.#guard = new api.CheckoutGuard(options);
    } else {
      this.#options = options;
      // Started now; a failure is reported by the calls that wait for it.
      this.#make().catch(() => {});
    }
  }

  /** The guard once the wasm is ready; after a failed load, the next caller tries again. */
  #make() {
    this.#made ??= init().then(
      () => {
        this.#guard = new api.CheckoutGuard(this.#options);
        for (const setup of this.#setup.splice(0)) setup(this.#guard);
        return this.#guard;
      },
      (error) => {
        this.#made = undefined;
        throw error;
      },
    );
    return this.#made;
  }

  /**
   * `call(guard)` now when the guard is made, else once it is: a promise of the result, which
   * rejects (unhandled, for the calls that return nothing) when the wasm or the options failed.
   */
  #with(call) {
    return this.#guard ? call(this.#guard) : this.#make().then(call);
  }

  /** `setup(guard)` now, or when the guard is made (a failed load does not drop it). */
  #whenMade(setup) {
    if (this.#guard) setup(this.#guard);
    else this.#setup.push(setup);
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
    // guard's own handler once the guard exists, which pays exactly as for any click. If the
    // wasm cannot be loaded, the hold ends (the button usable again) and the next click
    // loads it again.
    let detach;
    let detached = false;
    let held = false;
    const unhold = () => {
      if (!held) return;
      held = false;
      element.removeAttribute('aria-busy');
      element.removeAttribute('data-checkout-state');
    };
    const early = (event) => {
      event.preventDefault();
      event.stopImmediatePropagation();
      if (held) return;
      held = true;
      element.setAttribute('aria-busy', 'true');
      element.setAttribute('data-checkout-state', 'busy');
      this.#make().catch(unhold);
    };
    element.addEventListener('click', early, true);
    this.#whenMade((guard) => {
      element.removeEventListener('click', early, true);
      const replay = held;
      unhold();
      if (detached) return;
      detach = guard.attach(element, getOrder);
      if (replay) element.click();
    });
    return () => {
      detached = true;
      element.removeEventListener('click', early, true);
      unhold();
      detach?.();
    };
  }

  on(type, listener) {
    let off;
    let gone = false;
    this.#whenMade((guard) => {
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
  if (!bound()) throw platformError(NOT_READY);
  return api.canonicalize(value);
}

export function fingerprint(value) {
  if (!bound()) throw platformError(NOT_READY);
  return api.fingerprint(value);
}

export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';
