//! The stateless functions of the npm package: `canonicalize(value)` and `fingerprint(value)`.
//!
//! Both give exactly the core's bytes (RFC 8785, then SHA-256 as lowercase hex), so a merchant
//! backend in any language can recompute a fingerprint the browser sent.

use super::errors::GuardError;
use super::order::to_json;
use crate::core::fingerprint;
use wasm_bindgen::prelude::*;

/// RFC 8785 (JCS) canonical JSON of `value`. Throws `invalid_order` for what JSON cannot say.
#[wasm_bindgen]
pub fn canonicalize(value: JsValue) -> Result<String, GuardError> {
    Ok(fingerprint::canonicalize(&to_json(&value)?)?)
}

/// Lowercase hex SHA-256 of [`canonicalize`]`(value)`: the order's fingerprint.
#[wasm_bindgen]
pub fn fingerprint(value: JsValue) -> Result<String, GuardError> {
    let print = fingerprint::fingerprint(&to_json(&value)?)?;
    Ok(print.as_str().to_owned())
}
