//! The wire format between the guard and a backend, both directions, exactly as
//! `docs/contract.md` states it: the requests ([`Exchange`], in `request.rs`) and the replies.
//!
//! The shell hands over what HTTP gave it (status code, `Retry-After`, body text) and this module
//! decides what it means. Anything that is not the documented shape becomes
//! [`ContractError`] rather than a guess: a reply the guard does not understand must never be
//! read as "the old attempt is dead, start a new one".

mod request;

pub use request::{
    path_segment, Endpoints, Exchange, Method, Request, DEFAULT_CREATE, DEFAULT_STATUS,
    DEFAULT_SUBMIT, OWN_HEADERS,
};

use super::fingerprint::Fingerprint;
use super::ids::{AttemptId, OrderNo};
use super::json::{self, concat, Fields, JsonError, Object, Raw, Writer};
use super::record::Prepay;
use super::time::Millis;
use crate::prelude::*;
use core::fmt;
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
pub struct ContractError(pub String);

impl ContractError {
    /// The error's text, built without `core::fmt`.
    pub fn message(&self) -> String {
        concat(&["server reply breaks the contract: ", &self.0])
    }
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

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

/// The body of the order-submission request: the content the buyer agreed to (its canonical
/// JSON text, sent as it is), its fingerprint and the buyer's scope (`docs/contract.md` §4).
pub fn submit_body(canonical_content: &str, fingerprint: &Fingerprint, buyer: &str) -> String {
    let mut w = Writer::new();
    w.raw("content", canonical_content);
    w.str("fingerprint", fingerprint.as_str());
    w.str("buyer", buyer);
    w.finish()
}

/// Where an endpoint template names the order: `/api/orders/{orderNo}/payment`.
pub const ORDER_SLOT: &str = "{orderNo}";

/// Where `slot` first occurs in `text`. A byte-window search: `str::find` with a `&str` pattern
/// links the two-way searcher and its panic messages (4 KB of wasm) for one nine-byte needle.
fn position(text: &str, slot: &str) -> Option<usize> {
    text.as_bytes()
        .windows(slot.len())
        .position(|window| window == slot.as_bytes())
}

/// Whether an endpoint template names the order ([`ORDER_SLOT`]).
pub fn names_order(template: &str) -> bool {
    position(template, ORDER_SLOT).is_some()
}

/// An endpoint's URL: `template` with every [`ORDER_SLOT`] replaced by `order_no`, already
/// encoded as a URL path segment.
pub fn endpoint_url(template: &str, order_no: &str) -> String {
    let mut url = String::with_capacity(template.len() + order_no.len());
    let mut rest = template;
    while let Some(at) = position(rest, ORDER_SLOT) {
        url.push_str(rest.get(..at).unwrap_or_default());
        url.push_str(order_no);
        rest = rest.get(at + ORDER_SLOT.len()..).unwrap_or_default();
    }
    url.push_str(rest);
    url
}

/// The body of the create-payment request: `{"fingerprint": "<64 hex digits>"}`.
pub fn create_body(fingerprint: &Fingerprint) -> String {
    let mut w = Writer::new();
    w.str("fingerprint", fingerprint.as_str());
    w.finish()
}

/// A reply's body read as a JSON object, once for every question asked of it (the payload,
/// the error code, the server's clock); `Err` when it is not one.
pub(crate) type Body<'a> = Result<Object<'a>, JsonError>;

/// Parses the order-submission endpoint's reply to a request that sent `sent`.
pub fn parse_submit(reply: &HttpReply<'_>, sent: &Fingerprint) -> SubmitReply {
    submit_reply(reply, &Object::parse(reply.body), sent)
}

/// [`parse_submit`], the body already read.
pub(crate) fn submit_reply(
    reply: &HttpReply<'_>,
    body: &Body<'_>,
    sent: &Fingerprint,
) -> SubmitReply {
    let retry_after_ms = parse_retry_after(reply.retry_after);
    match reply.status {
        200 | 201 => match parse_order(body, sent) {
            Ok(order) => SubmitReply::Order(order),
            Err(e) => SubmitReply::Invalid(e),
        },
        // Any other 409 (`order_exists`) refuses this submission for good.
        409 if error_code(body) == "in_progress" => SubmitReply::InProgress { retry_after_ms },
        429 | 500..=599 => SubmitReply::Unavailable { retry_after_ms },
        status @ 400..=499 => SubmitReply::Rejected {
            status,
            code: error_code(body),
        },
        status => SubmitReply::Invalid(unexpected(status)),
    }
}

fn parse_order(body: &Body<'_>, sent: &Fingerprint) -> Result<SubmittedOrder, ContractError> {
    let o = body_object(body, "order body: ")?;
    let order_no = required_str(o, "orderNo")?;
    let order_no = OrderNo::parse(&order_no).map_err(|e| invalid(e.message()))?;
    let fingerprint = required_str(o, "fingerprint")?;
    let fingerprint = Fingerprint::parse(&fingerprint).ok_or_else(|| invalid("bad fingerprint"))?;
    if &fingerprint != sent {
        return Err(invalid("order is for another fingerprint"));
    }
    Ok(SubmittedOrder {
        order_no,
        fingerprint,
        expires_at: o.number("expiresAt").map_err(missing)?.map(Millis),
        reused: o
            .present("reused", Raw::as_bool)
            .map_err(missing)?
            .unwrap_or(false),
    })
}

/// The server's clock in a reply body (`"now"`, docs/contract.md "The server's clock"), or
/// `None` when the body has none or it is not a non-negative integer: the guard then keeps
/// judging times on what it learned before, or on the device clock.
pub fn parse_server_now(body: &str) -> Option<Millis> {
    server_now(&Object::parse(body))
}

/// [`parse_server_now`], the body already read.
pub(crate) fn server_now(body: &Body<'_>) -> Option<Millis> {
    body.as_ref().ok()?.get("now")?.as_u64().map(Millis)
}

/// `Retry-After` as delta-seconds, clamped to [`MAX_RETRY_AFTER_MS`]. An HTTP-date is ignored:
/// it would need the clock, and the schedule's own delays are safe without it.
pub fn parse_retry_after(header: Option<&str>) -> Option<u64> {
    // Clamped in whole seconds, then scaled: the figure `saturating_mul(1000).min(..)` gives
    // (the limit is whole seconds), without the 128-bit multiply of its overflow check.
    const _: () = assert!(MAX_RETRY_AFTER_MS % 1000 == 0);
    // delta-seconds (RFC 9110: `1*DIGIT`) with the white space around a field value (as bytes:
    // a `char` pattern links UTF-8 decoding, 0.4 KB of the wasm).
    let seconds = json::parse_u64(header?.as_bytes().trim_ascii())?;
    Some(seconds.min(MAX_RETRY_AFTER_MS / 1000) * 1000)
}

fn invalid(what: impl Into<String>) -> ContractError {
    ContractError(what.into())
}

fn unexpected(status: u16) -> ContractError {
    invalid(concat(&[
        "unexpected status ",
        &json::decimal(u64::from(status)),
    ]))
}

/// A member the contract requires is missing or of the wrong kind.
fn missing(name: &str) -> ContractError {
    invalid(concat(&["missing or invalid `", name, "`"]))
}

/// The body as a JSON object, or an error starting with `what`.
fn body_object<'b, 'a>(body: &'b Body<'a>, what: &str) -> Result<&'b Object<'a>, ContractError> {
    body.as_ref()
        .map_err(|e| invalid(concat(&[what, &e.message()])))
}

/// A string member the contract requires: there, not `null`, and a string.
fn required_str(o: &Object<'_>, name: &'static str) -> Result<String, ContractError> {
    o.string(name)
        .and_then(|text| text.ok_or(name))
        .map_err(missing)
}

/// `text` in double quotes, for messages (a reply's value, never escaped).
fn quoted(text: &str) -> String {
    concat(&["\"", text, "\""])
}

fn error_code(body: &Body<'_>) -> String {
    body.as_ref()
        .ok()
        .and_then(|o| o.get("error"))
        .and_then(Raw::as_str)
        .unwrap_or_default()
}

fn attempt_id(text: &str) -> Result<AttemptId, ContractError> {
    AttemptId::parse(text).map_err(|e| invalid(e.message()))
}

fn attempt(
    order_no: &OrderNo,
    wire_order: &str,
    id: &str,
    fingerprint: &str,
    prepay: Raw<'_>,
    expires_at: Option<u64>,
    reused: bool,
) -> Result<Attempt, ContractError> {
    if wire_order != order_no.as_str() {
        return Err(invalid(concat(&[
            "reply is for order ",
            &quoted(wire_order),
        ])));
    }
    Ok(Attempt {
        attempt_id: attempt_id(id)?,
        fingerprint: Fingerprint::parse(fingerprint).ok_or_else(|| invalid("bad fingerprint"))?,
        prepay: Prepay::from_raw(prepay).ok_or_else(|| invalid("prepay larger than 4096 bytes"))?,
        expires_at: expires_at.map(Millis),
        reused,
    })
}

/// Reads a create-payment reply for `order_no`, sent with `sent` as its fingerprint.
pub fn parse_create(reply: &HttpReply<'_>, order_no: &OrderNo, sent: &Fingerprint) -> CreateReply {
    create_reply(reply, &Object::parse(reply.body), order_no, sent)
}

/// [`parse_create`], the body already read.
pub(crate) fn create_reply(
    reply: &HttpReply<'_>,
    body: &Body<'_>,
    order_no: &OrderNo,
    sent: &Fingerprint,
) -> CreateReply {
    let retry_after_ms = parse_retry_after(reply.retry_after);
    match reply.status {
        200 | 201 => match parse_attempt(body, order_no, sent) {
            Ok(a) => CreateReply::Attempt(a),
            Err(e) => CreateReply::Invalid(e),
        },
        409 => match error_code(body).as_str() {
            "in_progress" => CreateReply::InProgress { retry_after_ms },
            "already_paid" => CreateReply::AlreadyPaid,
            code => CreateReply::Invalid(invalid(concat(&["409 with error ", &quoted(code)]))),
        },
        422 if error_code(body) == "key_reused" => CreateReply::KeyReused,
        429 | 500..=599 => CreateReply::Unavailable { retry_after_ms },
        status @ 400..=499 => CreateReply::Rejected {
            status,
            code: error_code(body),
        },
        status => CreateReply::Invalid(unexpected(status)),
    }
}

fn parse_attempt(
    body: &Body<'_>,
    order_no: &OrderNo,
    sent: &Fingerprint,
) -> Result<Attempt, ContractError> {
    let o = body_object(body, "attempt body: ")?;
    let a = attempt(
        order_no,
        &required_str(o, "orderNo")?,
        &required_str(o, "attemptId")?,
        &required_str(o, "fingerprint")?,
        o.object("prepay")
            .and_then(|prepay| prepay.ok_or("prepay"))
            .map_err(missing)?,
        o.number("expiresAt").map_err(missing)?,
        o.present("reused", Raw::as_bool)
            .map_err(missing)?
            .unwrap_or(false),
    )?;
    if &a.fingerprint != sent {
        return Err(invalid("attempt is for another fingerprint"));
    }
    Ok(a)
}

/// Reads a status reply for `order_no`.
pub fn parse_status(reply: &HttpReply<'_>, order_no: &OrderNo) -> StatusReply {
    status_reply(reply, &Object::parse(reply.body), order_no)
}

/// [`parse_status`], the body already read.
pub(crate) fn status_reply(
    reply: &HttpReply<'_>,
    body: &Body<'_>,
    order_no: &OrderNo,
) -> StatusReply {
    match reply.status {
        200 => match parse_status_body(body, order_no) {
            Ok(s) => StatusReply::Status(s),
            Err(e) => StatusReply::Invalid(e),
        },
        429 | 500..=599 => StatusReply::Unavailable {
            retry_after_ms: parse_retry_after(reply.retry_after),
        },
        status => StatusReply::Invalid(invalid(concat(&[
            "status endpoint answered ",
            &json::decimal(u64::from(status)),
            " ",
            &error_code(body),
        ]))),
    }
}

fn parse_status_body(body: &Body<'_>, order_no: &OrderNo) -> Result<OrderStatus, ContractError> {
    let o = body_object(body, "status body: ")?;
    let wire_order = required_str(o, "orderNo")?;
    let status = required_str(o, "status")?;
    let wire_attempt = o.string("attemptId").map_err(missing)?;
    let wire_fingerprint = o.string("fingerprint").map_err(missing)?;
    let wire_prepay = o.object("prepay").map_err(missing)?;
    let wire_expires = o.number("expiresAt").map_err(missing)?;
    if wire_order != order_no.as_str() {
        return Err(invalid(concat(&[
            "status is for order ",
            &quoted(&wire_order),
        ])));
    }
    let id = || {
        wire_attempt
            .as_deref()
            .ok_or_else(|| invalid(concat(&[status.as_str(), " without attemptId"])))
            .and_then(attempt_id)
    };
    Ok(match status.as_str() {
        "none" => OrderStatus::None,
        "unpaid" => {
            let need = |field: &str| invalid(concat(&["unpaid without ", field]));
            OrderStatus::Unpaid(attempt(
                order_no,
                &wire_order,
                wire_attempt.as_deref().ok_or_else(|| need("attemptId"))?,
                wire_fingerprint
                    .as_deref()
                    .ok_or_else(|| need("fingerprint"))?,
                wire_prepay.ok_or_else(|| need("prepay"))?,
                Some(wire_expires.ok_or_else(|| need("expiresAt"))?),
                true,
            )?)
        }
        "paying" => OrderStatus::Paying(id()?),
        "paid" => OrderStatus::Paid(wire_attempt.as_deref().map(attempt_id).transpose()?),
        "closed" => OrderStatus::Closed(id()?),
        "failed" => OrderStatus::Failed(id()?),
        other => return Err(invalid(concat(&["unknown status ", &quoted(other)]))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
        assert_eq!(parse_retry_after(Some("\t0")), Some(0));
        for bad in ["", " ", "+5", "-1", "1.5", "5s", "18446744073709551616"] {
            assert_eq!(parse_retry_after(Some(bad)), None, "{bad:?}");
        }
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
    fn endpoint_templates_name_the_order() {
        assert_eq!(
            endpoint_url("/api/orders/{orderNo}/payment", "A%3A1"),
            "/api/orders/A%3A1/payment"
        );
        assert_eq!(endpoint_url("/{orderNo}/x/{orderNo}", "B"), "/B/x/B");
        assert_eq!(endpoint_url("/api/orders", "B"), "/api/orders");
        assert_eq!(endpoint_url("/é/{orderNo}{", "C"), "/é/C{");
        assert!(names_order("https://shop.example/{orderNo}"));
        assert!(!names_order("/api/orders/{order}"));
        assert!(!names_order(""));
        assert_eq!(
            create_body(&Fingerprint::parse(&"ab".repeat(32)).expect("valid")),
            format!(r#"{{"fingerprint":"{}"}}"#, "ab".repeat(32))
        );
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
