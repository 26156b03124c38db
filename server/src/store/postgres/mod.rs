//! [`PgStore`]: the [`Store`] on PostgreSQL, for any number of server processes on one
//! database. Nothing here relies on memory shared between requests for correctness:
//!
//! - **Leases** are PostgreSQL session advisory locks (`pg_try_advisory_lock`), each taken on
//!   its own connection from a pool kept for leases, that the [`PgLease`] holds, and unlocked when the lease is
//!   dropped. Session locks, not transaction locks, because a lease spans a provider call and
//!   no transaction may stay open across one; and because a process that dies (or loses its
//!   connection) has its session ended by the server, which releases its locks: a dead
//!   instance never keeps an order locked.
//! - **The refusals are SQL.** Every writing transaction first locks the order's row
//!   (`SELECT … FOR UPDATE`), so the checks and the write that follow see the latest committed
//!   state, in one transaction; a partial unique index allows one live attempt per order, the
//!   idempotency key's primary key one reply per key. Two requests that both held a lease
//!   (which advisory locks never allow, but an operator's `pg_terminate_backend` could) still
//!   cannot make a second live attempt or a second reply.
//! - **Wake-ups** travel with `NOTIFY` in the transactions that change an order's payment
//!   state, delivered at commit to one `LISTEN` connection per process, which feeds the same
//!   per-order `watch` channels as the SQLite store. The rules re-read the row after waking, so
//!   a spurious wake-up costs one read and a lost one (the listener reconnecting) is covered by
//!   waking every waiter when the connection comes back.
//!
//! The schema is versioned with `sqlx::migrate!` (`server/migrations/postgres/`), applied at
//! start. Every statement is in the session's `search_path`, so several payment centers (or
//! tests) can share a database in separate schemas; the lock keys include the schema.

#[macro_use]
mod rows;
mod outbox;

use crate::model::{Attempt, AttemptState, Order, OutboxEvent, StoredReply, Submission};
use crate::store::sqlite::leases::Slots;
use crate::store::{
    Changes, ContentChange, ContentChanged, KeyedSubmission, NewAttempt, NewReply, Notice,
    NotifyApplied, PaidRecord, Store, StoreError, SubmitOutcome,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The channel every instance listens on; the payload is the order number.
const CHANNEL: &str = "checkout_guard_order_changed";

/// Connections per process for the transactions (each short, never across a provider call).
const POOL_SIZE: u32 = 16;

/// Connections per process for leases, which hold one each for the length of a provider call.
/// A pool of their own: were they taken from [`POOL_SIZE`]'s, requests holding leases could
/// take every connection and then wait forever for one to run their transaction.
const LEASE_POOL_SIZE: u32 = 64;

/// How long a request waits for a free connection before the store reports itself unavailable
/// (a `503` with `Retry-After` at the HTTP edge).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often [`Store::lease_order`] tries again while an order's lock is taken elsewhere.
const LEASE_POLL: Duration = Duration::from_millis(20);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The merchant's store on a PostgreSQL database.
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    lease_pool: PgPool,
    /// The session's schema, part of every lock key.
    namespace: String,
    slots: Arc<Slots>,
    releases: Arc<Releases>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// A [`PgStore`] lease: a session advisory lock held on its own pooled connection.
///
/// Dropping it unlocks on that connection in a background task and returns the connection to
/// the pool; should the unlock fail (or no runtime be left to run it), the connection is closed
/// instead, which releases the lock on the server. A locked connection is never handed back to
/// the pool.
#[derive(Debug)]
pub struct PgLease {
    conn: Option<PoolConnection<Postgres>>,
    key: i64,
    releases: Arc<Releases>,
}

impl Drop for PgLease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(conn.detach());
            return;
        };
        let key = self.key;
        let done = self.releases.begin(key);
        let releases = self.releases.clone();
        runtime.spawn(async move {
            let mut conn = conn;
            let unlocked: Result<bool, sqlx::Error> =
                sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .fetch_one(&mut *conn)
                    .await;
            if !matches!(unlocked, Ok(true)) {
                tracing::warn!(?unlocked, "advisory unlock failed: closing its connection");
                drop(conn.detach());
            }
            releases.end(key, done);
        });
    }
}

