//! The one error type HTTP handlers return, and its JSON form.
//!
//! Every error reply is `{"error": "<code>", "message": "<text>"}` (docs/contract.md): the
//! `code` is stable and is what clients branch on; `Retry-After` rides along where the
//! contract asks for it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use thiserror::Error;

pub use crate::store::StoreError;

/// An error reply: status, stable code, human text, optional `Retry-After` seconds.
#[derive(Debug, Clone, Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Text for humans.
    pub message: String,
    /// `Retry-After` in seconds, when the client should come back.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After: secs`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// `400 invalid_body`.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_body", message)
    }

    /// `404 unknown_order`.
    pub fn unknown_order(order_no: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_order",
            format!("no business order {order_no:?}"),
        )
    }

    /// `409 already_paid`.
    pub fn already_paid(order_no: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "already_paid",
            format!("order {order_no} is paid"),
        )
    }

    /// `409 in_progress` with `Retry-After: 1`.
    pub fn in_progress(what: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "in_progress",
            format!("{what} is still running; retry with the same key"),
        )
        .retry_after(1)
    }

    /// `409 attempt_open` with `Retry-After: 1`: the order's content cannot change while an
    /// attempt for the old content may still be paid and the provider cannot close it.
    pub fn attempt_open(order_no: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "attempt_open",
            format!(
                "order {order_no} has a payment attempt the provider could not close; retry the change"
            ),
        )
        .retry_after(1)
    }

    /// `400 invalid_idempotency_key`.
    pub fn invalid_idempotency_key(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", message)
    }

    /// `422 key_reused`.
    pub fn key_reused(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "key_reused", message)
    }

    /// `422 fingerprint_mismatch`.
    pub fn fingerprint_mismatch(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "fingerprint_mismatch",
            message,
        )
    }

    /// `503 busy` with `Retry-After: 1`.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message).retry_after(1)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(%err, "storage failure");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "storage failure",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "message": self.message});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
