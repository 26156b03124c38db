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
//!
//! The format is compact JSON, members in a fixed order (`v`, `orderNo`, `scope`,
//! `fingerprint`, `key`, `attemptId`, `prepay`, `createdAt`, `expiresAt`, `updatedAt`, `state`;
//! absent values as `null`), read and written with `core::json`.

use super::fingerprint::Fingerprint;
use super::ids::{AttemptId, IdempotencyKey, OrderNo};
use super::json::{self, concat, Fields, Object, Raw, Writer};
use super::time::Millis;
use crate::prelude::*;
use core::fmt;
use thiserror::Error;

/// The record format this build writes and reads.
pub const RECORD_VERSION: u64 = 1;

/// The start of every storage key of this format: `checkout-guard/v{RECORD_VERSION}/`.
pub const KEY_PREFIX: &str = "checkout-guard/v1/";

/// Largest record text accepted when decoding; a real record is well under 5 KB.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// Largest prepay object (compact JSON) the guard stores; docs/contract.md promises servers 4 KB.
pub const MAX_PREPAY_BYTES: usize = 4096;

/// Where an order's record is stored: `checkout-guard/v1/{namespace}/{scope}/{orderNo}`.
///
/// The scope (e.g. a hash of the buyer's id) is part of the key so that one buyer on a shared
/// device never sees another's record.
pub fn storage_key(namespace: &str, scope: &str, order_no: &OrderNo) -> String {
    concat(&[KEY_PREFIX, namespace, "/", scope, "/", order_no.as_str()])
}

/// How far an order has got, as far as this browser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
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

