//! The merchant's side of the contract (`docs/contract.md`): the rules a backend keeps so that
//! a business order is charged at most once.
//!
//! A [`Merchant`] sees a [`Provider`], a [`Store`] and a [`Clock`], and nothing else: no HTTP,
//! no SQL, no system clock, no fault injection. Build one from [`MerchantParts`], then call one
//! method per request and turn its answer into a reply: a value for the success, a
//! [`RuleError`] naming the contract's refusal otherwise. The caller adds `now` to every reply
//! body (the server's clock) and maps refusals to statuses (`crate::error`). What happened is
//! reported to an [`Observer`] (the stats); nothing reported is ever read back to decide.
//!
//! The rules, in the order a payment meets them, numbered as in the contract. Each is cited
//! (`Rule 1.2:` …) where it is enforced; the tests (`rules/tests.rs`) are named after them
//! and run on a virtual clock.
//!
//! **Submitting the order** (§4; [`Merchant::claim_submission`], then [`Merchant::submit`]):
//!
//! - §4.1 The same key with the same content returns its order, even after the window and even
//!   once paid; with other content it is `key_reused`; while its first request is still being
//!   handled (the key's lease), `in_progress`.
//! - §4.2 Else the same content from the same buyer within the window returns that order,
//!   whatever the key. §4.3 Else a new order. Rules 2 and 3 and the key's row are one store
//!   transaction ([`Store::submit`]), so parallel submissions decide one after another.
//!   Without a key every submission makes a new order (clients older than §4 rely on it).
//!
//! **Creating the payment attempt** (§1; [`Merchant::create_payment`]), under the order's
//! lease: `in_progress` while another create, close or status evaluation holds it.
//!
//! - 1.4 Paid is final: `already_paid`, whatever the key; checked first, so it wins over 1.1.
//! - 1.1 The same key with the same fingerprint returns the stored reply; with another,
//!   `key_reused`.
//! - 1.6 The fingerprint must be the one of the server's own copy of the order.
//! - 1.2 The live attempt for this content is reused whatever the key, with no second prepay
//!   call, but only after the provider was asked whether it was just paid (its notify may be
//!   late): then `already_paid`, not the paid attempt again. "Live" wants
//!   `reuse_margin_ms` left on the prepay.
//! - 1.3 An attempt that is not known dead (other content, expired, or `creating`: its
//!   creation's outcome unknown) is closed **at the provider** before anything replaces it. A
//!   close that reveals a payment is `already_paid`; a provider that cannot close it,
//!   `provider_unavailable`.
//! - Only then a new merchant payment number for the same order, stored as `creating` before
//!   the provider hears of it ([`Store::begin_attempt`]), so a crash or a lost reply leaves a
//!   record the next request closes first.
//! - 1.5 The prepay and the idempotent reply commit together ([`Store::finish_attempt`]).
//!
//! **Changing the order's content** (rule 1.3; [`Merchant::change_content`]), under the
//! order's lease: every attempt not known dead is closed at the provider **before** the change
//! is stored. A close that reveals a payment refuses the change (`already_paid`); a provider
//! that cannot close refuses it too (`attempt_open`), leaving the old content payable. The same
//! content again changes nothing and closes nothing; a paid order's content never changes.
//!
//! **Answering the status** (§2; [`Merchant::payment_status`]), under the order's lease,
//! waiting `busy_wait_ms` for it (then `busy`, §2.4):
//!
//! - 2.1 `closed` only after the provider closed the attempt: an expired prepay, and an
//!   attempt whose creation's outcome is unknown (`creating`), are closed first; a close that
//!   reveals a payment answers `paid`.
//! - 2.2 While the attempt is `unpaid` or `paying`, the provider is asked before answering, at
//!   most once per `query_interval_ms` per order (the notify may be late or lost: 掉单).
//! - 2.3 With a wait, the reply is held until the status changes or the wait passes (capped at
//!   `max_wait_secs`), re-asking the provider every interval; the wait runs on the clock.
//! - 2.5 An unknown order is `unknown_order`, for every request, before any lease is taken.
//!
//! **The notify** (§3; [`Merchant::apply_notify`], after the caller verified the provider's
//! signature): recorded and applied once, so a repeat changes nothing. A payment confirmed for
//! an amount other than the order's current one is recorded as paid (the buyer was charged)
//! and flagged for the merchant (rule 1.3's last sentence), never taken as paid in full.
//!
//! **The sweeper** ([`Merchant::sweep`], run on a timer): attempts that may still be paid and
//! that nothing touched for `sweep_after_ms` are settled as a status request would settle
//! them (rule 2.2's query, rule 2.1's close of an expired or `creating` attempt), one instance
//! per attempt, so a lost notify is found even when no page is asking.
//!
//! **Results pushed.** Whatever marks an order paid (notify, query, refused close, sweeper)
//! writes its webhook event in the same store transaction; [`crate::webhook`] delivers it.
//!
//! **Time.** Every time the rules store or compare comes from the [`Clock`]; none from the
//! system. **Exclusion.** The leases make concurrent requests answer `in_progress` or wait;
//! the store's transactions refuse on their own what would break the rules above (a second
//! attempt not known dead, a reply for a taken key, a content change with an open attempt),
//! answered `in_progress` or `attempt_open`, so the rules never rely on a lease alone.

