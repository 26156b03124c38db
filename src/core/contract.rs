//! The server's replies, parsed exactly as `docs/contract.md` states them.
//!
//! The shell hands over what HTTP gave it (status code, `Retry-After`, body text) and this module
//! decides what it means. Anything that is not the documented shape becomes
//! [`ContractError`] rather than a guess: a reply the guard does not understand must never be
//! read as "the old attempt is dead, start a new one".

use super::fingerprint::Fingerprint;
use super::ids::{AttemptId, OrderNo};
use super::record::Prepay;
use super::time::Millis;
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

/// The longest `Retry-After` the guard honours; a larger one is clamped (a server must not be
/// able to park a buyer's page for hours).
pub const MAX_RETRY_AFTER_MS: u64 = 120_000;

/// An HTTP reply as the shell received it.
#[derive(Debug, Clone, Copy)]
pub struct HttpReply<'a> {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header, if present.
    pub retry_after: Option<&'a str>,
    /// The body as text (empty when there was none).
    pub body: &'a str,
}

/// A reply that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("server reply breaks the contract: {0}")]
pub struct ContractError(pub String);

/// A live attempt, as a create reply or an `unpaid` status reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The server's merchant payment number.
    pub attempt_id: AttemptId,
    /// The fingerprint the attempt was created for.
    pub fingerprint: Fingerprint,
    /// The parameters to launch payment with.
    pub prepay: Prepay,
    /// When the provider stops accepting the prepay, if the server said.
    pub expires_at: Option<Millis>,
    /// The server returned an existing attempt rather than creating one.
    pub reused: bool,
}

/// What a create-payment request came back with.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateReply {
    /// `201`/`200`: the attempt to launch.
    Attempt(Attempt),
    /// `409 in_progress`: send the same key again later.
    InProgress {
        /// The server's `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// `409 already_paid`.
    AlreadyPaid,
    /// `422 key_reused`: the key is bound to another fingerprint.
    KeyReused,
    /// Another 4xx: the request itself was refused; nothing was created for this key.
    Rejected {
        /// The status code.
        status: u16,
        /// The body's `error` code, or `""`.
        code: String,
    },
    /// `429` or `5xx`: the server may or may not have acted.
    Unavailable {
        /// The server's `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// A reply of the wrong shape.
    Invalid(ContractError),
    /// No reply: a network error or the request timed out (the shell reports this).
    NoReply,
}

/// An order's payment status, as the status endpoint reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderStatus {
    /// The order has no attempt.
    None,
    /// The latest attempt is live and can be launched.
    Unpaid(Attempt),
    /// The buyer is paying right now.
    Paying(AttemptId),
    /// Paid. Final.
    Paid(Option<AttemptId>),
    /// The latest attempt is closed and can never be charged.
    Closed(AttemptId),
    /// The latest attempt failed at the provider.
    Failed(AttemptId),
}

impl OrderStatus {
    /// The status word, as on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            OrderStatus::None => "none",
            OrderStatus::Unpaid(_) => "unpaid",
            OrderStatus::Paying(_) => "paying",
            OrderStatus::Paid(_) => "paid",
            OrderStatus::Closed(_) => "closed",
            OrderStatus::Failed(_) => "failed",
        }
    }
}

/// What a status query came back with.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusReply {
    /// A valid status.
    Status(OrderStatus),
    /// `429`/`5xx`, or another status code: ask again later.
    Unavailable {
        /// The server's `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// A reply of the wrong shape.
    Invalid(ContractError),
    /// No reply: a network error or a time-out (the shell reports this).
    NoReply,
}

/// `Retry-After` as delta-seconds, clamped to [`MAX_RETRY_AFTER_MS`]. An HTTP-date is ignored:
/// it would need the clock, and the schedule's own delays are safe without it.
/// What the order-submission endpoint (`docs/contract.md` §4) said.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitReply {
    /// `201`/`200`: the business order for this submission.
    Order(SubmittedOrder),
    /// `409 in_progress`: re-send the same key after `Retry-After`.
    InProgress {
        /// `Retry-After`, capped.
        retry_after_ms: Option<u64>,
    },
    /// A 4xx refusal for good (`400`, `422 key_reused`, `422 fingerprint_mismatch`, …).
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The body's error code (empty when there was none).
        code: String,
    },
    /// `429`/`5xx`: unknown; re-send the same key.
    Unavailable {
        /// `Retry-After`, capped.
        retry_after_ms: Option<u64>,
    },
    /// A reply that breaks the contract: unknown, like a lost reply.
    Invalid(ContractError),
    /// No HTTP reply.
    NoReply,
}

