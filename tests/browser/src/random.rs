//! `random`: seeds from `crypto.getRandomValues`.

use checkout_guard::wasm::random::seed;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn two_seeds_differ() {
    let (a, b) = (seed(), seed());
    assert!(a.is_ok());
    assert_ne!(a, b);
}
