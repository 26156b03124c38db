//! `parse_create` and `parse_status` read whatever a merchant's server (or anything between it
//! and the page) sends back. They must never panic, and the few readings that let the guard act
//! must only come from replies that say exactly that, since a misread reply could launch a
//! payment or start a second attempt:
//!
//! - an attempt to launch comes only from a `200`/`201` whose fingerprint is the one sent, for
//!   this order, with a prepay within the stored size;
//! - a status (above all `none`, `closed` and `failed`, which let a new key be minted) comes only
//!   from a `200` whose `status` field says that word, for this order;
//! - a `Retry-After` is never longer than `MAX_RETRY_AFTER_MS`.
//!
//! Bodies are built from shapes near the contract's (attempt, status, error) as well as raw
//! text, so that the fuzzer reaches the field checks rather than stopping at "not JSON".

#![no_main]

use arbitrary::Arbitrary;
use checkout_guard::core::contract::{
    parse_create, parse_status, CreateReply, HttpReply, OrderStatus, StatusReply,
    MAX_RETRY_AFTER_MS,
};
use checkout_guard::core::fingerprint::Fingerprint;
use checkout_guard::core::ids::OrderNo;
use checkout_guard::core::record::MAX_PREPAY_BYTES;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

const ORDER: &str = "A20261123001";
const SENT: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[derive(Debug, Arbitrary)]
enum Text {
    /// The value a valid reply would have here.
    Expected,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => json!(b),
            Json::Int(i) => json!(i),
            Json::Uint(u) => json!(u),
            // Not finite: `json!` gives null, as JSON.stringify would.
            Json::Float(f) => json!(f),
            Json::Str(s) => json!(s),
            Json::Array(items) => Value::Array(items.iter().map(Json::value).collect()),
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value()))
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Body {
    Raw(String),
    Value(Json),
    /// A create reply's attempt, or an `unpaid` status, field by field.
    Attempt {
        status: Option<Text>,
        order_no: Option<Text>,
        attempt_id: Option<Text>,
        fingerprint: Option<Text>,
        prepay: Option<Json>,
        /// Repeats a prepay member to reach the 4096-byte limit.
        prepay_padding: u16,
        expires_at: Option<Json>,
        reused: Option<Json>,
        extra: Vec<(String, Json)>,
    },
    Error {
        code: ErrorCode,
        message: Option<String>,
    },
}

#[derive(Debug, Arbitrary)]
enum ErrorCode {
    InProgress,
    AlreadyPaid,
    KeyReused,
    FingerprintMismatch,
    UnknownOrder,
    Other(Json),
}

/// A prepay the guard would store and launch: a JSON object within the size limit, compact.
fn check_prepay(prepay: &str) {
    assert!(
        prepay.len() <= MAX_PREPAY_BYTES,
        "prepay of {} bytes",
        prepay.len()
    );
    let value: Value = serde_json::from_str(prepay).expect("a prepay is JSON");
    assert!(value.is_object(), "prepay {prepay} is not an object");
}

#[derive(Debug, Arbitrary)]
struct Input {
    status: u16,
    retry_after: Option<String>,
    body: Body,
}

fn text(field: &Option<Text>, expected: &str) -> Option<Value> {
    field.as_ref().map(|t| match t {
        Text::Expected => json!(expected),
        Text::Other(s) => json!(s),
    })
}

fn body_text(body: &Body) -> String {
    match body {
        Body::Raw(s) => s.clone(),
        Body::Value(v) => v.value().to_string(),
        Body::Attempt {
            status,
            order_no,
            attempt_id,
            fingerprint,
            prepay,
            prepay_padding,
            expires_at,
            reused,
            extra,
        } => {
            let mut o = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    o.insert(k.to_owned(), v);
                }
            };
            put("status", text(status, "unpaid"));
            put("orderNo", text(order_no, ORDER));
            put("attemptId", text(attempt_id, "A20261123001x3f9c2"));
            put("fingerprint", text(fingerprint, SENT));
            let prepay = prepay.as_ref().map(|p| {
                let mut v = p.value();
                if let (Some(map), n @ 1..) = (v.as_object_mut(), *prepay_padding) {
                    map.insert("pad".into(), json!("x".repeat(usize::from(n % 8192))));
                }
                v
            });
            put("prepay", prepay);
            put("expiresAt", expires_at.as_ref().map(Json::value));
            put("reused", reused.as_ref().map(Json::value));
            for (k, v) in extra {
                o.insert(k.clone(), v.value());
            }
            Value::Object(o).to_string()
        }
        Body::Error { code, message } => {
            let code = match code {
                ErrorCode::InProgress => json!("in_progress"),
                ErrorCode::AlreadyPaid => json!("already_paid"),
                ErrorCode::KeyReused => json!("key_reused"),
                ErrorCode::FingerprintMismatch => json!("fingerprint_mismatch"),
                ErrorCode::UnknownOrder => json!("unknown_order"),
                ErrorCode::Other(v) => v.value(),
            };
            match message {
                Some(m) => json!({"error": code, "message": m}).to_string(),
                None => json!({ "error": code }).to_string(),
            }
        }
    }
}

fn check_retry_after(ms: Option<u64>) {
    if let Some(ms) = ms {
        assert!(ms <= MAX_RETRY_AFTER_MS, "Retry-After {ms} ms not clamped");
    }
}

fuzz_target!(|input: Input| {
    let order = OrderNo::parse(ORDER).expect("valid order number");
    let sent = Fingerprint::parse(SENT).expect("valid fingerprint");
    let body = body_text(&input.body);
    let reply = HttpReply {
        status: input.status,
        retry_after: input.retry_after.as_deref(),
        body: &body,
    };

    match parse_create(&reply, &order, &sent) {
        CreateReply::Attempt(a) => {
            assert!(
                matches!(input.status, 200 | 201),
                "attempt from {}",
                input.status
            );
            assert_eq!(a.fingerprint, sent, "attempt for another fingerprint");
            check_prepay(a.prepay.as_str());
        }
        CreateReply::AlreadyPaid | CreateReply::KeyReused => {
            assert!(matches!(input.status, 409 | 422), "{}", input.status);
        }
        CreateReply::InProgress { retry_after_ms } => {
            assert_eq!(input.status, 409);
            check_retry_after(retry_after_ms);
        }
        CreateReply::Unavailable { retry_after_ms } => check_retry_after(retry_after_ms),
        CreateReply::Rejected { status, .. } => {
            assert!((400..=499).contains(&status), "rejected with {status}")
        }
        CreateReply::Invalid(_) | CreateReply::NoReply => {}
    }

    match parse_status(&reply, &order) {
        StatusReply::Status(status) => {
            assert_eq!(input.status, 200, "a status from HTTP {}", input.status);
            // serde_json's `Value` accepts exactly the texts `core::json` does (same nesting
            // limit, same number range; of a member named twice the last counts in both).
            let wire: Value = serde_json::from_str(&body).expect("a status came from JSON");
            assert_eq!(wire["status"].as_str(), Some(status.name()));
            assert_eq!(wire["orderNo"].as_str(), Some(ORDER));
            if let OrderStatus::Unpaid(a) = status {
                check_prepay(a.prepay.as_str());
                assert!(a.expires_at.is_some(), "unpaid without expiresAt");
            }
        }
        StatusReply::Unavailable { retry_after_ms } => check_retry_after(retry_after_ms),
        StatusReply::Invalid(_) | StatusReply::NoReply => {}
    }
});
