//! `canonicalize` / `fingerprint`: the same bytes as the core.

use checkout_guard::core::fingerprint as core;
use checkout_guard::wasm::exports::{canonicalize, fingerprint};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn same_bytes_as_the_core() {
    let value =
        js_sys::JSON::parse(r#"{"b":2,"a":1.0,"c":[1e21,"\u2028"]}"#).unwrap_or(JsValue::NULL);
    assert_eq!(
        canonicalize(value.clone()).ok().as_deref(),
        Some("{\"a\":1,\"b\":2,\"c\":[1e+21,\"\u{2028}\"]}")
    );
    let expected = core::fingerprint_json(r#"{"b":2,"a":1.0,"c":[1e21,"\u2028"]}"#)
        .map(|f| f.as_str().to_owned());
    assert_eq!(fingerprint(value).ok(), expected.ok());
}