mod notify;
mod orders;
mod payments;
pub mod scene;
mod sweep;
#[cfg(test)]
mod tests;

pub use notify::PaymentNotice;
pub use orders::{
    checked_buyer, checked_content, checked_order_no, order_body, Claimed, Content, Submit,
    Submitted, MAX_BUYER_CHARS,
};
pub use payments::{attempt_body, CreatePayment, CreateReply, Status, StatusView};
pub use sweep::Swept;

use crate::clock::Clock;
use crate::config::{Settings, SharedSettings};
use crate::provider::Provider;
use crate::stats::{Event, Observer};
use crate::store::{PaidRecord, Store, StoreError};
use std::sync::Arc;
use thiserror::Error;

/// Why a rule refused a request: each variant is one answer of the contract (the HTTP layer
/// gives it its status and stable code), or a storage failure.
#[derive(Debug, Error)]
pub enum RuleError {
    /// `404 unknown_order`.
    #[error("no business order {0:?}")]
    UnknownOrder(String),
    /// `404 unknown_attempt`: a notify for a payment number the merchant never minted.
    #[error("no attempt {0:?}")]
    UnknownAttempt(String),
    /// `409 already_paid`: paid is final.
    #[error("order {0} is paid")]
    AlreadyPaid(String),
    /// `409 in_progress`: a create, close or status evaluation holds the order; retry the
    /// same key.
    #[error("a payment request for this order is still running; retry with the same key")]
    PaymentInProgress,
    /// `409 in_progress`: the first request with this submission key has not answered yet.
    #[error("an order submission with this key is still running; retry with the same key")]
    SubmissionInProgress,
    /// `503 busy`: the order stayed held for longer than a status request waits.
    #[error("a payment request for this order is running")]
    Busy,
    /// `409 attempt_open`: the content cannot change while an attempt for the old content may
    /// still be paid and the provider cannot close it.
    #[error("order {0} has a payment attempt the provider could not close; retry the change")]
    AttemptOpen(String),
    /// `422 key_reused`: a create-payment key sent with another fingerprint.
    #[error("this idempotency key was used with another fingerprint")]
    PaymentKeyReused,
    /// `422 key_reused`: a submission key sent with other content.
    #[error("this idempotency key was used to submit other content")]
    SubmissionKeyReused,
    /// `422 fingerprint_mismatch`: not the fingerprint of the server's copy of the order.
    #[error("the fingerprint is not the one of the order's current content")]
    FingerprintMismatch,
    /// `409 order_exists`: a chosen order number that belongs to another order.
    #[error("order {0} exists")]
    OrderExists(String),
    /// `503 provider_unavailable`: the provider did not answer (or refused the create).
    #[error("the payment provider did not answer; retry with the same key")]
    ProviderUnavailable,
    /// `400 invalid_body`: content, buyer or order number the rules cannot accept.
    #[error("{0}")]
    InvalidBody(String),
    /// `500 internal`: storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything a [`Merchant`] is made of.
#[derive(Debug)]
pub struct MerchantParts<P, S> {
    /// The payment provider.
    pub provider: P,
    /// The merchant's storage.
    pub store: S,
    /// Where every time comes from.
    pub clock: Clock,
    /// Told what happened (the stats).
    pub observer: Arc<dyn Observer>,
    /// The runtime settings (`prepay_ttl_ms`, `reuse_margin_ms`, `query_interval_ms`, …), read
    /// afresh by every request.
    pub settings: SharedSettings,
}

/// The merchant's rules over a provider `P` and a store `S`. See the module documentation.
#[derive(Debug)]
pub struct Merchant<P, S> {
    provider: P,
    store: S,
    clock: Clock,
    observer: Arc<dyn Observer>,
    settings: SharedSettings,
}

impl<P: Provider, S: Store> Merchant<P, S> {
    /// A merchant made of `parts`.
    pub fn new(parts: MerchantParts<P, S>) -> Self {
        Merchant {
            provider: parts.provider,
            store: parts.store,
            clock: parts.clock,
            observer: parts.observer,
            settings: parts.settings,
        }
    }

    /// The provider the rules call.
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// The store the rules call.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock the rules read.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The settings as they are now.
    pub fn settings(&self) -> Settings {
        self.settings.get()
    }

    /// The order, or [`RuleError::UnknownOrder`] (rule 2.5). Asked before any lease, so a
    /// request for a made-up order number leaves nothing behind.
    pub async fn order(&self, order_no: &str) -> Result<crate::model::Order, RuleError> {
        self.store
            .order(order_no)
            .await?
            .ok_or_else(|| RuleError::UnknownOrder(order_no.to_owned()))
    }

    /// Reports a payment recorded for another amount than the order's (the order is flagged).
    fn count_mismatch(&self, order_no: &str, paid: PaidRecord) {
        if paid.mismatch {
            self.observer.observe(order_no, Event::AmountMismatch);
        }
    }
}
