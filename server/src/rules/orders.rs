//! The business order's own rules, beside the payment ones: submitting it (§4: one
//! submission makes one order, whatever the buyer does) and changing its content (rule 1.3:
//! the attempt for the old content is closed at the provider before the change is accepted).

use super::payments::CloseOutcome;
use super::{Merchant, RuleError};
use crate::ids;
use crate::model::Order;
use crate::provider::Provider;
use crate::store::{ContentChange, ContentChanged, KeyedSubmission, Store, SubmitOutcome};
use checkout_guard::core::fingerprint::fingerprint;
use serde_json::{json, Value};

/// The longest `buyer` accepted, in characters (the guard sends its `scope`, typically a hash).
pub const MAX_BUYER_CHARS: usize = 64;

/// Order content the server accepted, with what it derives from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// The JSON object the buyer agreed to.
    pub value: Value,
    /// Its fingerprint, computed here: the server's copy decides what is paid for (rule 1.6).
    pub fingerprint: String,
    /// `value.amount` (integer cents), 0 when absent.
    pub amount: i64,
}

/// Checks `value` is content an order can have: a JSON object that can be fingerprinted, with
/// an optional non-negative integer `amount` and, when given, a known `scene` with the
/// `payerId` it needs ([`super::scene`]).
pub fn checked_content(value: Value) -> Result<Content, RuleError> {
    if !value.is_object() {
        return Err(RuleError::InvalidBody(
            "`content` must be a JSON object".into(),
        ));
    }
    super::scene::check(&value)?;
    let print = fingerprint(&value).map_err(|err| {
        RuleError::InvalidBody(format!("`content` cannot be fingerprinted: {err}"))
    })?;
    let amount = match value.get("amount") {
        None => 0,
        Some(v) => v.as_i64().filter(|a| *a >= 0).ok_or_else(|| {
            RuleError::InvalidBody("`content.amount` must be a non-negative integer (cents)".into())
        })?,
    };
    Ok(Content {
        fingerprint: print.as_str().to_owned(),
        value,
        amount,
    })
}

/// The buyer field as stored: at most [`MAX_BUYER_CHARS`] characters, absent = empty.
pub fn checked_buyer(buyer: Option<String>) -> Result<String, RuleError> {
    let buyer = buyer.unwrap_or_default();
    if buyer.chars().count() > MAX_BUYER_CHARS {
        return Err(RuleError::InvalidBody(format!(
            "`buyer` must be at most {MAX_BUYER_CHARS} characters"
        )));
    }
    Ok(buyer)
}

