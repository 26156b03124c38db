//! [`AnyStore`]: the store the configuration chose, SQLite or PostgreSQL, behind one type, so
//! the composition ([`crate::app`]) and the HTTP layer stay non-generic. Every method only
//! dispatches.

use super::postgres::{PgLease, PgStore};
use super::sqlite::{SqliteLease, SqliteStore};
use super::{
    Changes, ContentChange, ContentChanged, KeyedSubmission, NewAttempt, NewReply, Notice,
    NotifyApplied, PaidRecord, Store, StoreError, SubmitOutcome,
};
use crate::model::{Attempt, AttemptState, Order, OutboxEvent, StoredReply};
use serde_json::Value;

/// The SQLite store (one process per file) or the PostgreSQL store (many processes).
#[derive(Debug)]
pub enum AnyStore {
    /// See [`SqliteStore`].
    Sqlite(SqliteStore),
    /// See [`PgStore`].
    Postgres(PgStore),
}

/// The lease of an [`AnyStore`].
#[derive(Debug)]
pub enum AnyLease {
    /// An SQLite store's lease.
    Sqlite(SqliteLease),
    /// A PostgreSQL store's lease.
    Postgres(PgLease),
}

impl From<SqliteStore> for AnyStore {
    fn from(store: SqliteStore) -> Self {
        AnyStore::Sqlite(store)
    }
}

impl From<PgStore> for AnyStore {
    fn from(store: PgStore) -> Self {
        AnyStore::Postgres(store)
    }
}

impl AnyStore {
    /// How many idempotency keys and submission keys the order has (admin view).
    pub async fn key_counts(&self, order_no: &str) -> Result<(i64, i64), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.db().with(|c| {
                Ok((
                    super::sqlite::records::count_keys(c, order_no)?,
                    super::sqlite::records::count_submissions(c, order_no)?,
                ))
            }),
            AnyStore::Postgres(s) => s.key_counts(order_no).await,
        }
    }
}

impl Store for AnyStore {
    type Lease = AnyLease;

    async fn try_lease_order(&self, order_no: &str) -> Result<Option<AnyLease>, StoreError> {
        Ok(match self {
            AnyStore::Sqlite(s) => s.try_lease_order(order_no).await?.map(AnyLease::Sqlite),
            AnyStore::Postgres(s) => s.try_lease_order(order_no).await?.map(AnyLease::Postgres),
        })
    }

    async fn lease_order(
        &self,
        order_no: &str,
        wait_ms: u64,
    ) -> Result<Option<AnyLease>, StoreError> {
        Ok(match self {
            AnyStore::Sqlite(s) => s
                .lease_order(order_no, wait_ms)
                .await?
                .map(AnyLease::Sqlite),
            AnyStore::Postgres(s) => s
                .lease_order(order_no, wait_ms)
                .await?
                .map(AnyLease::Postgres),
        })
    }

    async fn try_lease_submission(
        &self,
        buyer: &str,
        key: &str,
    ) -> Result<Option<AnyLease>, StoreError> {
        Ok(match self {
            AnyStore::Sqlite(s) => s
                .try_lease_submission(buyer, key)
                .await?
                .map(AnyLease::Sqlite),
            AnyStore::Postgres(s) => s
                .try_lease_submission(buyer, key)
                .await?
                .map(AnyLease::Postgres),
        })
    }

    fn changes(&self, order_no: &str) -> Changes {
        match self {
            AnyStore::Sqlite(s) => s.changes(order_no),
            AnyStore::Postgres(s) => s.changes(order_no),
        }
    }

