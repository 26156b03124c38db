//! wasm-bindgen tests of the mini-program's shell in Rust (`checkout_guard::wasm`, feature
//! `miniprogram`), run in headless Chromium by `cargo xtask ci` (`cargo test -p browser-tests
//! --target wasm32-unknown-unknown`). The package's browser shell is JavaScript now
//! (`pkg/platform.js`, tested in Chromium by `tests/e2e/platform.test.mjs`).
//!
//! One module per shell module, asserting what a buyer or a merchant would observe: records
//! in storage, the fallback warning, the request as sent, a silent server timed out, the
//! errors' codes. Natively this crate is empty.

#![cfg(target_arch = "wasm32")]

#[cfg(test)]
mod errors;
#[cfg(test)]
mod exports;
#[cfg(test)]
mod global;
#[cfg(test)]
mod order;
#[cfg(test)]
mod storage;
#[cfg(test)]
mod timer;
#[cfg(test)]
mod transport;

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
