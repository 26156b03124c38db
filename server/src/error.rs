//! The one error type HTTP handlers return, and its JSON form; the rules' refusals
//! ([`RuleError`]) get their status and stable code here.
//!
//! Every error reply is `{"error": "<code>", "message": "<text>"}` (docs/contract.md): the
//! `code` is stable and is what clients branch on; `Retry-After` rides along where the
//! contract asks for it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use thiserror::Error;

use crate::rules::RuleError;
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

    /// `400 invalid_idempotency_key`.
    pub fn invalid_idempotency_key(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", message)
    }

    /// `422 fingerprint_mismatch`.
    pub fn fingerprint_mismatch(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "fingerprint_mismatch",
            message,
        )
    }
}

impl From<StoreError> for ApiError {
    /// A database that cannot be reached (or gave up for a passing reason) is `503
    /// unavailable` + `Retry-After: 1`: the request's transaction committed whole or not at
    /// all, and the retry (with the same key) finds out which. Anything else is `500`.
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(%err, "storage unavailable");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "storage unavailable, try again",
            )
            .retry_after(1);
        }
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

impl From<RuleError> for ApiError {
    fn from(err: RuleError) -> Self {
        let err = match err {
            RuleError::Store(store) => return ApiError::from(store),
            other => other,
        };
        let (status, code, retry_after) = match &err {
            // Taken out above; kept for exhaustiveness.
            RuleError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
            RuleError::UnknownOrder(_) => (StatusCode::NOT_FOUND, "unknown_order", None),
            RuleError::UnknownAttempt(_) => (StatusCode::NOT_FOUND, "unknown_attempt", None),
            RuleError::AlreadyPaid(_) => (StatusCode::CONFLICT, "already_paid", None),
            RuleError::PaymentInProgress | RuleError::SubmissionInProgress => {
                (StatusCode::CONFLICT, "in_progress", Some(1))
            }
            RuleError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy", Some(1)),
            RuleError::AttemptOpen(_) => (StatusCode::CONFLICT, "attempt_open", Some(1)),
            RuleError::PaymentKeyReused | RuleError::SubmissionKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "key_reused", None)
            }
            RuleError::FingerprintMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "fingerprint_mismatch",
                None,
            ),
            RuleError::OrderExists(_) => (StatusCode::CONFLICT, "order_exists", None),
            RuleError::ProviderUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unavailable",
                Some(1),
            ),
            RuleError::InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body", None),
        };
        let reply = ApiError::new(status, code, err.to_string());
        match retry_after {
            Some(secs) => reply.retry_after(secs),
            None => reply,
        }
    }
}
