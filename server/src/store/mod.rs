//! The merchant's storage as the rules see it: the [`Store`] trait, one method per transaction
//! the contract needs, so that no rule ever holds a transaction open across a provider call.
//!
//! The transactions, in the order a payment meets them (docs/contract.md §1):
//!
//! 1. [`Store::begin_attempt`]: a new merchant payment number is written as `creating`
//!    **before** the provider hears of it, so a crash or a lost provider reply leaves a record
//!    that the next request closes first. It refuses while the order has an attempt that is not
//!    known dead, or is paid: one live attempt per order holds in the data itself (rule 1.2).
//! 2. [`Store::finish_attempt`]: the prepay and the idempotent reply commit **together**
//!    (rule 1.5); the same key then always finds the same attempt.
//! 3. [`Store::apply_notify`]: a notify is recorded and applied once (§3); [`Store::mark_paid`]
//!    is idempotent, and paid is final.
//! 4. [`Store::submit`]: an order submission's decision (§4 rules 1–3) and its key commit
//!    together, so parallel submissions decide one after another.
//! 5. [`Store::change_content`]: the content changes only while the order is unpaid and every
//!    attempt is known dead (rule 1.3's close-first, again in the data).
//! 6. The outbox: marking an order paid writes its webhook event in the same transaction
//!    ([`OutboxEvent`]); a delivery claims due events ([`Store::claim_webhooks`]) and records
//!    the outcome ([`Store::webhook_delivered`], [`Store::webhook_failed`]).
//! 7. The sweeper's claim ([`Store::claim_sweep`]): attempts that may still be paid and that
//!    nothing touched for a while, each handed to one claimant at a time.
//!
//! **Exclusion.** A rule that talks to the provider for an order first takes the order's
//! [`Store::Lease`] ([`Store::try_lease_order`], [`Store::lease_order`]), so two requests do not
//! both close and create; a keyed submission takes its key's lease. The lease is what makes
//! `409 in_progress` quick, not the only guard: the conditional writes above keep the contract
//! even if two leases were ever granted at once (two server instances, an expired lease), so a
//! store for many instances may implement leases with advisory locks or rows with an expiry.
//!
//! **Wake-ups.** Every committed change of an order's payment state wakes the order's
//! [`Changes`] (long-polls, contract rule 2.3).
//!
//! Every time is passed in (`now`, ms since the epoch): a store never reads a clock. Methods
//! return `Send` futures (`async fn` in the implementations), so an implementation on an async
//! database driver fits the same trait. [`sqlite::SqliteStore`] (one process per file) and
//! [`postgres::PgStore`] (any number of processes on one database) are the implementations
//! here; [`AnyStore`] is whichever of them the configuration chose.

mod any;
pub mod postgres;
pub mod sqlite;

pub use any::{AnyLease, AnyStore};

use crate::model::{Attempt, AttemptState, Order, OutboxEvent, StoredReply, Submission};
use serde_json::Value;
use std::future::Future;
use thiserror::Error;
use tokio::sync::watch;

/// Why storage failed. Surfaces as `500 internal`, or as `503 unavailable` with
/// `Retry-After` when [`StoreError::is_unavailable`]: never as a wrong answer.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite refused or failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused or failed, or could not be reached.
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] sqlx::Error),
    /// The PostgreSQL schema could not be brought to this server's version.
    #[error("PostgreSQL migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored JSON column did not parse (a corrupted or foreign database).
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored value is outside the set this server writes.
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    /// The database folder could not be created.
    #[error("cannot create the database folder: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether the database could not be reached or gave up for a reason that passes (a lost
    /// connection, no free connection in time, the server shutting down, a deadlock or
    /// serialization failure). Whatever the request was doing is either committed whole or
    /// not at all, so the client is told to come back (`503` + `Retry-After`); its retry with
    /// the same key finds what was committed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Postgres(err) => match err {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::BeginFailed => true,
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    // 08: connection exception; 57P0x: server shutting down or restarting;
                    // 53300: too many connections; 40001/40P01: serialization failure,
                    // deadlock (nothing was committed).
                    code.starts_with("08")
                        || code.starts_with("57P0")
                        || matches!(&*code, "53300" | "40001" | "40P01")
                }),
                _ => false,
            },
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => matches!(
                err.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

/// A new attempt for [`Store::begin_attempt`].
#[derive(Debug, Clone, Copy)]
pub struct NewAttempt<'a> {
    /// Its business order.
    pub order_no: &'a str,
    /// The fingerprint of the content it pays for.
    pub fingerprint: &'a str,
    /// What the provider will be asked to charge (cents).
    pub amount: i64,
    /// Now (ms).
    pub now: i64,
}