/// The business order a submission made or found.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmittedOrder {
    /// Its number.
    pub order_no: OrderNo,
    /// The fingerprint of its content (equal to the one sent).
    pub fingerprint: Fingerprint,
    /// When the server's de-duplication window ends (server clock).
    pub expires_at: Option<Millis>,
    /// An order made before (same key, or same content within the window).
    pub reused: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOrder {
    order_no: String,
    fingerprint: String,
    #[serde(default)]
    expires_at: Option<u64>,
    #[serde(default)]
    reused: bool,
}

/// The body of the order-submission request: the content the buyer agreed to (its canonical
/// JSON text, sent as it is), its fingerprint and the buyer's scope (`docs/contract.md` §4).
pub fn submit_body(canonical_content: &str, fingerprint: &Fingerprint, buyer: &str) -> String {
    // The fingerprint is hex and the scope is validated (A–Z a–z 0–9 - _ . :): neither needs
    // escaping; the content is canonical JSON already.
    format!(
        "{{\"content\":{canonical_content},\"fingerprint\":\"{}\",\"buyer\":\"{buyer}\"}}",
        fingerprint.as_str()
    )
}

/// Parses the order-submission endpoint's reply to a request that sent `sent`.
pub fn parse_submit(reply: &HttpReply<'_>, sent: &Fingerprint) -> SubmitReply {
    let retry_after_ms = parse_retry_after(reply.retry_after);
    match reply.status {
        200 | 201 => match parse_order(reply.body, sent) {
            Ok(order) => SubmitReply::Order(order),
            Err(e) => SubmitReply::Invalid(e),
        },
        // Any other 409 (`order_exists`) refuses this submission for good.
        409 if error_code(reply.body) == "in_progress" => {
            SubmitReply::InProgress { retry_after_ms }
        }
        429 | 500..=599 => SubmitReply::Unavailable { retry_after_ms },
        status @ 400..=499 => SubmitReply::Rejected {
            status,
            code: error_code(reply.body),
        },
        status => SubmitReply::Invalid(invalid(format!("unexpected status {status}"))),
    }
}

fn parse_order(body: &str, sent: &Fingerprint) -> Result<SubmittedOrder, ContractError> {
    let wire: WireOrder =
        serde_json::from_str(body).map_err(|e| invalid(format!("order body: {e}")))?;
    let order_no = OrderNo::parse(&wire.order_no).map_err(|e| invalid(e.to_string()))?;
    let fingerprint =
        Fingerprint::parse(&wire.fingerprint).ok_or_else(|| invalid("bad fingerprint"))?;
    if &fingerprint != sent {
        return Err(invalid("order is for another fingerprint"));
    }
    Ok(SubmittedOrder {
        order_no,
        fingerprint,
        expires_at: wire.expires_at.map(Millis),
        reused: wire.reused,
    })
}

/// The server's clock in a reply body (`"now"`, docs/contract.md "The server's clock"), or
/// `None` when the body has none or it is not a non-negative integer: the guard then keeps
/// judging times on what it learned before, or on the device clock.
pub fn parse_server_now(body: &str) -> Option<Millis> {
    let value: Value = serde_json::from_str(body).ok()?;
    value.as_object()?.get("now")?.as_u64().map(Millis)
}

