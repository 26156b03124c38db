//! The stateless functions of the npm package: `canonicalize(value)` and `fingerprint(value)`.
//!
//! Both give exactly the core's bytes (RFC 8785, then SHA-256 as lowercase hex), so a merchant
//! backend in any language can recompute a fingerprint the browser sent.

use super::errors::GuardError;
use super::order::{set_json_text, to_canonical};
use crate::core::fingerprint;
use js_sys::Function;
use wasm_bindgen::prelude::*;

/// RFC 8785 (JCS) canonical JSON of `value`. Throws `invalid_order` for what JSON cannot say.
#[wasm_bindgen]
pub fn canonicalize(value: JsValue) -> Result<String, GuardError> {
    to_canonical(&value)
}

/// Lowercase hex SHA-256 of [`canonicalize`]`(value)`: the order's fingerprint.
#[wasm_bindgen]
pub fn fingerprint(value: JsValue) -> Result<String, GuardError> {
    let print = fingerprint::sha256_hex(to_canonical(&value)?.as_bytes());
    Ok(print.as_str().to_owned())
}

/// Installs the package's canonical-text function (`canonicalText` of `pkg/shell.js`, see
/// `order.rs`); called once by that hand-written layer when the wasm is ready. Not public API.
#[wasm_bindgen(js_name = "__setJsonText")]
pub fn install_json_text(json_text: Function) {
    set_json_text(json_text);
}

/// Lowercase hex SHA-256 of `canonical`, text that `pkg/shell.js` already put in RFC 8785
/// form: the [`fingerprint`] of a value whose canonical form the JS engine built. Not public
/// API.
#[wasm_bindgen(js_name = "__sha256Hex")]
pub fn sha256_hex(canonical: &str) -> String {
    fingerprint::sha256_hex(canonical.as_bytes())
        .as_str()
        .to_owned()
}
