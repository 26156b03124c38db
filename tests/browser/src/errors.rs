//! `errors`: JS Errors carry the stable code.

use checkout_guard::core::fingerprint::FingerprintError;
use checkout_guard::wasm::errors::{ErrorCode, GuardError};
use js_sys::{Error, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn js_error_carries_code_name_and_message() {
    let value: JsValue = GuardError::new(ErrorCode::Network, "offline").into();
    let error: Error = value.clone().unchecked_into();
    assert_eq!(String::from(error.message()), "offline");
    assert_eq!(String::from(error.name()), "CheckoutGuardError");
    let code = Reflect::get(&value, &JsValue::from_str("code"))
        .ok()
        .and_then(|c| c.as_string());
    assert_eq!(code.as_deref(), Some("network"));
}

#[wasm_bindgen_test]
fn fingerprint_errors_are_invalid_order() {
    let error = GuardError::from(FingerprintError::TooDeep);
    assert_eq!(error.code, ErrorCode::InvalidOrder);
}