pub fn parse_retry_after(header: Option<&str>) -> Option<u64> {
    let seconds: u64 = header?.trim().parse().ok()?;
    Some(seconds.saturating_mul(1000).min(MAX_RETRY_AFTER_MS))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAttempt {
    order_no: String,
    attempt_id: String,
    fingerprint: String,
    prepay: Map<String, Value>,
    #[serde(default)]
    expires_at: Option<u64>,
    #[serde(default)]
    reused: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStatus {
    order_no: String,
    status: String,
    #[serde(default)]
    attempt_id: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    prepay: Option<Map<String, Value>>,
    #[serde(default)]
    expires_at: Option<u64>,
}

fn invalid(what: impl Into<String>) -> ContractError {
    ContractError(what.into())
}

fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

fn attempt_id(text: &str) -> Result<AttemptId, ContractError> {
    AttemptId::parse(text).map_err(|e| invalid(e.to_string()))
}

fn attempt(
    order_no: &OrderNo,
    wire_order: &str,
    id: &str,
    fingerprint: &str,
    prepay: Map<String, Value>,
    expires_at: Option<u64>,
    reused: bool,
) -> Result<Attempt, ContractError> {
    if wire_order != order_no.as_str() {
        return Err(invalid(format!("reply is for order {wire_order:?}")));
    }
    Ok(Attempt {
        attempt_id: attempt_id(id)?,
        fingerprint: Fingerprint::parse(fingerprint).ok_or_else(|| invalid("bad fingerprint"))?,
        prepay: Prepay::new(prepay).ok_or_else(|| invalid("prepay larger than 4096 bytes"))?,
        expires_at: expires_at.map(Millis),
        reused,
    })
}

/// Reads a create-payment reply for `order_no`, sent with `sent` as its fingerprint.
pub fn parse_create(reply: &HttpReply<'_>, order_no: &OrderNo, sent: &Fingerprint) -> CreateReply {
    let retry_after_ms = parse_retry_after(reply.retry_after);
    match reply.status {
        200 | 201 => match parse_attempt(reply.body, order_no, sent) {
            Ok(a) => CreateReply::Attempt(a),
            Err(e) => CreateReply::Invalid(e),
        },
        409 => match error_code(reply.body).as_str() {
            "in_progress" => CreateReply::InProgress { retry_after_ms },
            "already_paid" => CreateReply::AlreadyPaid,
            code => CreateReply::Invalid(invalid(format!("409 with error {code:?}"))),
        },
        422 if error_code(reply.body) == "key_reused" => CreateReply::KeyReused,
        429 | 500..=599 => CreateReply::Unavailable { retry_after_ms },
        status @ 400..=499 => CreateReply::Rejected {
            status,
            code: error_code(reply.body),
        },
        status => CreateReply::Invalid(invalid(format!("unexpected status {status}"))),
    }
}

fn parse_attempt(
    body: &str,
    order_no: &OrderNo,
    sent: &Fingerprint,
) -> Result<Attempt, ContractError> {
    let wire: WireAttempt =
        serde_json::from_str(body).map_err(|e| invalid(format!("attempt body: {e}")))?;
    let a = attempt(
        order_no,
        &wire.order_no,
        &wire.attempt_id,
        &wire.fingerprint,
        wire.prepay,
        wire.expires_at,
        wire.reused,
    )?;
    if &a.fingerprint != sent {
        return Err(invalid("attempt is for another fingerprint"));
    }
    Ok(a)
}

/// Reads a status reply for `order_no`.
pub fn parse_status(reply: &HttpReply<'_>, order_no: &OrderNo) -> StatusReply {
    match reply.status {
        200 => match parse_status_body(reply.body, order_no) {
            Ok(s) => StatusReply::Status(s),
            Err(e) => StatusReply::Invalid(e),
        },
        429 | 500..=599 => StatusReply::Unavailable {
            retry_after_ms: parse_retry_after(reply.retry_after),
        },
        status => StatusReply::Invalid(invalid(format!(
            "status endpoint answered {status} {}",
            error_code(reply.body)
        ))),
    }
}

fn parse_status_body(body: &str, order_no: &OrderNo) -> Result<OrderStatus, ContractError> {
    let wire: WireStatus =
        serde_json::from_str(body).map_err(|e| invalid(format!("status body: {e}")))?;
    if wire.order_no != order_no.as_str() {
        return Err(invalid(format!("status is for order {:?}", wire.order_no)));
    }
    let id = || {
        wire.attempt_id
            .as_deref()
            .ok_or_else(|| invalid(format!("{} without attemptId", wire.status)))
            .and_then(attempt_id)
    };
    Ok(match wire.status.as_str() {
        "none" => OrderStatus::None,
        "unpaid" => {
            let need = |field: &str| invalid(format!("unpaid without {field}"));
            OrderStatus::Unpaid(attempt(
                order_no,
                &wire.order_no,
                wire.attempt_id
                    .as_deref()
                    .ok_or_else(|| need("attemptId"))?,
                wire.fingerprint
                    .as_deref()
                    .ok_or_else(|| need("fingerprint"))?,
                wire.prepay.clone().ok_or_else(|| need("prepay"))?,
                Some(wire.expires_at.ok_or_else(|| need("expiresAt"))?),
                true,
            )?)
        }
        "paying" => OrderStatus::Paying(id()?),
        "paid" => OrderStatus::Paid(wire.attempt_id.as_deref().map(attempt_id).transpose()?),
        "closed" => OrderStatus::Closed(id()?),
        "failed" => OrderStatus::Failed(id()?),
        other => return Err(invalid(format!("unknown status {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> OrderNo {
        OrderNo::parse("A1").expect("valid")
    }

    fn fp() -> Fingerprint {
        Fingerprint::parse(&"ab".repeat(32)).expect("valid")
    }

    fn reply(status: u16, body: &str) -> HttpReply<'_> {
        HttpReply {
            status,
            retry_after: None,
            body,
        }
    }

    fn attempt_body(fingerprint: &str) -> String {
        format!(
            r#"{{"orderNo":"A1","attemptId":"A1x1","fingerprint":"{fingerprint}","prepay":{{"prepayId":"wx1"}},"expiresAt":5000,"reused":true,"extra":"ignored"}}"#
        )
    }

    #[test]
    fn create_success() {
        let body = attempt_body(fp().as_str());
        match parse_create(&reply(201, &body), &order(), &fp()) {
            CreateReply::Attempt(a) => {
                assert_eq!(a.attempt_id.as_str(), "A1x1");
                assert_eq!(a.expires_at, Some(Millis(5000)));
                assert!(a.reused);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_for_another_fingerprint_or_order_is_invalid() {
        let body = attempt_body(&"cd".repeat(32));
        assert!(matches!(
            parse_create(&reply(200, &body), &order(), &fp()),
            CreateReply::Invalid(_)
        ));
        let body = attempt_body(fp().as_str()).replace("\"A1\"", "\"B2\"");
        assert!(matches!(
            parse_create(&reply(200, &body), &order(), &fp()),
            CreateReply::Invalid(_)
        ));
        for body in ["", "{}", "[]", "{\"orderNo\":\"A1\"}"] {
            assert!(matches!(
                parse_create(&reply(201, body), &order(), &fp()),
                CreateReply::Invalid(_)
            ));
        }
    }

    #[test]
    fn create_errors() {
        let r = HttpReply {
            status: 409,
            retry_after: Some("2"),
            body: r#"{"error":"in_progress"}"#,
        };
        assert_eq!(
            parse_create(&r, &order(), &fp()),
            CreateReply::InProgress {
                retry_after_ms: Some(2000)
            }
        );
        assert_eq!(
            parse_create(&reply(409, r#"{"error":"already_paid"}"#), &order(), &fp()),
            CreateReply::AlreadyPaid
        );
        assert_eq!(
            parse_create(&reply(422, r#"{"error":"key_reused"}"#), &order(), &fp()),
            CreateReply::KeyReused
        );
        assert_eq!(
            parse_create(&reply(404, r#"{"error":"unknown_order"}"#), &order(), &fp()),
            CreateReply::Rejected {
                status: 404,
                code: "unknown_order".into()
            }
        );
        assert_eq!(
            parse_create(&reply(503, "oops"), &order(), &fp()),
            CreateReply::Unavailable {
                retry_after_ms: None
            }
        );
        assert!(matches!(
            parse_create(&reply(302, ""), &order(), &fp()),
            CreateReply::Invalid(_)
        ));
        assert!(matches!(
            parse_create(&reply(409, "{}"), &order(), &fp()),
            CreateReply::Invalid(_)
        ));
    }

    #[test]
    fn statuses() {
        let s = |body: &str| parse_status(&reply(200, body), &order());
        assert_eq!(
            s(r#"{"orderNo":"A1","status":"none"}"#),
            StatusReply::Status(OrderStatus::None)
        );
        assert!(matches!(
            s(r#"{"orderNo":"A1","status":"paid","attemptId":"x1"}"#),
            StatusReply::Status(OrderStatus::Paid(Some(_)))
        ));
        assert!(matches!(
            s(r#"{"orderNo":"A1","status":"closed","attemptId":"x1"}"#),
            StatusReply::Status(OrderStatus::Closed(_))
        ));
        let unpaid = format!(
            r#"{{"orderNo":"A1","status":"unpaid","attemptId":"x1","fingerprint":"{}","prepay":{{}},"expiresAt":9}}"#,
            fp()
        );
        assert!(matches!(
            s(&unpaid),
            StatusReply::Status(OrderStatus::Unpaid(_))
        ));
    }

    #[test]
    fn statuses_missing_required_fields_are_invalid() {
        let s = |body: &str| parse_status(&reply(200, body), &order());
        for body in [
            r#"{"orderNo":"A1","status":"closed"}"#,
            r#"{"orderNo":"A1","status":"failed"}"#,
            r#"{"orderNo":"A1","status":"paying"}"#,
            r#"{"orderNo":"A1","status":"unpaid","attemptId":"x1"}"#,
            r#"{"orderNo":"A1","status":"refunded","attemptId":"x1"}"#,
            r#"{"orderNo":"B2","status":"none"}"#,
            r#"{"status":"none"}"#,
            "<html>",
        ] {
            assert!(matches!(s(body), StatusReply::Invalid(_)), "{body}");
        }
        assert!(matches!(
            parse_status(&reply(404, ""), &order()),
            StatusReply::Invalid(_)
        ));
    }

    #[test]
    fn retry_after_is_seconds_and_clamped() {
        assert_eq!(parse_retry_after(Some(" 3 ")), Some(3000));
        assert_eq!(parse_retry_after(Some("99999")), Some(MAX_RETRY_AFTER_MS));
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn server_now_is_read_when_it_is_a_non_negative_integer() {
        assert_eq!(
            parse_server_now(r#"{"now": 1795424034567}"#),
            Some(Millis(1_795_424_034_567))
        );
        assert_eq!(parse_server_now(r#"{"orderNo": "A1"}"#), None);
        assert_eq!(parse_server_now(r#"{"now": -5}"#), None);
        assert_eq!(parse_server_now(r#"{"now": 1.5}"#), None);
        assert_eq!(parse_server_now(r#"{"now": "1795424034567"}"#), None);
        assert_eq!(parse_server_now("not json"), None);
        assert_eq!(parse_server_now("[1]"), None);
    }

    #[test]
    fn submit_replies_follow_section_4() {
        let fp = Fingerprint::parse(&"ab".repeat(32)).expect("valid");
        let reply = |status, body| HttpReply {
            status,
            retry_after: Some("2"),
            body,
        };
        let body = format!(
            r#"{{"orderNo":"O123","fingerprint":"{}","expiresAt":5,"reused":true,"now":1}}"#,
            fp.as_str()
        );
        assert_eq!(
            parse_submit(&reply(200, &body), &fp),
            SubmitReply::Order(SubmittedOrder {
                order_no: OrderNo::parse("O123").expect("valid"),
                fingerprint: fp.clone(),
                expires_at: Some(Millis(5)),
                reused: true,
            })
        );
        let other = body.replace(&"ab".repeat(32), &"cd".repeat(32));
        assert!(matches!(
            parse_submit(&reply(201, &other), &fp),
            SubmitReply::Invalid(_)
        ));
        assert!(matches!(
            parse_submit(&reply(201, r#"{"orderNo":"a/b"}"#), &fp),
            SubmitReply::Invalid(_)
        ));
        assert_eq!(
            parse_submit(&reply(409, r#"{"error":"in_progress"}"#), &fp),
            SubmitReply::InProgress {
                retry_after_ms: Some(2000)
            }
        );
        assert_eq!(
            parse_submit(&reply(409, r#"{"error":"order_exists"}"#), &fp),
            SubmitReply::Rejected {
                status: 409,
                code: "order_exists".into()
            }
        );
        assert_eq!(
            parse_submit(&reply(422, r#"{"error":"key_reused"}"#), &fp),
            SubmitReply::Rejected {
                status: 422,
                code: "key_reused".into()
            }
        );
        assert_eq!(
            parse_submit(&reply(503, ""), &fp),
            SubmitReply::Unavailable {
                retry_after_ms: Some(2000)
            }
        );
        assert!(matches!(
            parse_submit(&reply(302, ""), &fp),
            SubmitReply::Invalid(_)
        ));
    }

    #[test]
    fn the_submit_body_carries_the_content_as_sent() {
        let fp = Fingerprint::parse(&"ab".repeat(32)).expect("valid");
        let body = submit_body(r#"{"amount":1999,"items":[]}"#, &fp, "buyer-1");
        let value: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(value["content"]["amount"], 1999);
        assert_eq!(value["fingerprint"], fp.as_str());
        assert_eq!(value["buyer"], "buyer-1");
    }
}
