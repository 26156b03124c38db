//! The per-submission record: which business order one submission of the order form made, so
//! that a double tap, a reload, a second tab or an app launched again gets the **same** order
//! instead of a second one (`docs/contract.md` §4).
//!
//! Keyed by the content's fingerprint, it holds the fingerprint, the idempotency key, the
//! order number once the server gave it and the end of the server's de-duplication window:
//! never the content itself. Decoding trusts nothing, as for [`crate::core::record`].

use super::fingerprint::Fingerprint;
use super::ids::{IdempotencyKey, OrderNo};
use super::json::{concat, Fields, Object, Writer};
use super::record::{millis, open, RecordError, KEY_PREFIX, RECORD_VERSION};
use super::time::Millis;
use crate::prelude::*;

/// Longest submission record accepted from storage (bytes): a few hundred is usual.
pub const MAX_SUBMISSION_BYTES: usize = 2048;

/// The storage key of the submission with `fingerprint`. `submit:` and 64 hex digits make 71
/// characters, longer than any order number (64 at most), so it never meets an order's key.
pub fn submission_key(namespace: &str, scope: &str, fingerprint: &Fingerprint) -> String {
    concat(&[
        KEY_PREFIX,
        namespace,
        "/",
        scope,
        "/submit:",
        fingerprint.as_str(),
    ])
}

/// What one submission of the order form is known to have made.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionRecord {
    /// Format version ([`RECORD_VERSION`]).
    pub v: u64,
    /// Whose submission (the guard's scope).
    pub scope: String,
    /// The submitted content's fingerprint.
    pub fingerprint: Fingerprint,
    /// The `Idempotency-Key` of the submission request: persisted before it is sent.
    pub key: IdempotencyKey,
    /// The business order, once the server answered.
    pub order_no: Option<OrderNo>,
    /// The end of the server's de-duplication window (server clock), once answered.
    pub expires_at: Option<Millis>,
    /// When the key was minted (device clock).
    pub created_at: Millis,
}

/// The members of a [`SubmissionRecord`], in the order they are written.
const MEMBERS: [&str; 7] = [
    "v",
    "scope",
    "fingerprint",
    "key",
    "orderNo",
    "expiresAt",
    "createdAt",
];

impl SubmissionRecord {
    /// The JSON text to store (compact, members in a fixed order, absent values as `null`).
    pub fn encode(&self) -> String {
        let mut w = Writer::new();
        w.u64("v", self.v);
        w.str("scope", &self.scope);
        w.str("fingerprint", self.fingerprint.as_str());
        w.str("key", self.key.as_str());
        w.opt_str("orderNo", self.order_no.as_ref().map(OrderNo::as_str));
        w.opt_u64("expiresAt", self.expires_at.map(|t| t.0));
        w.u64("createdAt", self.created_at.0);
        w.finish()
    }

    /// Reads a stored submission, refusing anything that is not exactly a version-1
    /// submission of this scope for this fingerprint.
    pub fn decode(
        text: &str,
        scope: &str,
        fingerprint: &Fingerprint,
    ) -> Result<SubmissionRecord, RecordError> {
        let o = open(
            text,
            MAX_SUBMISSION_BYTES,
            scope,
            ("fingerprint", fingerprint.as_str(), "submission"),
            &MEMBERS,
        )?;
        let record = SubmissionRecord::read(&o, scope, fingerprint).map_err(RecordError::field)?;
        if record.order_no.is_none() && record.expires_at.is_some() {
            return Err(RecordError::Corrupt("a window without an order".into()));
        }
        Ok(record)
    }

    fn read(
        o: &Object<'_>,
        scope: &str,
        fingerprint: &Fingerprint,
    ) -> Result<SubmissionRecord, &'static str> {
        Ok(SubmissionRecord {
            v: RECORD_VERSION,
            scope: scope.to_owned(),
            fingerprint: fingerprint.clone(),
            key: o.required("key", |r| IdempotencyKey::parse(&r.as_str()?).ok())?,
            order_no: o.optional("orderNo", |r| OrderNo::parse(&r.as_str()?).ok())?,
            expires_at: o.optional("expiresAt", millis)?,
            created_at: o.required("createdAt", millis)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fp() -> Fingerprint {
        Fingerprint::parse(&"ab".repeat(32)).expect("valid")
    }

    fn sample() -> SubmissionRecord {
        SubmissionRecord {
            v: RECORD_VERSION,
            scope: "buyer-1".into(),
            fingerprint: fp(),
            key: IdempotencyKey::parse(&"01".repeat(16)).expect("valid"),
            order_no: OrderNo::parse("O1").ok(),
            expires_at: Some(Millis(900_000)),
            created_at: Millis(1000),
        }
    }

    #[test]
    fn round_trip_without_content() {
        let r = sample();
        let text = r.encode();
        assert_eq!(SubmissionRecord::decode(&text, "buyer-1", &fp()), Ok(r));
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
                "createdAt",
                "expiresAt",
                "fingerprint",
                "key",
                "orderNo",
                "scope",
                "v"
            ]
        );
    }

    #[test]
    fn foreign_corrupt_and_future_records_are_refused() {
        let text = sample().encode();
        let other = Fingerprint::parse(&"cd".repeat(32)).expect("valid");
        assert_eq!(
            SubmissionRecord::decode(&text, "buyer-2", &fp()),
            Err(RecordError::Foreign("scope"))
        );
        assert_eq!(
            SubmissionRecord::decode(&text, "buyer-1", &other),
            Err(RecordError::Foreign("submission"))
        );
        assert!(matches!(
            SubmissionRecord::decode(&text.replace("\"v\":1", "\"v\":2"), "buyer-1", &fp()),
            Err(RecordError::FutureVersion(2))
        ));
        for bad in [
            "",
            "{}",
            "null",
            &text.replace("\"key\"", "\"kee\""),
            &text.replace("\"orderNo\":\"O1\"", "\"orderNo\":\"a/b\""),
            &text.replace("\"orderNo\":\"O1\",", ""),
            &"x".repeat(MAX_SUBMISSION_BYTES + 1),
        ] {
            assert!(
                matches!(
                    SubmissionRecord::decode(bad, "buyer-1", &fp()),
                    Err(RecordError::Corrupt(_))
                ),
                "{bad:.60}"
            );
        }
    }

    #[test]
    fn the_key_never_meets_an_order_key() {
        let key = submission_key("shop", "buyer-1", &fp());
        let name = key.rsplit('/').next().expect("a name");
        assert!(OrderNo::parse(name).is_err());
    }
}