    async fn order(&self, order_no: &str) -> Result<Option<Order>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.order(order_no).await,
            AnyStore::Postgres(s) => s.order(order_no).await,
        }
    }

    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.insert_order(order).await,
            AnyStore::Postgres(s) => s.insert_order(order).await,
        }
    }

    async fn submit(&self, submission: &KeyedSubmission<'_>) -> Result<SubmitOutcome, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.submit(submission).await,
            AnyStore::Postgres(s) => s.submit(submission).await,
        }
    }

    async fn change_content(
        &self,
        change: &ContentChange<'_>,
    ) -> Result<ContentChanged, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.change_content(change).await,
            AnyStore::Postgres(s) => s.change_content(change).await,
        }
    }

    async fn latest_attempt(&self, order_no: &str) -> Result<Option<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.latest_attempt(order_no).await,
            AnyStore::Postgres(s) => s.latest_attempt(order_no).await,
        }
    }

    async fn attempt(&self, attempt_id: &str) -> Result<Option<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attempt(attempt_id).await,
            AnyStore::Postgres(s) => s.attempt(attempt_id).await,
        }
    }

    async fn attempts(&self, order_no: &str) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attempts(order_no).await,
            AnyStore::Postgres(s) => s.attempts(order_no).await,
        }
    }

    async fn begin_attempt(&self, attempt: &NewAttempt<'_>) -> Result<Option<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.begin_attempt(attempt).await,
            AnyStore::Postgres(s) => s.begin_attempt(attempt).await,
        }
    }

    async fn finish_attempt(
        &self,
        prepay: &Value,
        expires_at: i64,
        reply: &NewReply<'_>,
    ) -> Result<bool, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.finish_attempt(prepay, expires_at, reply).await,
            AnyStore::Postgres(s) => s.finish_attempt(prepay, expires_at, reply).await,
        }
    }

    async fn set_attempt_state(
        &self,
        attempt_id: &str,
        state: AttemptState,
        now: i64,
    ) -> Result<bool, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.set_attempt_state(attempt_id, state, now).await,
            AnyStore::Postgres(s) => s.set_attempt_state(attempt_id, state, now).await,
        }
    }

    async fn mark_paid(
        &self,
        attempt_id: &str,
        charged: Option<i64>,
        now: i64,
    ) -> Result<PaidRecord, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.mark_paid(attempt_id, charged, now).await,
            AnyStore::Postgres(s) => s.mark_paid(attempt_id, charged, now).await,
        }
    }

    async fn touch_query(&self, attempt_id: &str, now: i64) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.touch_query(attempt_id, now).await,
            AnyStore::Postgres(s) => s.touch_query(attempt_id, now).await,
        }
    }

    async fn reply(&self, order_no: &str, key: &str) -> Result<Option<StoredReply>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.reply(order_no, key).await,
            AnyStore::Postgres(s) => s.reply(order_no, key).await,
        }
    }

    async fn put_reply(&self, reply: &NewReply<'_>) -> Result<bool, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.put_reply(reply).await,
            AnyStore::Postgres(s) => s.put_reply(reply).await,
        }
    }

    async fn apply_notify(&self, notice: &Notice<'_>) -> Result<NotifyApplied, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.apply_notify(notice).await,
            AnyStore::Postgres(s) => s.apply_notify(notice).await,
        }
    }
    async fn claim_webhooks(
        &self,
        now: i64,
        claim_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.claim_webhooks(now, claim_until, limit).await,
            AnyStore::Postgres(s) => s.claim_webhooks(now, claim_until, limit).await,
        }
    }

    async fn webhook_delivered(&self, event_id: &str, now: i64) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.webhook_delivered(event_id, now).await,
            AnyStore::Postgres(s) => s.webhook_delivered(event_id, now).await,
        }
    }

    async fn webhook_failed(
        &self,
        event_id: &str,
        error: &str,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.webhook_failed(event_id, error, retry_at).await,
            AnyStore::Postgres(s) => s.webhook_failed(event_id, error, retry_at).await,
        }
    }

    async fn webhook_events(&self, order_no: &str) -> Result<Vec<OutboxEvent>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.webhook_events(order_no).await,
            AnyStore::Postgres(s) => s.webhook_events(order_no).await,
        }
    }

    async fn claim_sweep(
        &self,
        now: i64,
        idle_since: i64,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.claim_sweep(now, idle_since, limit).await,
            AnyStore::Postgres(s) => s.claim_sweep(now, idle_since, limit).await,
        }
    }
}