/// A create-payment reply to store under its key (rule 1.1).
#[derive(Debug, Clone, Copy)]
pub struct NewReply<'a> {
    /// The business order.
    pub order_no: &'a str,
    /// The idempotency key.
    pub key: &'a str,
    /// The fingerprint sent with the key.
    pub fingerprint: &'a str,
    /// The reply body, without `now`.
    pub body: &'a Value,
    /// The attempt it names.
    pub attempt_id: &'a str,
    /// Now (ms).
    pub now: i64,
}

/// What [`Store::mark_paid`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaidRecord {
    /// The attempt was not paid before this call (a repeated notify or query changes nothing).
    pub changed: bool,
    /// This call recorded the order's payment, for an amount other than the order's: the
    /// order is now flagged ([`crate::model::OrderFlag::AmountMismatch`]).
    pub mismatch: bool,
}

/// A verified payment notify for [`Store::apply_notify`].
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    /// The notify's own id: repeats carry the same one.
    pub notify_id: &'a str,
    /// The attempt it reports paid.
    pub attempt_id: &'a str,
    /// What the provider charged, if the notify says.
    pub charged: Option<i64>,
    /// Now (ms).
    pub now: i64,
}

/// What [`Store::apply_notify`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyApplied {
    /// The notify id was new.
    pub first: bool,
    /// What marking the attempt paid changed.
    pub paid: PaidRecord,
}

/// A keyed order submission for [`Store::submit`] (contract §4).
#[derive(Debug, Clone, Copy)]
pub struct KeyedSubmission<'a> {
    /// Who submits (empty when not given).
    pub buyer: &'a str,
    /// The idempotency key.
    pub key: &'a str,
    /// The order number the caller chose, if any: then only that order can be the same
    /// submission.
    pub chosen: Option<&'a str>,
    /// Orders created after this (ms, exclusive) are within the window.
    pub window_start: i64,
    /// The order to make when none is found (rule 3); its fingerprint is the submission's.
    pub new_order: &'a Order,
    /// Now (ms).
    pub now: i64,
}

/// What [`Store::submit`] decided.
#[derive(Debug, Clone)]
pub enum SubmitOutcome {
    /// Rule 1: the key was stored before, with this submission and order. Nothing was
    /// written; the caller compares the submission with the request.
    Stored {
        /// What the key submitted.
        submission: Submission,
        /// The order it got.
        order: Order,
    },
    /// Rule 2: a keyed order of the same buyer and content within the window; the key now
    /// names it.
    Joined(Order),
    /// Rule 3: a new order, with the key.
    Created(Order),
    /// The chosen order number belongs to another submission (or is taken).
    NumberTaken,
}

/// A content change for [`Store::change_content`].
#[derive(Debug, Clone, Copy)]
pub struct ContentChange<'a> {
    /// The order.
    pub order_no: &'a str,
    /// The new content.
    pub content: &'a Value,
    /// Its fingerprint.
    pub fingerprint: &'a str,
    /// Its amount (cents).
    pub amount: i64,
    /// Now (ms).
    pub now: i64,
}

/// What [`Store::change_content`] did.
#[derive(Debug, Clone)]
pub enum ContentChanged {
    /// Changed; the order as it is now.
    Changed(Order),
    /// Not changed: the order is paid.
    Paid,
    /// Not changed: an attempt of the order is not known dead.
    AttemptOpen,
    /// Not changed: no such order.
    UnknownOrder,
}

/// Wakes up when an order's payment state changed (see [`Store::changes`]).
#[derive(Debug)]
pub struct Changes(watch::Receiver<u64>);

impl Changes {
    /// Changes seen through `receiver`, from now on.
    pub fn new(mut receiver: watch::Receiver<u64>) -> Self {
        receiver.mark_unchanged();
        Changes(receiver)
    }

    /// Waits for the next change. Never returns once nobody can signal any more.
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The merchant's storage. See the module documentation for what each transaction is for.
pub trait Store: Send + Sync {
    /// Exclusive use of an order (or of a submission key) by one request, until dropped.
    type Lease: Send;

    /// The order's lease now, or `None` while another request holds it.
    fn try_lease_order(
        &self,
        order_no: &str,
    ) -> impl Future<Output = Result<Option<Self::Lease>, StoreError>> + Send;