impl RecordState {
    /// The state as stored (and in `recordLoaded` events).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Creating => "creating",
            RecordState::Ready => "ready",
            RecordState::Launched => "launched",
            RecordState::Paid => "paid",
            RecordState::Dead => "dead",
        }
    }

    fn parse(text: &str) -> Option<RecordState> {
        [
            RecordState::Creating,
            RecordState::Ready,
            RecordState::Launched,
            RecordState::Paid,
            RecordState::Dead,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// The provider's parameters to start paying an attempt: a JSON object of at most
/// [`MAX_PREPAY_BYTES`], kept as the compact text the server sent. The core never looks inside;
/// the shell hands it to the launcher as an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepay(String);

impl Prepay {
    /// Accepts the raw text of a JSON object (its whitespace between tokens dropped) that is
    /// not too large to store.
    pub fn from_raw(raw: Raw<'_>) -> Option<Prepay> {
        if !raw.text().starts_with('{') {
            return None;
        }
        let text = json::compact(raw.text());
        (text.len() <= MAX_PREPAY_BYTES).then_some(Prepay(text))
    }

    /// Accepts JSON text that is one object, not too large to store.
    pub fn parse(text: &str) -> Option<Prepay> {
        Prepay::from_raw(Raw::parse(text).ok()?)
    }

    /// The parameters as compact JSON text (an object), to hand to the launcher.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Accepts a JSON object that is not too large to store (native builds: tests, the
    /// reference backend's native shell).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(object: serde_json::Map<String, serde_json::Value>) -> Option<Prepay> {
        Prepay::parse(&serde_json::to_string(&object).ok()?)
    }

    /// The parameters as a `serde_json` object (native builds).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn as_map(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

/// The persisted record of one order (format version 1).
#[derive(Debug, Clone, PartialEq)]
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
    pub attempt_id: Option<AttemptId>,
    /// The prepay parameters of that attempt.
    pub prepay: Option<Prepay>,
    /// When the key was minted.
    pub created_at: Millis,
    /// When the prepay stops being usable (the server's time, or local TTL), if known.
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
    Corrupt(String),
    /// Written by a newer version of checkout-guard; left for that version to handle.
    FutureVersion(u64),
    /// A valid-looking record for another scope or order (copied or tampered with).
    Foreign(&'static str),
}

impl RecordError {
    /// The error's text, built without `core::fmt` (it reaches the page in events).
    pub fn message(&self) -> String {
        match self {
            RecordError::Corrupt(why) => concat(&["corrupt record: ", why]),
            RecordError::FutureVersion(v) => concat(&[
                "record format version ",
                &json::decimal(*v),
                " is newer than this build's (1)",
            ]),
            RecordError::Foreign(what) => concat(&["record belongs to another ", what]),
        }
    }

    /// `Corrupt`, for a member that is missing or of the wrong kind.
    pub(crate) fn field(name: &str) -> RecordError {
        RecordError::Corrupt(concat(&["missing or invalid `", name, "`"]))
    }

    /// `Corrupt`, for a text over `limit` bytes.
    pub(crate) fn too_large(len: usize, limit: usize) -> RecordError {
        RecordError::Corrupt(concat(&[
            &json::decimal(len as u64),
            " bytes is larger than ",
            &json::decimal(limit as u64),
        ]))
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// The checks every stored format shares: size, JSON object, version, scope, the member that
/// says whose it is (`owner`: the order number, or the fingerprint of a submission), and no
/// member outside the format's `members`.
pub(crate) fn open<'a>(
    text: &'a str,
    limit: usize,
    scope: &str,
    owner: (&'static str, &str, &'static str),
    members: &[&str],
) -> Result<Object<'a>, RecordError> {
    if text.len() > limit {
        return Err(RecordError::too_large(text.len(), limit));
    }
    let object = Object::parse(text).map_err(|e| RecordError::Corrupt(e.message()))?;
    let version = object
        .get("v")
        .and_then(Raw::as_u64)
        .ok_or_else(|| RecordError::Corrupt("no version".into()))?;
    if version > RECORD_VERSION {
        return Err(RecordError::FutureVersion(version));
    }
    if version != RECORD_VERSION {
        return Err(RecordError::Corrupt(concat(&[
            "unknown version ",
            &json::decimal(version),
        ])));
    }
    if object.get("scope").and_then(Raw::as_str).as_deref() != Some(scope) {
        return Err(RecordError::Foreign("scope"));
    }
    let (member, value, what) = owner;
    if object.get(member).and_then(Raw::as_str).as_deref() != Some(value) {
        return Err(RecordError::Foreign(what));
    }
    if let Some(name) = object.unknown(members) {
        return Err(RecordError::Corrupt(concat(&[
            "unknown member `",
            name,
            "`",
        ])));
    }
    Ok(object)
}

/// The members of a [`Record`], in the order they are written.
const RECORD_MEMBERS: [&str; 11] = [
    "v",
    "orderNo",
    "scope",
    "fingerprint",
    "key",
    "attemptId",
    "prepay",
    "createdAt",
    "expiresAt",
    "updatedAt",
    "state",
];

impl Record {
    /// The record as stored: compact JSON.
    pub fn encode(&self) -> String {
        let mut w = Writer::new();
        w.u64("v", self.v);
        w.str("orderNo", self.order_no.as_str());
        w.str("scope", &self.scope);
        w.str("fingerprint", self.fingerprint.as_str());
        w.str("key", self.key.as_str());
        w.opt_str("attemptId", self.attempt_id.as_ref().map(AttemptId::as_str));
        match &self.prepay {
            Some(prepay) => w.raw("prepay", prepay.as_str()),
            None => w.null("prepay"),
        }
        w.u64("createdAt", self.created_at.0);
        w.opt_u64("expiresAt", self.expires_at.map(|t| t.0));
        w.u64("updatedAt", self.updated_at.0);
        w.str("state", self.state.as_str());
        w.finish()
    }

    /// Decodes a stored record, checking it belongs to `scope` and `order_no`.
    pub fn decode(text: &str, scope: &str, order_no: &OrderNo) -> Result<Record, RecordError> {
        let o = open(
            text,
            MAX_RECORD_BYTES,
            scope,
            ("orderNo", order_no.as_str(), "order"),
            &RECORD_MEMBERS,
        )?;
        let record = Record::read(&o, scope, order_no).map_err(RecordError::field)?;
        record.check()?;
        Ok(record)
    }

    /// The members of an opened record; `Err` names the first missing or invalid one.
    fn read(o: &Object<'_>, scope: &str, order_no: &OrderNo) -> Result<Record, &'static str> {
        Ok(Record {
            v: RECORD_VERSION,
            order_no: order_no.clone(),
            scope: scope.to_owned(),
            fingerprint: o.required("fingerprint", |r| Fingerprint::parse(&r.as_str()?))?,
            key: o.required("key", |r| IdempotencyKey::parse(&r.as_str()?).ok())?,
            attempt_id: o.optional("attemptId", |r| AttemptId::parse(&r.as_str()?).ok())?,
            prepay: o.optional("prepay", Prepay::from_raw)?,
            created_at: o.required("createdAt", millis)?,
            expires_at: o.optional("expiresAt", millis)?,
            updated_at: o.required("updatedAt", millis)?,
            state: o.required("state", |r| RecordState::parse(&r.as_str()?))?,
        })
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

/// A time member: milliseconds since the epoch.
pub(crate) fn millis(raw: Raw<'_>) -> Option<Millis> {
    raw.as_u64().map(Millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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

    #[test]
    fn the_stored_text_is_what_serde_json_wrote() {
        // Byte for byte the format of the serde-derived encoder this replaced (issue 13), so
        // records written by earlier builds and by this one are the same text.
        assert_eq!(
            sample().encode(),
            format!(
                r#"{{"v":1,"orderNo":"A1","scope":"buyer-1","fingerprint":"{}","key":"{}","attemptId":"A1x1","prepay":{{"prepayId":"wx1"}},"createdAt":1000,"expiresAt":301000,"updatedAt":2000,"state":"launched"}}"#,
                "ab".repeat(32),
                "01".repeat(16)
            )
        );
        let bare = Record {
            attempt_id: None,
            prepay: None,
            expires_at: None,
            state: RecordState::Creating,
            ..sample()
        };
        let text = bare.encode();
        assert!(
            text.contains(r#""attemptId":null,"prepay":null,"createdAt":1000,"expiresAt":null,"#)
        );
        assert_eq!(Record::decode(&text, "buyer-1", &order()), Ok(bare));
        assert_eq!(KEY_PREFIX, format!("checkout-guard/v{RECORD_VERSION}/"));
    }

    #[test]
    fn a_prepay_is_kept_as_sent_without_the_whitespace() {
        let text = sample().encode().replace(
            r#"{"prepayId":"wx1"}"#,
            r#"{ "z": [1, 2.50], "a" : "x y" }"#,
        );
        let record = Record::decode(&text, "buyer-1", &order()).expect("valid");
        assert_eq!(
            record.prepay.as_ref().map(Prepay::as_str),
            Some(r#"{"z":[1,2.50],"a":"x y"}"#)
        );
        for bad in ["[]", "\"wx1\"", "1"] {
            let text = sample().encode().replace(r#"{"prepayId":"wx1"}"#, bad);
            assert!(matches!(
                Record::decode(&text, "buyer-1", &order()),
                Err(RecordError::Corrupt(_))
            ));
        }
    }
}
