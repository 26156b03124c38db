//! [`SqliteStore`]: the [`Store`] on one SQLite file, for one server process.
//!
//! Each trait method is one short transaction on the single connection ([`db::Db`]), never
//! held across an await. Leases and wake-ups live in memory ([`leases`]): one process per
//! database file. The SQL itself is in [`records`].

pub mod db;
pub mod leases;
pub mod outbox;
pub mod records;

pub use db::Db;

use crate::model::{Attempt, AttemptState, Order, OutboxEvent, StoredReply, Submission};
use crate::store::{
    Changes, ContentChange, ContentChanged, KeyedSubmission, NewAttempt, NewReply, Notice,
    NotifyApplied, PaidRecord, Store, StoreError, SubmitOutcome,
};
use leases::{KeyClaim, KeyClaims, Slots};
use rusqlite::{Connection, TransactionBehavior};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// The merchant's store on a shared [`Db`].
#[derive(Debug)]
pub struct SqliteStore {
    db: Arc<Db>,
    slots: Slots,
    submitting: KeyClaims,
}

/// A [`SqliteStore`] lease: an order's lock, or a submission key's claim.
#[derive(Debug)]
pub enum SqliteLease {
    /// The order's lock.
    Order(OwnedMutexGuard<()>),
    /// A submission key's claim.
    Submission(KeyClaim),
}

impl SqliteStore {
    /// The store on `db`.
    pub fn new(db: Arc<Db>) -> Self {
        SqliteStore {
            db,
            slots: Slots::default(),
            submitting: KeyClaims::default(),
        }
    }

    /// The database underneath (admin views, tests).
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    fn signal_if(&self, changed: bool, order_no: &str) {
        if changed {
            self.slots.signal(order_no);
        }
    }

    /// The order of an attempt, for its wake-up.
    fn order_of(conn: &Connection, attempt_id: &str) -> Result<Option<String>, StoreError> {
        Ok(records::get_attempt(conn, attempt_id)?.map(|a| a.order_no))
    }
}

/// Rules 1–3 of contract §4 for a keyed submission, in one immediate transaction.
fn decide(conn: &mut Connection, sub: &KeyedSubmission<'_>) -> Result<SubmitOutcome, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let print = &sub.new_order.fingerprint;
    // Rule 1: the key's own submission, even after the window and even once paid.
    if let Some(submission) = records::get_submission(&tx, sub.buyer, sub.key)? {
        let order = records::get_order(&tx, &submission.order_no)?
            .ok_or_else(|| StoreError::Corrupt(format!("submission of {}", submission.order_no)))?;
        return Ok(SubmitOutcome::Stored { submission, order });
    }
    // Rule 2: the same content from the same buyer within the window, whatever the key.
    let recent = match sub.chosen {
        None => records::recent_submitted_order(&tx, sub.buyer, print, sub.window_start)?,
        // A chosen number names the order: only that order can be the same submission.
        Some(no) => match records::get_order(&tx, no)? {
            Some(order)
                if order.buyer == sub.buyer
                    && order.fingerprint == *print
                    && order.created_at > sub.window_start
                    && records::count_submissions(&tx, no)? > 0 =>
            {
                Some(order)
            }
            Some(_) => return Ok(SubmitOutcome::NumberTaken),
            None => None,
        },
    };
    let outcome = match recent {
        Some(order) => SubmitOutcome::Joined(order),
        // Rule 3: a new order.
        None => {
            if !records::insert_order(&tx, sub.new_order)? {
                return Ok(SubmitOutcome::NumberTaken);
            }
            SubmitOutcome::Created(sub.new_order.clone())
        }
    };
    let order_no = match &outcome {
        SubmitOutcome::Joined(order) | SubmitOutcome::Created(order) => order.order_no.clone(),
        SubmitOutcome::Stored { .. } | SubmitOutcome::NumberTaken => return Ok(outcome),
    };
    let submission = Submission {
        fingerprint: print.clone(),
        order_no,
    };
    records::put_submission(&tx, sub.buyer, sub.key, &submission, sub.now)?;
    tx.commit()?;
    Ok(outcome)
}

impl Store for SqliteStore {
    type Lease = SqliteLease;

    async fn try_lease_order(&self, order_no: &str) -> Result<Option<SqliteLease>, StoreError> {
        Ok(self
            .slots
            .get(order_no)
            .lock
            .clone()
            .try_lock_owned()
            .ok()
            .map(SqliteLease::Order))
    }

    async fn lease_order(
        &self,
        order_no: &str,
        wait_ms: u64,
    ) -> Result<Option<SqliteLease>, StoreError> {
        let lock = self.slots.get(order_no).lock.clone();
        Ok(
            tokio::time::timeout(Duration::from_millis(wait_ms), lock.lock_owned())
                .await
                .ok()
                .map(SqliteLease::Order),
        )
    }

    async fn try_lease_submission(
        &self,
        buyer: &str,
        key: &str,
    ) -> Result<Option<SqliteLease>, StoreError> {
        Ok(self
            .submitting
            .claim(buyer, key)
            .map(SqliteLease::Submission))
    }

    fn changes(&self, order_no: &str) -> Changes {
        Changes::new(self.slots.get(order_no).changed.subscribe())
    }

