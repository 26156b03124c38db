//! The business order's own rules, beside the payment ones: submitting it (contract §4: one
//! submission makes one order, whatever the buyer does) and changing its content (rule 1.3:
//! the attempt for the old content is closed at the provider before the change is accepted).

use crate::app::App;
use crate::error::ApiError;
use crate::ids;
use crate::model::Order;
use crate::payments::{self, CloseOutcome};
use crate::store::sqlite::SqliteLease;
use crate::store::{ContentChange, ContentChanged, KeyedSubmission, Store, SubmitOutcome};
use axum::http::StatusCode;
use checkout_guard::core::fingerprint::fingerprint;
use serde_json::{json, Value};

/// The longest `buyer` accepted, in characters (the guard sends its `scope`, typically a hash).
pub const MAX_BUYER_CHARS: usize = 64;

/// Order content the server accepted, with what it derives from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// The JSON object the buyer agreed to.
    pub value: Value,
    /// Its fingerprint, computed here: the server's copy decides what is paid for.
    pub fingerprint: String,
    /// `value.amount` (integer cents), 0 when absent.
    pub amount: i64,
}

/// Checks `value` is content an order can have: a JSON object that can be fingerprinted, with
/// an optional non-negative integer `amount`.
pub fn checked_content(value: Value) -> Result<Content, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid_body("`content` must be a JSON object"));
    }
    let print = fingerprint(&value).map_err(|err| {
        ApiError::invalid_body(format!("`content` cannot be fingerprinted: {err}"))
    })?;
    let amount = match value.get("amount") {
        None => 0,
        Some(v) => v.as_i64().filter(|a| *a >= 0).ok_or_else(|| {
            ApiError::invalid_body("`content.amount` must be a non-negative integer (cents)")
        })?,
    };
    Ok(Content {
        fingerprint: print.as_str().to_owned(),
        value,
        amount,
    })
}

/// The order as the merchant API shows it (without `now`, which the reply adds).
pub fn order_body(order: &Order) -> Value {
    json!({
        "orderNo": order.order_no,
        "fingerprint": order.fingerprint,
        "content": order.content,
        "amount": order.amount,
        "paid": order.paid_attempt.is_some(),
        "paidAmount": order.paid_amount,
        "flags": order.flags,
        "createdAt": order.created_at,
        "updatedAt": order.updated_at,
    })
}

/// A checked `POST /api/orders`.
#[derive(Debug, Clone)]
pub struct Submit {
    /// The content.
    pub content: Content,
    /// The `Idempotency-Key`, if sent: only then is the submission de-duplicated.
    pub key: Option<String>,
    /// Who submits (empty when not given).
    pub buyer: String,
    /// A caller-chosen order number, already validated.
    pub order_no: Option<String>,
}

/// What a submission came to.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The order.
    pub order: Order,
    /// `false`: `201`, a new order; `true`: `200`, an existing one.
    pub reused: bool,
    /// When the de-duplication window of the order ends (ms).
    pub expires_at: i64,
}

impl Submitted {
    /// The reply body of contract §4 (without `now`).
    pub fn body(&self) -> Value {
        let mut body = order_body(&self.order);
        if let Some(map) = body.as_object_mut() {
            map.insert("expiresAt".into(), json!(self.expires_at));
            map.insert("reused".into(), json!(self.reused));
        }
        body
    }
}

/// The buyer field as stored: at most [`MAX_BUYER_CHARS`] characters, absent = empty.
pub fn checked_buyer(buyer: Option<String>) -> Result<String, ApiError> {
    let buyer = buyer.unwrap_or_default();
    if buyer.chars().count() > MAX_BUYER_CHARS {
        return Err(ApiError::invalid_body(format!(
            "`buyer` must be at most {MAX_BUYER_CHARS} characters"
        )));
    }
    Ok(buyer)
}

/// A caller-chosen order number, checked.
pub fn checked_order_no(order_no: Option<String>) -> Result<Option<String>, ApiError> {
    match order_no {
        Some(no) if ids::valid_order_no(&no) => Ok(Some(no)),
        Some(_) => Err(ApiError::invalid_body(
            "`orderNo` must be 6-24 characters of A-Z a-z 0-9 - _",
        )),
        None => Ok(None),
    }
}

fn order_exists(order_no: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "order_exists",
        format!("order {order_no} exists"),
    )
}

/// A submission whose key (if it has one) is claimed: the first phase of `POST /api/orders`.
/// Dropping it releases the key.
#[derive(Debug)]
pub struct Claimed {
    req: Submit,
    _lease: Option<SqliteLease>,
}

impl Claimed {
    /// Whether the submission carries a key (only then is it de-duplicated).
    pub fn is_keyed(&self) -> bool {
        self.req.key.is_some()
    }
}

/// `POST /api/orders` (contract §4), first phase: rule 1's `409 in_progress` while the first
/// request with this key has not answered yet. Two phases so that the HTTP layer can hold a
/// claimed key (the `submit-latency` fault) without the rules knowing about faults.
pub async fn claim(app: &App, req: Submit) -> Result<Claimed, ApiError> {
    let lease = match &req.key {
        None => None,
        Some(key) => Some(
            app.store
                .try_lease_submission(&req.buyer, key)
                .await?
                .ok_or_else(|| ApiError::in_progress("an order submission with this key"))?,
        ),
    };
    Ok(Claimed { req, _lease: lease })
}

