// The hand-written layer shared by every entry point (index.js, web.js, bundler.js, and
// node.cjs through its CommonJS bundle gen/shell.cjs): the package's API over the core's
// binding (./core.js: `Core`, `sha256Hex` over the wasm of src/wasm/step.rs). The guard's
// JS driver is ./guard.js, on the browser's platform pieces (./browser.js, ./platform.js); the
// canonical JSON is ./canonical.js. None of them decides anything the core does not.
import { TabLocks, browserStore, cryptoSeed, globalFetch, openChannel, watchVisibility } from './browser.js';
import { adopt, attach } from './button.js';
import { canonicalize, canonicalText } from './canonical.js';
import { guardClass } from './guard.js';

export { canonicalText };
export { CheckoutGuardError, isCheckoutGuardError } from './errors.js';

/** What a browser, a worker, Node or an edge runtime gives the guard (see ./guard.js). */
export const browserPlatform = {
  transport: 'fetch',
  defaultTransport: globalFetch,
  defaultStorage: 'local',
  storageNames: ['local'],
  store: browserStore,
  seed: cryptoSeed,
  locks: (store, owner) => new TabLocks(store, owner),
  channel: openChannel,
  watch: watchVisibility,
  attach,
  adopt,
};

/** The public API over the core's binding (usable once its wasm is bound). */
export function wrap(binding) {
  return {
    CheckoutGuard: guardClass(binding, browserPlatform),
    canonicalize,
    fingerprint: (value) => binding.sha256Hex(canonicalize(value)),
  };
}
