//! The per-order record the shell persists (localStorage, wx storage), so that a reload, a
//! second tab or a return from the wallet app picks up the same attempt instead of starting a
//! new one.
//!
//! It holds exactly what the guard needs and nothing of the order's content: order number,
//! scope, fingerprint, idempotency key, the server's attempt id and prepay parameters, times and
//! state. Storage is shared with other scripts, other versions of this library and the buyer's
//! own meddling, so decoding trusts nothing: a record that is not exactly a version-1 record
//! for this scope and order is a typed [`RecordError`], and the machine then asks the server
//! before creating anything.

use super::fingerprint::Fingerprint;
use super::ids::{AttemptId, IdempotencyKey, OrderNo};
use super::time::Millis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

/// The record format this build writes and reads.
pub const RECORD_VERSION: u64 = 1;

/// Largest record text accepted when decoding; a real record is well under 5 KB.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// Largest prepay object (serialised) the guard stores; docs/contract.md promises servers 4 KB.
pub const MAX_PREPAY_BYTES: usize = 4096;

/// Where an order's record is stored: `checkout-guard/v1/{namespace}/{scope}/{orderNo}`.
///
/// The scope (e.g. a hash of the buyer's id) is part of the key so that one buyer on a shared
/// device never sees another's record.
pub fn storage_key(namespace: &str, scope: &str, order_no: &OrderNo) -> String {
    format!("checkout-guard/v{RECORD_VERSION}/{namespace}/{scope}/{order_no}")
}

/// How far an order has got, as far as this browser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordState {
    /// A key was minted and the create request may have been sent; the reply is unknown.
    Creating,
    /// The server returned a live attempt; payment was not launched, or the buyer cancelled.
    Ready,
    /// Payment was launched; the buyer may have paid. Ask the server before launching again.
    Launched,
    /// The server said the order is paid. Final.
    Paid,
    /// The server said the attempt is closed or failed: it can never be charged.
    Dead,
}

/// The provider's parameters to start paying an attempt: an opaque JSON object of at most
/// [`MAX_PREPAY_BYTES`]. Deserialising checks the size too, so a record read from storage
/// holds no larger prepay than one built from a server reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Prepay(Map<String, Value>);

impl<'de> Deserialize<'de> for Prepay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Prepay, D::Error> {
        let object = Map::<String, Value>::deserialize(d)?;
        Prepay::new(object).ok_or_else(|| {
            serde::de::Error::custom(format!("prepay larger than {MAX_PREPAY_BYTES} bytes"))
        })
    }
}

impl Prepay {
    /// Accepts a JSON object that is not too large to store.
    pub fn new(object: Map<String, Value>) -> Option<Prepay> {
        let size = serde_json::to_string(&object).map(|s| s.len()).ok()?;
        (size <= MAX_PREPAY_BYTES).then_some(Prepay(object))
    }

    /// The parameters, to hand to the launcher.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// The persisted record of one order (format version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    /// Always [`RECORD_VERSION`].
    pub v: u64,
    /// The business order number.
    pub order_no: OrderNo,
    /// Whose record this is (see [`storage_key`]).
    pub scope: String,
    /// The fingerprint of the order content the key was minted for.
    pub fingerprint: Fingerprint,
    /// The idempotency key of the current attempt's create request.
    pub key: IdempotencyKey,
    /// The server's attempt id, once a create reply arrived.
    #[serde(default)]
    pub attempt_id: Option<AttemptId>,
    /// The prepay parameters of that attempt.
    #[serde(default)]
    pub prepay: Option<Prepay>,
    /// When the key was minted.
    pub created_at: Millis,
    /// When the prepay stops being usable (the server's time, or local TTL), if known.
    #[serde(default)]
    pub expires_at: Option<Millis>,
    /// Last change.
    pub updated_at: Millis,
    /// See [`RecordState`].
    pub state: RecordState,
}

/// Why a stored record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// Not JSON, not a record, or inconsistent (e.g. launched without a prepay).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Written by a newer version of checkout-guard; left for that version to handle.
    #[error("record format version {0} is newer than this build's ({RECORD_VERSION})")]
    FutureVersion(u64),
    /// A valid-looking record for another scope or order (copied or tampered with).
    #[error("record belongs to another {0}")]
    Foreign(&'static str),
}