    /// The order's lease, waiting at most `wait_ms` for it (`None`: still held).
    fn lease_order(
        &self,
        order_no: &str,
        wait_ms: u64,
    ) -> impl Future<Output = Result<Option<Self::Lease>, StoreError>> + Send;

    /// The lease of `buyer`'s submission key now, or `None` while another request holds it.
    fn try_lease_submission(
        &self,
        buyer: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Self::Lease>, StoreError>> + Send;

    /// The order's payment-state changes from now on.
    fn changes(&self, order_no: &str) -> Changes;

    /// The order, if it exists.
    fn order(
        &self,
        order_no: &str,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    /// Inserts an order made without a key; `false` when its number is taken.
    fn insert_order(&self, order: &Order) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Decides a keyed submission (contract §4 rules 1–3) and stores its key, in one
    /// transaction.
    fn submit(
        &self,
        submission: &KeyedSubmission<'_>,
    ) -> impl Future<Output = Result<SubmitOutcome, StoreError>> + Send;

    /// Changes the order's content, only while it is unpaid and every attempt is known dead.
    fn change_content(
        &self,
        change: &ContentChange<'_>,
    ) -> impl Future<Output = Result<ContentChanged, StoreError>> + Send;

    /// The order's newest attempt.
    fn latest_attempt(
        &self,
        order_no: &str,
    ) -> impl Future<Output = Result<Option<Attempt>, StoreError>> + Send;

    /// One attempt by its merchant payment number.
    fn attempt(
        &self,
        attempt_id: &str,
    ) -> impl Future<Output = Result<Option<Attempt>, StoreError>> + Send;

    /// Every attempt of the order, oldest first.
    fn attempts(
        &self,
        order_no: &str,
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;

    /// Writes a new attempt as `creating`, with the next sequence number. `None` (nothing
    /// written) while the order is paid or has an attempt that is not known dead.
    fn begin_attempt(
        &self,
        attempt: &NewAttempt<'_>,
    ) -> impl Future<Output = Result<Option<Attempt>, StoreError>> + Send;

    /// Records the provider's prepay of a `creating` attempt (it becomes `unpaid`) and stores
    /// `reply`, in one transaction. `false` (nothing written) when the attempt is no longer
    /// `creating` or the key has a reply already.
    fn finish_attempt(
        &self,
        prepay: &Value,
        expires_at: i64,
        reply: &NewReply<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Moves a not-yet-final attempt to `state` (`paid` never moves back; `closed` and `failed`
    /// move to nothing but `paid`, through [`Store::mark_paid`]). Whether anything changed.
    fn set_attempt_state(
        &self,
        attempt_id: &str,
        state: AttemptState,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks the attempt and its order paid, idempotently. `charged` is what the provider
    /// reports; without it, the attempt's own amount. A first payment for another amount than
    /// the order's flags the order.
    fn mark_paid(
        &self,
        attempt_id: &str,
        charged: Option<i64>,
        now: i64,
    ) -> impl Future<Output = Result<PaidRecord, StoreError>> + Send;

    /// Notes that the provider was queried about the attempt now (rule 2.2's interval).
    fn touch_query(
        &self,
        attempt_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stored reply for `(order_no, key)`, if any.
    fn reply(
        &self,
        order_no: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredReply>, StoreError>> + Send;

    /// Stores a reply; `false` (nothing written) when the key has one already.
    fn put_reply(
        &self,
        reply: &NewReply<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records the notify and marks its attempt paid, in one transaction.
    fn apply_notify(
        &self,
        notice: &Notice<'_>,
    ) -> impl Future<Output = Result<NotifyApplied, StoreError>> + Send;

    /// Claims up to `limit` undelivered webhook events due at `now`: each is counted as tried
    /// and is not due again before `claim_until`, so a claimant that dies mid-delivery only
    /// delays it. With many instances each event goes to one claimant at a time.
    fn claim_webhooks(
        &self,
        now: i64,
        claim_until: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send;

    /// Records that the business system acknowledged the event.
    fn webhook_delivered(
        &self,
        event_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a failed delivery; the event is due again at `retry_at`.
    fn webhook_failed(
        &self,
        event_id: &str,
        error: &str,
        retry_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The order's webhook events (admin view).
    fn webhook_events(
        &self,
        order_no: &str,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send;

    /// Claims up to `limit` attempts that may still be paid (`creating`, `unpaid`, `paying`)
    /// and that nothing touched since `idle_since`; they count as touched `now`. With many
    /// instances each goes to one claimant.
    fn claim_sweep(
        &self,
        now: i64,
        idle_since: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;
}