    async fn order(&self, order_no: &str) -> Result<Option<Order>, StoreError> {
        self.db.with(|c| records::get_order(c, order_no))
    }

    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        self.db.with(|c| records::insert_order(c, order))
    }

    async fn submit(&self, submission: &KeyedSubmission<'_>) -> Result<SubmitOutcome, StoreError> {
        self.db.with(|c| decide(c, submission))
    }

    async fn change_content(
        &self,
        change: &ContentChange<'_>,
    ) -> Result<ContentChanged, StoreError> {
        self.db.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(order) = records::get_order(&tx, change.order_no)? else {
                return Ok(ContentChanged::UnknownOrder);
            };
            if order.paid_attempt.is_some() {
                return Ok(ContentChanged::Paid);
            }
            if records::has_open_attempt(&tx, change.order_no)? {
                return Ok(ContentChanged::AttemptOpen);
            }
            records::update_order_content(
                &tx,
                change.order_no,
                change.content,
                change.fingerprint,
                change.amount,
                change.now,
            )?;
            let order = records::get_order(&tx, change.order_no)?
                .ok_or_else(|| StoreError::Corrupt(format!("order {}", change.order_no)))?;
            tx.commit()?;
            Ok(ContentChanged::Changed(order))
        })
    }

    async fn latest_attempt(&self, order_no: &str) -> Result<Option<Attempt>, StoreError> {
        self.db.with(|c| records::latest_attempt(c, order_no))
    }

    async fn attempt(&self, attempt_id: &str) -> Result<Option<Attempt>, StoreError> {
        self.db.with(|c| records::get_attempt(c, attempt_id))
    }

    async fn attempts(&self, order_no: &str) -> Result<Vec<Attempt>, StoreError> {
        self.db.with(|c| records::list_attempts(c, order_no))
    }

    async fn begin_attempt(&self, new: &NewAttempt<'_>) -> Result<Option<Attempt>, StoreError> {
        self.db.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let unpaid = records::get_order(&tx, new.order_no)?
                .is_some_and(|order| order.paid_attempt.is_none());
            if !unpaid || records::has_open_attempt(&tx, new.order_no)? {
                return Ok(None);
            }
            let attempt = records::insert_creating_attempt(
                &tx,
                new.order_no,
                new.fingerprint,
                new.amount,
                new.now,
            )?;
            tx.commit()?;
            Ok(Some(attempt))
        })
    }

    async fn finish_attempt(
        &self,
        prepay: &Value,
        expires_at: i64,
        reply: &NewReply<'_>,
    ) -> Result<bool, StoreError> {
        let done = self.db.with(|c| {
            let tx = c.transaction()?;
            let done = records::set_prepay(&tx, reply.attempt_id, prepay, expires_at, reply.now)?
                && records::put_reply(&tx, reply)?;
            if done {
                tx.commit()?;
            }
            Ok(done)
        })?;
        self.signal_if(done, reply.order_no);
        Ok(done)
    }

    async fn set_attempt_state(
        &self,
        attempt_id: &str,
        state: AttemptState,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (changed, order_no) = self.db.with(|c| {
            let changed = records::set_attempt_state(c, attempt_id, state, now)?;
            Ok((changed, Self::order_of(c, attempt_id)?))
        })?;
        if let Some(order_no) = order_no {
            self.signal_if(changed, &order_no);
        }
        Ok(changed)
    }

    async fn mark_paid(
        &self,
        attempt_id: &str,
        charged: Option<i64>,
        now: i64,
    ) -> Result<PaidRecord, StoreError> {
        let (paid, order_no) = self.db.with(|c| {
            let tx = c.transaction()?;
            let paid = records::mark_paid(&tx, attempt_id, charged, now)?;
            let order_no = Self::order_of(&tx, attempt_id)?;
            tx.commit()?;
            Ok((paid, order_no))
        })?;
        if let Some(order_no) = order_no {
            self.signal_if(paid.changed, &order_no);
        }
        Ok(paid)
    }

    async fn touch_query(&self, attempt_id: &str, now: i64) -> Result<(), StoreError> {
        self.db.with(|c| records::touch_query(c, attempt_id, now))
    }

    async fn reply(&self, order_no: &str, key: &str) -> Result<Option<StoredReply>, StoreError> {
        self.db.with(|c| records::get_reply(c, order_no, key))
    }

    async fn put_reply(&self, reply: &NewReply<'_>) -> Result<bool, StoreError> {
        self.db.with(|c| records::put_reply(c, reply))
    }

    async fn apply_notify(&self, notice: &Notice<'_>) -> Result<NotifyApplied, StoreError> {
        let (applied, order_no) = self.db.with(|c| {
            let tx = c.transaction()?;
            let first =
                records::record_notify(&tx, notice.notify_id, notice.attempt_id, notice.now)?;
            let paid = records::mark_paid(&tx, notice.attempt_id, notice.charged, notice.now)?;
            let order_no = Self::order_of(&tx, notice.attempt_id)?;
            tx.commit()?;
            Ok((NotifyApplied { first, paid }, order_no))
        })?;
        if let Some(order_no) = order_no {
            self.signal_if(applied.paid.changed, &order_no);
        }
        Ok(applied)
    }
    async fn claim_webhooks(
        &self,
        now: i64,
        claim_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.db
            .with(|c| outbox::claim_due(c, now, claim_until, limit))
    }

    async fn webhook_delivered(&self, event_id: &str, now: i64) -> Result<(), StoreError> {
        self.db.with(|c| outbox::delivered(c, event_id, now))
    }

    async fn webhook_failed(
        &self,
        event_id: &str,
        error: &str,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        self.db
            .with(|c| outbox::failed(c, event_id, error, retry_at))
    }

    async fn webhook_events(&self, order_no: &str) -> Result<Vec<OutboxEvent>, StoreError> {
        self.db.with(|c| outbox::of_order(c, order_no))
    }

    async fn claim_sweep(
        &self,
        now: i64,
        idle_since: i64,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        self.db
            .with(|c| outbox::claim_sweep(c, now, idle_since, limit))
    }
}