/// `POST /api/orders` (contract §4), second phase.
///
/// Without a key: a new order every time (clients written before §4 rely on that). With one:
/// the order stored for the key (rule 1), else this buyer's order of the same content made by
/// a keyed submission within the window (rule 2), else a new order (rule 3). The decision and
/// the key's row are one transaction on the single connection, so parallel submissions of the
/// same content decide one after the other and make one order.
pub async fn submit(app: &App, claimed: Claimed) -> Result<Submitted, ApiError> {
    let req = &claimed.req;
    let window = app.settings().submit_window_ms.max(0);
    let Some(key) = req.key.clone() else {
        let order = new_order(req, app.clock.now_ms());
        if !app.store.insert_order(&order).await? {
            return Err(order_exists(&order.order_no));
        }
        return Ok(submitted(order, false, window));
    };
    let now = app.clock.now_ms();
    let fresh = new_order(req, now);
    let decided = app
        .store
        .submit(&KeyedSubmission {
            buyer: &req.buyer,
            key: &key,
            chosen: req.order_no.as_deref(),
            window_start: now.saturating_sub(window),
            new_order: &fresh,
            now,
        })
        .await?;
    let (order, reused) = match decided {
        // Rule 1: the same key finds its order, for the same content only.
        SubmitOutcome::Stored { submission, order } => {
            let other_order = req.order_no.as_ref().is_some_and(|n| *n != order.order_no);
            if submission.fingerprint != fresh.fingerprint || other_order {
                return Err(ApiError::key_reused(
                    "this idempotency key was used to submit other content",
                ));
            }
            (order, true)
        }
        SubmitOutcome::Joined(order) => (order, true),
        SubmitOutcome::Created(order) => (order, false),
        SubmitOutcome::NumberTaken => return Err(order_exists(&fresh.order_no)),
    };
    Ok(submitted(order, reused, window))
}

fn submitted(order: Order, reused: bool, window: i64) -> Submitted {
    Submitted {
        expires_at: order.created_at.saturating_add(window),
        order,
        reused,
    }
}

fn new_order(req: &Submit, now: i64) -> Order {
    Order {
        order_no: req.order_no.clone().unwrap_or_else(ids::new_order_no),
        content: req.content.value.clone(),
        fingerprint: req.content.fingerprint.clone(),
        amount: req.content.amount,
        buyer: req.buyer.clone(),
        paid_attempt: None,
        paid_amount: None,
        flags: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

/// `PUT /api/orders/{orderNo}`: changes an unpaid order's content.
///
/// Under the order's lock, every attempt that is not known dead is closed at the provider
/// first (rule 1.3): a close that reveals a payment refuses the change (`409 already_paid`,
/// the order now paid), a provider that cannot be reached refuses it too (`409 attempt_open`,
/// nothing changed, the attempt still payable for the old content). Only then is the new
/// content stored, so an old prepay can never be paid for the new content's order. The same
/// content again changes nothing and closes nothing.
pub async fn change_content(
    app: &App,
    order_no: &str,
    content: Content,
) -> Result<Order, ApiError> {
    payments::existing_order(app, order_no).await?;
    let Some(_lease) = app.store.try_lease_order(order_no).await? else {
        return Err(ApiError::in_progress("a payment request for this order"));
    };
    let order = payments::existing_order(app, order_no).await?;
    if order.paid_attempt.is_some() {
        return Err(ApiError::already_paid(order_no));
    }
    if order.fingerprint == content.fingerprint {
        return Ok(order);
    }
    let open: Vec<_> = app
        .store
        .attempts(order_no)
        .await?
        .into_iter()
        .filter(|a| !a.state.is_dead())
        .collect();
    for attempt in &open {
        match payments::close_at_provider(app, attempt).await? {
            CloseOutcome::Dead => {}
            CloseOutcome::Paid => return Err(ApiError::already_paid(order_no)),
            CloseOutcome::Unreachable => return Err(ApiError::attempt_open(order_no)),
        }
    }
    let change = ContentChange {
        order_no,
        content: &content.value,
        fingerprint: &content.fingerprint,
        amount: content.amount,
        now: app.clock.now_ms(),
    };
    match app.store.change_content(&change).await? {
        ContentChanged::Changed(order) => Ok(order),
        // A payment was recorded meanwhile (paid is final).
        ContentChanged::Paid => Err(ApiError::already_paid(order_no)),
        // An attempt appeared meanwhile (a request that holds no lease).
        ContentChanged::AttemptOpen => Err(ApiError::attempt_open(order_no)),
        ContentChanged::UnknownOrder => Err(ApiError::unknown_order(order_no)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_fingerprinted_here_and_amount_checked() {
        let content = checked_content(json!({"amount": 5, "items": []})).expect("content");
        assert_eq!(content.amount, 5);
        assert_eq!(content.fingerprint.len(), 64);
        assert_eq!(checked_content(json!({})).expect("no amount").amount, 0);
        for bad in [json!(5), json!({"amount": -1}), json!({"amount": 1.5})] {
            assert_eq!(
                checked_content(bad).expect_err("refused").code,
                "invalid_body"
            );
        }
    }

    #[test]
    fn buyer_is_at_most_64_characters() {
        assert_eq!(checked_buyer(None).expect("absent"), "");
        let long = "é".repeat(64);
        assert_eq!(checked_buyer(Some(long.clone())).expect("64 chars"), long);
        assert!(checked_buyer(Some("x".repeat(65))).is_err());
    }
}
