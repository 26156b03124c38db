// checkout-guard with caller-supplied wasm: nothing is fetched until you call `init`.
//
//   import init, { fingerprint } from 'checkout-guard/web';
//   await init({ module_or_path: '/assets/checkout_guard_bg.wasm' });   // URL, Response,
//                                                                        // bytes or Module
// `initSync({ module })` takes bytes or a compiled `WebAssembly.Module` synchronously.
export { default, initSync, CheckoutGuard, canonicalize, fingerprint } from './gen/web/checkout_guard.js';
