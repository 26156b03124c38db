//! The merchant's records, as plain Rust types that the rules and every [`crate::store::Store`]
//! share: business orders, payment attempts, stored idempotent replies, order submissions.
//! No storage and no HTTP here: a store converts its rows into these at its edge.

use serde::Serialize;
use serde_json::Value;

/// A business order: its number never changes; its content may, until it is paid.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The business order number.
    pub order_no: String,
    /// What the buyer agrees to pay for (free-form JSON object).
    pub content: Value,
    /// `checkout_guard::core::fingerprint` of `content`.
    pub fingerprint: String,
    /// Amount sent to the provider: `content.amount` when it is an integer, else 0.
    pub amount: i64,
    /// Who submitted it (contract §4's `buyer`; empty when not given).
    pub buyer: String,
    /// The attempt that paid the order, once paid.
    pub paid_attempt: Option<String>,
    /// What the provider charged for it, once paid (unknown for payments recorded by a server
    /// older than this column).
    pub paid_amount: Option<i64>,
    /// What the merchant must look at: see [`payment_flags`].
    pub flags: Vec<OrderFlag>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// Something wrong with an order that its `paid` alone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderFlag {
    /// Paid, but for another amount than the order's (its content changed while an attempt for
    /// the old content could still be paid). Still paid: the buyer was charged.
    AmountMismatch,
}

/// The flags of an order with this `amount` and, once paid, this `paid_amount`.
///
/// Derived rather than stored: a paid order's amount can no longer change (its content is
/// frozen) and neither can what was paid, so the answer never goes stale. An unknown paid
/// amount is not flagged: there is nothing to compare.
pub fn payment_flags(amount: i64, paid_amount: Option<i64>) -> Vec<OrderFlag> {
    match paid_amount {
        Some(paid) if paid != amount => vec![OrderFlag::AmountMismatch],
        _ => Vec::new(),
    }
}

/// Where an attempt is in its life, as far as the merchant knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptState {
    /// Minted and being (or having been) sent to the provider, outcome unknown: not known dead,
    /// so it is closed at the provider before anything replaces it.
    Creating,
    /// The provider gave a prepay; nobody has paid yet.
    Unpaid,
    /// The provider said the buyer is paying (`USERPAYING`).
    Paying,
    /// Paid: final for the whole order.
    Paid,
    /// Closed at the provider: can never be charged.
    Closed,
    /// The provider said the payment failed (`PAYERROR`).
    Failed,
}

impl AttemptState {
    /// Its spelling, in the database and in the admin view.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Creating => "creating",
            AttemptState::Unpaid => "unpaid",
            AttemptState::Paying => "paying",
            AttemptState::Paid => "paid",
            AttemptState::Closed => "closed",
            AttemptState::Failed => "failed",
        }
    }

    /// Parses [`AttemptState::as_str`]'s spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "creating" => AttemptState::Creating,
            "unpaid" => AttemptState::Unpaid,
            "paying" => AttemptState::Paying,
            "paid" => AttemptState::Paid,
            "closed" => AttemptState::Closed,
            "failed" => AttemptState::Failed,
            _ => return None,
        })
    }

    /// Closed or failed: can never be charged, needs no close before a replacement.
    pub fn is_dead(self) -> bool {
        matches!(self, AttemptState::Closed | AttemptState::Failed)
    }
}

/// One merchant payment number (`out_trade_no`) of an order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The merchant payment number.
    pub attempt_id: String,
    /// Its business order.
    pub order_no: String,
    /// 1 for the order's first attempt, then 2, 3…
    pub seq: i64,
    /// The order fingerprint it was created for.
    pub fingerprint: String,
    /// The amount the provider was asked to charge (unknown for attempts made by a server
    /// older than this column).
    pub amount: Option<i64>,
    /// Its state.
    pub state: AttemptState,
    /// The provider's prepay parameters, once known.
    pub prepay: Option<Value>,
    /// When the provider stops accepting the prepay (ms).
    pub expires_at: Option<i64>,
    /// Last active query of the provider for it (ms).
    pub last_query_at: i64,
    /// Creation time (ms).
    pub created_at: i64,
}

/// A stored reply to a create-payment request (rule 1.1).
#[derive(Debug, Clone)]
pub struct StoredReply {
    /// The fingerprint sent with the key.
    pub fingerprint: String,
    /// The reply body that was sent.
    pub reply: Value,
}

/// A stored order submission (contract §4): what a key submitted, and the order it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The fingerprint the content had when it was submitted with the key.
    pub fingerprint: String,
    /// The business order the key made or was given.
    pub order_no: String,
}

/// An order's payment, waiting in the outbox to be delivered to the business system's webhook
/// (or delivered already). Written in the same transaction that marks the order paid, so a
/// paid order always has one, whatever crashes afterwards; [`crate::webhook`] turns it into a
/// signed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEvent {
    /// The event's id: the same on every delivery of it, so the receiver can de-duplicate.
    pub event_id: String,
    /// The business order that was paid.
    pub order_no: String,
    /// The attempt (merchant payment number) that paid it.
    pub attempt_id: String,
    /// The order's amount (cents).
    pub amount: i64,
    /// What the provider charged (cents): the order's amount unless the order is flagged.
    pub paid_amount: i64,
    /// When the order was marked paid (ms).
    pub created_at: i64,
    /// Delivery tries so far, failed or not answered.
    pub tries: i64,
    /// When it was acknowledged (ms), once delivered.
    pub delivered_at: Option<i64>,
    /// Why the last try failed, if it did.
    pub last_error: Option<String>,
}
