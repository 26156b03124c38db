// `checkout-guard/checkout_guard_bg.wasm`: the web build's WebAssembly module, an asset to hand to
// `init({ module_or_path })` of `checkout-guard/web` (its URL with your bundler's asset import,
// e.g. Vite's `?url`). What importing it yields depends on the bundler, so it is typed opaque.
declare const wasm: unknown;
export default wasm;
