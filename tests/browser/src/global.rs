//! `global`: globals found on `globalThis`.

use checkout_guard::wasm::global::{method, property};
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn finds_globals_and_reports_missing_ones() {
    assert!(property("setTimeout").is_some());
    assert!(property("definitelyNotAGlobal_checkoutGuard").is_none());
    assert!(method(&js_sys::global(), "clearTimeout").is_some());
}