/// A caller-chosen order number, checked.
pub fn checked_order_no(order_no: Option<String>) -> Result<Option<String>, RuleError> {
    match order_no {
        Some(no) if ids::valid_order_no(&no) => Ok(Some(no)),
        Some(_) => Err(RuleError::InvalidBody(
            "`orderNo` must be 6-24 characters of A-Z a-z 0-9 - _".into(),
        )),
        None => Ok(None),
    }
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

/// A submission whose key (if it has one) is claimed: the first phase of a submission.
/// Dropping it releases the key.
#[derive(Debug)]
pub struct Claimed<L> {
    req: Submit,
    _lease: Option<L>,
}

impl<L> Claimed<L> {
    /// Whether the submission carries a key (only then is it de-duplicated).
    pub fn is_keyed(&self) -> bool {
        self.req.key.is_some()
    }
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

impl<P: Provider, S: Store> Merchant<P, S> {
    /// Submitting an order (§4), first phase: rule 4.1's `in_progress` while the first
    /// request with this key has not answered yet. A phase of its own, so that a caller can
    /// hold the claimed key (the HTTP layer's `submit-latency` fault) without the rules
    /// knowing about faults.
    pub async fn claim_submission(&self, req: Submit) -> Result<Claimed<S::Lease>, RuleError> {
        let lease = match &req.key {
            None => None,
            Some(key) => Some(
                self.store
                    .try_lease_submission(&req.buyer, key)
                    .await?
                    .ok_or(RuleError::SubmissionInProgress)?,
            ),
        };
        Ok(Claimed { req, _lease: lease })
    }

    /// Submitting an order (§4), second phase: the decision.
    pub async fn submit(&self, claimed: Claimed<S::Lease>) -> Result<Submitted, RuleError> {
        let req = &claimed.req;
        let window = self.settings().submit_window_ms.max(0);
        let now = self.clock.now_ms();
        let fresh = new_order(req, now);
        // Without a key: a new order every time (clients written before §4 rely on that).
        let Some(key) = &req.key else {
            if !self.store.insert_order(&fresh).await? {
                return Err(RuleError::OrderExists(fresh.order_no));
            }
            return Ok(submitted(fresh, false, window));
        };
        // Rules 4.1-4.3 in one store transaction: the key's own order, else this buyer's
        // keyed order of the same content within the window, else `fresh`.
        let decided = self
            .store
            .submit(&KeyedSubmission {
                buyer: &req.buyer,
                key,
                chosen: req.order_no.as_deref(),
                window_start: now.saturating_sub(window),
                new_order: &fresh,
                now,
            })
            .await?;
        let (order, reused) = match decided {
            // Rule 4.1: the same key finds its order, even after the window and once paid,
            // for the same content (and chosen number) only.
            SubmitOutcome::Stored { submission, order } => {
                let other_order = req.order_no.as_ref().is_some_and(|n| *n != order.order_no);
                if submission.fingerprint != fresh.fingerprint || other_order {
                    return Err(RuleError::SubmissionKeyReused);
                }
                (order, true)
            }
            // Rule 4.2: two tabs that submitted at once get one order.
            SubmitOutcome::Joined(order) => (order, true),
            // Rule 4.3.
            SubmitOutcome::Created(order) => (order, false),
            SubmitOutcome::NumberTaken => return Err(RuleError::OrderExists(fresh.order_no)),
        };
        Ok(submitted(order, reused, window))
    }

    /// Changes an unpaid order's content (rule 1.3, close first).
    ///
    /// Under the order's lease, every attempt that is not known dead is closed at the provider
    /// first: a close that reveals a payment refuses the change (`already_paid`, the order now
    /// paid), a provider that cannot be reached refuses it too (`attempt_open`, nothing
    /// changed, the attempt still payable for the old content). Only then is the new content
    /// stored, so an old prepay can never be paid for the new content's order. The same
    /// content again changes nothing and closes nothing.
    pub async fn change_content(
        &self,
        order_no: &str,
        content: Content,
    ) -> Result<Order, RuleError> {
        // Rule 2.5's 404 before any lease.
        self.order(order_no).await?;
        let Some(_lease) = self.store.try_lease_order(order_no).await? else {
            return Err(RuleError::PaymentInProgress);
        };
        let order = self.order(order_no).await?;
        // Rule 1.4: a paid order's content is final too.
        if order.paid_attempt.is_some() {
            return Err(RuleError::AlreadyPaid(order_no.to_owned()));
        }
        if order.fingerprint == content.fingerprint {
            return Ok(order);
        }
        // Rule 1.3: close at the provider before the change is accepted.
        let attempts = self.store.attempts(order_no).await?;
        for attempt in attempts.iter().filter(|a| !a.state.is_dead()) {
            match self.close_at_provider(attempt).await? {
                CloseOutcome::Dead => {}
                CloseOutcome::Paid => return Err(RuleError::AlreadyPaid(order_no.to_owned())),
                CloseOutcome::Unreachable => {
                    return Err(RuleError::AttemptOpen(order_no.to_owned()))
                }
            }
        }
        let change = ContentChange {
            order_no,
            content: &content.value,
            fingerprint: &content.fingerprint,
            amount: content.amount,
            now: self.clock.now_ms(),
        };
        match self.store.change_content(&change).await? {
            ContentChanged::Changed(order) => Ok(order),
            // A payment was recorded meanwhile (paid is final).
            ContentChanged::Paid => Err(RuleError::AlreadyPaid(order_no.to_owned())),
            // An attempt appeared meanwhile (a request that holds no lease).
            ContentChanged::AttemptOpen => Err(RuleError::AttemptOpen(order_no.to_owned())),
            ContentChanged::UnknownOrder => Err(RuleError::UnknownOrder(order_no.to_owned())),
        }
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
            assert!(matches!(
                checked_content(bad).expect_err("refused"),
                RuleError::InvalidBody(_)
            ));
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
