//! Results pushed to the business system: the webhook's wire format (this module) and its
//! delivery ([`push`]).
//!
//! When an order becomes paid (from a notify, an active query, a close that found a payment,
//! or the sweeper), the store writes an [`OutboxEvent`] in the same transaction as the paid
//! mark. [`push::run`] delivers due events: `POST` to the configured URL with the JSON body
//! of [`body`], the event id in [`EVENT_ID_HEADER`] and an HMAC-SHA256 signature in
//! [`SIGNATURE_HEADER`] ([`sign`]); any `2xx` acknowledges it, anything else (or no answer
//! within [`push::TIMEOUT`]) is retried with a doubling delay, across restarts, until it is
//! acknowledged. Delivery is at least once: the receiver de-duplicates by the event id, which
//! is the same on every try. `docs/business-api.md` describes the receiver's side; [`verify`]
//! is what a Rust receiver (and the tests) call.

pub mod push;

use crate::model::OutboxEvent;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use thiserror::Error;

/// Header carrying the event id (also in the body as `id`).
pub const EVENT_ID_HEADER: &str = "checkout-guard-event-id";
/// Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "checkout-guard-signature";
/// The one event type so far: an order was paid.
pub const ORDER_PAID: &str = "order.paid";
/// How far a signature's `t` may be from the receiver's clock, as [`verify`] checks it
/// (replays of old deliveries are refused; retries are signed afresh).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// The JSON body of `event`.
pub fn body(event: &OutboxEvent) -> String {
    json!({
        "id": event.event_id,
        "type": ORDER_PAID,
        "createdAt": event.created_at,
        "data": {
            "orderNo": event.order_no,
            "attemptId": event.attempt_id,
            "amount": event.amount,
            "paidAmount": event.paid_amount,
        },
    })
    .to_string()
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The [`SIGNATURE_HEADER`] value for `body` signed at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let signature = mac(secret, timestamp, body)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default();
    format!("t={timestamp},v1={signature}")
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The header is not `t=…,v1=…`.
    #[error("the signature header is not t=<seconds>,v1=<hex>")]
    Malformed,
    /// `t` is more than [`TOLERANCE_SECS`] from now.
    #[error("the signature is too old or from the future")]
    Stale,
    /// No `v1` matches (another secret, or an altered body).
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a delivery as a receiver must: the header's `t` within [`TOLERANCE_SECS`] of
/// `now_secs`, and one of its `v1` signatures (several while a secret is rotated) that of
/// `"<t>.<body>"`, compared in constant time.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now_secs: i64) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| VerifyError::Malformed)?)
            }
            Some(("v1", sig)) => {
                signatures.push(hex::decode(sig).map_err(|_| VerifyError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if now_secs.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    let matches = signatures
        .iter()
        .any(|sig| mac(secret, timestamp, body).is_some_and(|mac| mac.verify_slice(sig).is_ok()));
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> OutboxEvent {
        OutboxEvent {
            event_id: "evt_1".into(),
            order_no: "O1".into(),
            attempt_id: "O1x1ab".into(),
            amount: 100,
            paid_amount: 100,
            created_at: 1_795_431_234_567,
            tries: 1,
            delivered_at: None,
            last_error: None,
        }
    }

    #[test]
    fn the_body_names_the_event_and_the_payment() {
        let body: serde_json::Value = serde_json::from_str(&body(&event())).expect("JSON");
        assert_eq!(
            body,
            json!({"id": "evt_1", "type": "order.paid", "createdAt": 1_795_431_234_567_i64,
                   "data": {"orderNo": "O1", "attemptId": "O1x1ab", "amount": 100, "paidAmount": 100}})
        );
    }

    #[test]
    fn a_signature_verifies_only_fresh_intact_and_with_the_secret() {
        let now = 1_795_431_234;
        let header = sign(b"k", now, b"{}");
        assert_eq!(verify(b"k", &header, b"{}", now), Ok(()));
        assert_eq!(verify(b"k", &header, b"{}", now + TOLERANCE_SECS), Ok(()));
        assert_eq!(
            verify(b"k", &header, b"{ }", now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, b"{}", now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"k", &header, b"{}", now + TOLERANCE_SECS + 1),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(b"k", "v1=00", b"{}", now),
            Err(VerifyError::Malformed)
        );
        assert_eq!(verify(b"k", "t=1", b"{}", now), Err(VerifyError::Malformed));
        assert_eq!(
            verify(b"k", "t=x,v1=00", b"{}", now),
            Err(VerifyError::Malformed)
        );
        // A rotation: the old secret's signature beside the new one.
        let old = sign(b"old", now, b"{}");
        let both = format!("{header},{}", old.split_once(',').map_or("", |(_, v)| v));
        assert_eq!(verify(b"old", &both, b"{}", now), Ok(()));
        assert_eq!(verify(b"k", &both, b"{}", now), Ok(()));
        assert_eq!(
            verify(b"k", &sign(b"k", i64::MIN, b"{}"), b"{}", now),
            Err(VerifyError::Stale)
        );
    }
}
