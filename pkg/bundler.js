// checkout-guard for bundlers with WebAssembly ES-module integration (webpack 5
// `experiments.asyncWebAssembly`, vite-plugin-wasm): the wasm is imported as a module.
export { CheckoutGuard, canonicalize, fingerprint } from './gen/bundler/checkout_guard.js';
