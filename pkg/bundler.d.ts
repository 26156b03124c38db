// `checkout-guard/bundler`: the same API as the package's root entry (wasm through the bundler's
// WebAssembly ESM integration instead of a fetch).
export * from './index.js';