/// This process's leases being released right now. A request of this process that wants a
/// key waits for its own process's release to finish first, so a request that follows another
/// one for the same order (the same buyer clicking again) never sees the order as taken by the
/// unlock still in flight. Only an ordering of our own unlocks: the lock itself is
/// PostgreSQL's.
#[derive(Debug, Default)]
struct Releases(Mutex<HashMap<i64, watch::Receiver<()>>>);

impl Releases {
    fn begin(&self, key: i64) -> watch::Sender<()> {
        let (done, waiting) = watch::channel(());
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, waiting);
        done
    }

    fn end(&self, key: i64, done: watch::Sender<()>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        drop(done);
    }

    async fn wait(&self, key: i64) {
        let pending = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(mut pending) = pending {
            // Ends when the releasing task drops its sender; bounded in case it never runs.
            let _ = tokio::time::timeout(Duration::from_secs(2), pending.changed()).await;
        }
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://…`), applies the pending migrations and starts listening
    /// for other instances' changes.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let lease_pool = PgPoolOptions::new()
            .max_connections(LEASE_POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        MIGRATOR.run(&pool).await?;
        let namespace: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let slots = Arc::new(Slots::default());
        let task = tokio::spawn(listen(listener, slots.clone()));
        Ok(PgStore {
            pool,
            lease_pool,
            namespace,
            slots,
            releases: Arc::default(),
            listener: task,
        })
    }

    /// The connection pool (admin views, tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many idempotency keys and submission keys the order has (admin view).
    pub async fn key_counts(&self, order_no: &str) -> Result<(i64, i64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok((
            rows::count_keys(&mut conn, order_no).await?,
            rows::count_submissions(&mut conn, order_no).await?,
        ))
    }

    /// The advisory lock key of `name` in `kind`, in this store's schema: 64 bits of SHA-256,
    /// the same in every process.
    fn lock_key(&self, kind: &str, name: &[&str]) -> i64 {
        let mut hash = Sha256::new();
        for part in [self.namespace.as_str(), kind].iter().chain(name) {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }

    async fn try_lock(&self, key: i64) -> Result<Option<PgLease>, StoreError> {
        self.releases.wait(key).await;
        let mut conn = self.lease_pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        Ok(got.then(|| PgLease {
            conn: Some(conn),
            key,
            releases: self.releases.clone(),
        }))
    }

    /// Wakes this process's waiters at once; the `NOTIFY` sent in the transaction wakes the
    /// other instances' (and this one's again, harmlessly).
    fn signal_if(&self, changed: bool, order_no: Option<&str>) {
        if let (true, Some(order_no)) = (changed, order_no) {
            self.slots.signal(order_no);
        }
    }
}

/// Feeds other instances' `NOTIFY`s into the per-order channels until the store is dropped.
async fn listen(mut listener: PgListener, slots: Arc<Slots>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => slots.signal(notification.payload()),
            // The connection was lost and is re-established on the next call: whatever was
            // notified meanwhile is unknown, so every waiter re-reads.
            Ok(None) => slots.signal_all(),
            Err(err) => {
                tracing::warn!(%err, "listening for order changes failed; retrying");
                slots.signal_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Sends the order's wake-up with the transaction (delivered at commit, dropped on rollback).
async fn notify(conn: &mut PgConnection, order_no: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(order_no)
        .execute(conn)
        .await?;
    Ok(())
}

/// Rules 1–3 of contract §4 for a keyed submission, in one transaction that holds the buyer's
/// transaction lock: the submissions of one buyer decide one after another in every instance,
/// so 20 parallel submissions of one cart with 20 keys make one order.
async fn decide(
    conn: &mut PgConnection,
    buyer_lock: i64,
    sub: &KeyedSubmission<'_>,
) -> Result<SubmitOutcome, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(buyer_lock)
        .execute(&mut *conn)
        .await?;
    let print = &sub.new_order.fingerprint;
    // Rule 1: the key's own submission, even after the window and even once paid.
    if let Some(submission) = rows::get_submission(conn, sub.buyer, sub.key).await? {
        let order = rows::get_order(conn, &submission.order_no)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("submission of {}", submission.order_no)))?;
        return Ok(SubmitOutcome::Stored { submission, order });
    }
    // Rule 2: the same content from the same buyer within the window, whatever the key.
    let recent = match sub.chosen {
        None => rows::recent_submitted_order(conn, sub.buyer, print, sub.window_start).await?,
        // A chosen number names the order: only that order can be the same submission.
        Some(no) => match rows::get_order(conn, no).await? {
            Some(order)
                if order.buyer == sub.buyer
                    && order.fingerprint == *print
                    && order.created_at > sub.window_start
                    && rows::count_submissions(conn, no).await? > 0 =>
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
            if !rows::insert_order(conn, sub.new_order).await? {
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
    rows::put_submission(conn, sub.buyer, sub.key, &submission, sub.now).await?;
    Ok(outcome)
}

impl Store for PgStore {
    type Lease = PgLease;

    async fn try_lease_order(&self, order_no: &str) -> Result<Option<PgLease>, StoreError> {
        self.try_lock(self.lock_key("order", &[order_no])).await
    }

    async fn lease_order(
        &self,
        order_no: &str,
        wait_ms: u64,
    ) -> Result<Option<PgLease>, StoreError> {
        let key = self.lock_key("order", &[order_no]);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
        loop {
            if let Some(lease) = self.try_lock(key).await? {
                return Ok(Some(lease));
            }
            if tokio::time::Instant::now() + LEASE_POLL > deadline {
                return Ok(None);
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    async fn try_lease_submission(
        &self,
        buyer: &str,
        key: &str,
    ) -> Result<Option<PgLease>, StoreError> {
        self.try_lock(self.lock_key("submission", &[buyer, key]))
            .await
    }

    fn changes(&self, order_no: &str) -> Changes {
        Changes::new(self.slots.get(order_no).changed.subscribe())
    }

    async fn order(&self, order_no: &str) -> Result<Option<Order>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::get_order(&mut conn, order_no).await
    }

    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::insert_order(&mut conn, order).await
    }

    async fn submit(&self, submission: &KeyedSubmission<'_>) -> Result<SubmitOutcome, StoreError> {
        let buyer_lock = self.lock_key("buyer", &[submission.buyer]);
        let mut tx = self.pool.begin().await?;
        let outcome = decide(&mut tx, buyer_lock, submission).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn change_content(
        &self,
        change: &ContentChange<'_>,
    ) -> Result<ContentChanged, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(order) = rows::lock_order(&mut tx, change.order_no).await? else {
            return Ok(ContentChanged::UnknownOrder);
        };
        if order.paid_attempt.is_some() {
            return Ok(ContentChanged::Paid);
        }
        if rows::has_open_attempt(&mut tx, change.order_no).await? {
            return Ok(ContentChanged::AttemptOpen);
        }
        rows::update_order_content(&mut tx, change).await?;
        let order = rows::get_order(&mut tx, change.order_no)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("order {}", change.order_no)))?;
        tx.commit().await?;
        Ok(ContentChanged::Changed(order))
    }

    async fn latest_attempt(&self, order_no: &str) -> Result<Option<Attempt>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::latest_attempt(&mut conn, order_no).await
    }

    async fn attempt(&self, attempt_id: &str) -> Result<Option<Attempt>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::get_attempt(&mut conn, attempt_id).await
    }

    async fn attempts(&self, order_no: &str) -> Result<Vec<Attempt>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::list_attempts(&mut conn, order_no).await
    }

    async fn begin_attempt(&self, new: &NewAttempt<'_>) -> Result<Option<Attempt>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The order's row lock: begin, change and mark-paid of one order run one at a time.
        let unpaid = rows::lock_order(&mut tx, new.order_no)
            .await?
            .is_some_and(|order| order.paid_attempt.is_none());
        if !unpaid || rows::has_open_attempt(&mut tx, new.order_no).await? {
            return Ok(None);
        }
        // The partial unique index refuses a second live attempt even if the check above were
        // ever bypassed: that refusal is the same `None`.
        let Some(attempt) = rows::insert_creating_attempt(&mut tx, new).await? else {
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(attempt))
    }

    async fn finish_attempt(
        &self,
        prepay: &Value,
        expires_at: i64,
        reply: &NewReply<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = rows::set_prepay(&mut tx, reply.attempt_id, prepay, expires_at, reply.now)
            .await?
            && rows::put_reply(&mut tx, reply).await?;
        if !done {
            // Nothing of it is kept: the prepay without its reply would break rule 1.5.
            tx.rollback().await?;
            return Ok(false);
        }
        notify(&mut tx, reply.order_no).await?;
        tx.commit().await?;
        self.signal_if(true, Some(reply.order_no));
        Ok(true)
    }

    async fn set_attempt_state(
        &self,
        attempt_id: &str,
        state: AttemptState,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let order_no = rows::set_attempt_state(&mut tx, attempt_id, state, now).await?;
        if let Some(order_no) = &order_no {
            notify(&mut tx, order_no).await?;
        }
        tx.commit().await?;
        self.signal_if(order_no.is_some(), order_no.as_deref());
        Ok(order_no.is_some())
    }

    async fn mark_paid(
        &self,
        attempt_id: &str,
        charged: Option<i64>,
        now: i64,
    ) -> Result<PaidRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let order_no = rows::lock_order_of(&mut tx, attempt_id).await?;
        let paid = rows::mark_paid(&mut tx, attempt_id, charged, now).await?;
        if let (true, Some(order_no)) = (paid.changed, &order_no) {
            notify(&mut tx, order_no).await?;
        }
        tx.commit().await?;
        self.signal_if(paid.changed, order_no.as_deref());
        Ok(paid)
    }

    async fn touch_query(&self, attempt_id: &str, now: i64) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::touch_query(&mut conn, attempt_id, now).await
    }

    async fn reply(&self, order_no: &str, key: &str) -> Result<Option<StoredReply>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::get_reply(&mut conn, order_no, key).await
    }

    async fn put_reply(&self, reply: &NewReply<'_>) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::put_reply(&mut conn, reply).await
    }

    async fn apply_notify(&self, notice: &Notice<'_>) -> Result<NotifyApplied, StoreError> {
        let mut tx = self.pool.begin().await?;
        let order_no = rows::lock_order_of(&mut tx, notice.attempt_id).await?;
        let first =
            rows::record_notify(&mut tx, notice.notify_id, notice.attempt_id, notice.now).await?;
        let paid = rows::mark_paid(&mut tx, notice.attempt_id, notice.charged, notice.now).await?;
        if let (true, Some(order_no)) = (paid.changed, &order_no) {
            notify(&mut tx, order_no).await?;
        }
        tx.commit().await?;
        self.signal_if(paid.changed, order_no.as_deref());
        Ok(NotifyApplied { first, paid })
    }
    async fn claim_webhooks(
        &self,
        now: i64,
        claim_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        outbox::claim_due(&mut conn, now, claim_until, limit).await
    }

    async fn webhook_delivered(&self, event_id: &str, now: i64) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        outbox::delivered(&mut conn, event_id, now).await
    }

    async fn webhook_failed(
        &self,
        event_id: &str,
        error: &str,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        outbox::failed(&mut conn, event_id, error, retry_at).await
    }

    async fn webhook_events(&self, order_no: &str) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        outbox::of_order(&mut conn, order_no).await
    }

    async fn claim_sweep(
        &self,
        now: i64,
        idle_since: i64,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        outbox::claim_sweep(&mut conn, now, idle_since, limit).await
    }
}