impl Record {
    /// The record as stored: compact JSON.
    pub fn encode(&self) -> String {
        // Serialising plain data with string keys cannot fail; an empty string would decode as
        // corrupt and so fail safe.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes a stored record, checking it belongs to `scope` and `order_no`.
    pub fn decode(text: &str, scope: &str, order_no: &OrderNo) -> Result<Record, RecordError> {
        if text.len() > MAX_RECORD_BYTES {
            return Err(RecordError::Corrupt(format!(
                "{} bytes is larger than {MAX_RECORD_BYTES}",
                text.len()
            )));
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| RecordError::Corrupt(e.to_string()))?;
        let version = value
            .get("v")
            .and_then(Value::as_u64)
            .ok_or_else(|| RecordError::Corrupt("no version".into()))?;
        if version > RECORD_VERSION {
            return Err(RecordError::FutureVersion(version));
        }
        if version != RECORD_VERSION {
            return Err(RecordError::Corrupt(format!("unknown version {version}")));
        }
        if value.get("scope").and_then(Value::as_str) != Some(scope) {
            return Err(RecordError::Foreign("scope"));
        }
        if value.get("orderNo").and_then(Value::as_str) != Some(order_no.as_str()) {
            return Err(RecordError::Foreign("order"));
        }
        let record: Record =
            serde_json::from_value(value).map_err(|e| RecordError::Corrupt(e.to_string()))?;
        record.check()?;
        Ok(record)
    }

    fn check(&self) -> Result<(), RecordError> {
        let corrupt = |why: &str| Err(RecordError::Corrupt(why.to_owned()));
        if self.updated_at < self.created_at {
            return corrupt("updated before created");
        }
        let has_attempt = self.attempt_id.is_some() && self.prepay.is_some();
        match self.state {
            RecordState::Ready | RecordState::Launched if !has_attempt => {
                corrupt("a live attempt needs its id and prepay")
            }
            RecordState::Dead if self.attempt_id.is_none() => corrupt("a dead attempt has an id"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> OrderNo {
        OrderNo::parse("A1").expect("valid")
    }

    fn sample() -> Record {
        Record {
            v: RECORD_VERSION,
            order_no: order(),
            scope: "buyer-1".into(),
            fingerprint: Fingerprint::parse(&"ab".repeat(32)).expect("valid"),
            key: IdempotencyKey::parse(&"01".repeat(16)).expect("valid"),
            attempt_id: AttemptId::parse("A1x1").ok(),
            prepay: Prepay::new(
                json!({"prepayId": "wx1"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            created_at: Millis(1000),
            expires_at: Some(Millis(301_000)),
            updated_at: Millis(2000),
            state: RecordState::Launched,
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(Record::decode(&r.encode(), "buyer-1", &order()), Ok(r));
    }

    #[test]
    fn holds_no_order_content() {
        let text = sample().encode();
        let value: Value = serde_json::from_str(&text).expect("json");
        let mut keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "attemptId",
                "createdAt",
                "expiresAt",
                "fingerprint",
                "key",
                "orderNo",
                "prepay",
                "scope",
                "state",
                "updatedAt",
                "v"
            ]
        );
    }

    #[test]
    fn storage_key_is_scoped() {
        assert_eq!(
            storage_key("shop", "u1", &order()),
            "checkout-guard/v1/shop/u1/A1"
        );
    }

    #[test]
    fn bad_records_are_typed_errors() {
        let good = sample().encode();
        type Check = fn(&RecordError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            ("not json".into(), |e| matches!(e, RecordError::Corrupt(_))),
            ("[]".into(), |e| matches!(e, RecordError::Corrupt(_))),
            (good.replace("\"v\":1", "\"v\":2"), |e| {
                matches!(e, RecordError::FutureVersion(2))
            }),
            (good.replace("\"v\":1", "\"v\":0"), |e| {
                matches!(e, RecordError::Corrupt(_))
            }),
            (good.replace("buyer-1", "buyer-2"), |e| {
                *e == RecordError::Foreign("scope")
            }),
            (good.replace("\"A1\"", "\"A2\""), |e| {
                *e == RecordError::Foreign("order")
            }),
            (good.replace("\"launched\"", "\"flying\""), |e| {
                matches!(e, RecordError::Corrupt(_))
            }),
            (good.replace("\"v\":1", "\"v\":1,\"extra\":1"), |e| {
                matches!(e, RecordError::Corrupt(_))
            }),
            (
                good.replace("\"createdAt\":1000", "\"createdAt\":3000"),
                |e| matches!(e, RecordError::Corrupt(_)),
            ),
            (
                good.replace(",\"prepay\":{\"prepayId\":\"wx1\"}", ""),
                |e| matches!(e, RecordError::Corrupt(_)),
            ),
            (" ".repeat(MAX_RECORD_BYTES + 1), |e| {
                matches!(e, RecordError::Corrupt(_))
            }),
        ];
        for (text, expected) in cases {
            let err = Record::decode(&text, "buyer-1", &order()).expect_err(&text);
            assert!(expected(&err), "{text}: {err:?}");
        }
    }

    #[test]
    fn a_stored_prepay_over_the_limit_is_corrupt() {
        // Found by `fuzz/` (record_decode): decoding used to skip the size check, and the
        // record then re-encoded larger than it was read.
        let text = sample().encode().replace(
            "{\"prepayId\":\"wx1\"}",
            &format!("{{\"p\":\"{}\"}}", "x".repeat(MAX_PREPAY_BYTES)),
        );
        assert!(text.len() < MAX_RECORD_BYTES);
        assert!(matches!(
            Record::decode(&text, "buyer-1", &order()),
            Err(RecordError::Corrupt(_))
        ));
    }

    #[test]
    fn prepay_size_is_bounded() {
        let big = json!({"p": "x".repeat(MAX_PREPAY_BYTES)});
        assert!(Prepay::new(big.as_object().cloned().unwrap_or_default()).is_none());
    }
}
