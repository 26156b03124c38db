//! Rust errors → JS `Error`s with a stable `code`: the only place that conversion happens.
//!
//! Callers branch on `error.code`, never on the message, so the codes below are part of the
//! package's API (documented in the README and in `pkg/index.d.ts`); messages may change.

use crate::core::fingerprint::FingerprintError;
use js_sys::{Error, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// The stable `code` of every error the package throws or rejects with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Constructor options are unknown, of the wrong type or impossible.
    InvalidOptions,
    /// The order (or its content) cannot be paid as given: not JSON-representable, bad number.
    InvalidOrder,
    /// A payment for this order with other content is in progress (or `forget` while busy).
    Busy,
    /// The server's reply breaks `docs/contract.md`.
    ServerContract,
    /// The server refused the request for good (400, 404, fingerprint mismatch).
    ServerRejected,
    /// The request did not get an HTTP reply: offline, DNS, CORS, time-out.
    Network,
    /// The storage cannot be used at all (not the fallback case, which only warns).
    Storage,
    /// A platform API the shell needs is missing or failed in a way it cannot recover from.
    Platform,
}

impl ErrorCode {
    /// The string callers compare `error.code` with.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidOptions => "invalid_options",
            ErrorCode::InvalidOrder => "invalid_order",
            ErrorCode::Busy => "busy",
            ErrorCode::ServerContract => "server_contract",
            ErrorCode::ServerRejected => "server_rejected",
            ErrorCode::Network => "network",
            ErrorCode::Storage => "storage",
            ErrorCode::Platform => "platform",
        }
    }
}

/// An error on its way to JavaScript: a code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardError {
    pub code: ErrorCode,
    pub message: String,
}

impl GuardError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> GuardError {
        GuardError {
            code,
            message: message.into(),
        }
    }
}

impl From<FingerprintError> for GuardError {
    fn from(error: FingerprintError) -> GuardError {
        GuardError::new(ErrorCode::InvalidOrder, error.message())
    }
}

impl From<GuardError> for JsValue {
    fn from(error: GuardError) -> JsValue {
        js_error(error.code, &error.message)
    }
}

/// A JS `Error` with `name = "CheckoutGuardError"` and the given `code`.
pub fn js_error(code: ErrorCode, message: &str) -> JsValue {
    let error = Error::new(message);
    error.set_name("CheckoutGuardError");
    // Setting a property on a fresh, extensible Error cannot fail; if it somehow did, the
    // caller still gets the Error with its message, which is the better failure.
    let _ = Reflect::set(
        &error,
        &JsValue::from_str("code"),
        &JsValue::from_str(code.as_str()),
    );
    error.into()
}

/// The message of a JS exception, for wrapping platform failures in a [`GuardError`]: an
/// `Error`'s message, a string as it is, anything else as `JSON.stringify` writes it.
pub fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<Error>() {
        return String::from(error.message());
    }
    value
        .as_string()
        .or_else(|| {
            js_sys::JSON::stringify(value)
                .ok()
                .and_then(|s| s.as_string())
        })
        .unwrap_or_else(|| "a value that is not an Error".to_owned())
}
