//! wasm-bindgen tests of the browser shell (`checkout_guard::wasm`), run in headless Chromium
//! by `cargo xtask ci` (`cargo test -p browser-tests --target wasm32-unknown-unknown`).
//!
//! One module per shell module, asserting what a buyer or a merchant would observe: records
//! in storage, the fallback warning, button attributes, a refused second lock, a message
//! arriving on another channel. Natively this crate is empty.

#![cfg(target_arch = "wasm32")]

#[cfg(test)]
mod broadcast;
#[cfg(test)]
mod button;
#[cfg(test)]
mod checkout;
#[cfg(test)]
mod errors;
#[cfg(test)]
mod exports;
#[cfg(test)]
mod global;
#[cfg(test)]
mod order;
#[cfg(test)]
mod random;
#[cfg(test)]
mod storage;
#[cfg(test)]
mod tablock;
#[cfg(test)]
mod timer;
#[cfg(test)]
mod transport;
#[cfg(test)]
mod visibility;

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
