//! The merchant's rows in PostgreSQL: the same statements as the SQLite store's
//! (`store/sqlite/records.rs`), over one connection or transaction, so that [`super::PgStore`]
//! can group them. Static SQL only, bound parameters only.

use crate::model::{payment_flags, Attempt, AttemptState, Order, StoredReply, Submission};
use crate::store::{ContentChange, NewAttempt, NewReply, PaidRecord, StoreError};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

macro_rules! order_columns {
    () => {
        "order_no, content, fingerprint, amount, buyer, paid_attempt, paid_amount, created_at, updated_at"
    };
}

macro_rules! attempt_columns {
    () => {
        "attempt_id, order_no, seq, fingerprint, state, prepay, expires_at, last_query_at, created_at, amount"
    };
}

fn order_from(row: &PgRow) -> Result<Order, StoreError> {
    let content: String = row.try_get("content")?;
    let amount: i64 = row.try_get("amount")?;
    let paid_amount: Option<i64> = row.try_get("paid_amount")?;
    Ok(Order {
        order_no: row.try_get("order_no")?,
        content: serde_json::from_str(&content)?,
        fingerprint: row.try_get("fingerprint")?,
        amount,
        buyer: row.try_get("buyer")?,
        paid_attempt: row.try_get("paid_attempt")?,
        paid_amount,
        flags: payment_flags(amount, paid_amount),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn attempt_from(row: &PgRow) -> Result<Attempt, StoreError> {
    let state: String = row.try_get("state")?;
    let prepay: Option<String> = row.try_get("prepay")?;
    Ok(Attempt {
        attempt_id: row.try_get("attempt_id")?,
        order_no: row.try_get("order_no")?,
        seq: row.try_get("seq")?,
        fingerprint: row.try_get("fingerprint")?,
        amount: row.try_get("amount")?,
        state: AttemptState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("attempt state {state:?}")))?,
        prepay: prepay.as_deref().map(serde_json::from_str).transpose()?,
        expires_at: row.try_get("expires_at")?,
        last_query_at: row.try_get("last_query_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a new order; `false` when the number is taken.
pub async fn insert_order(conn: &mut PgConnection, order: &Order) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO orders (order_no, content, fingerprint, amount, buyer, paid_attempt, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, NULL, $6, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&order.order_no)
    .bind(serde_json::to_string(&order.content)?)
    .bind(&order.fingerprint)
    .bind(order.amount)
    .bind(&order.buyer)
    .bind(order.created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces an unpaid order's content; `false` when the order is paid (or unknown).
pub async fn update_order_content(
    conn: &mut PgConnection,
    change: &ContentChange<'_>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE orders SET content = $2, fingerprint = $3, amount = $4, updated_at = $5
         WHERE order_no = $1 AND paid_attempt IS NULL",
    )
    .bind(change.order_no)
    .bind(serde_json::to_string(change.content)?)
    .bind(change.fingerprint)
    .bind(change.amount)
    .bind(change.now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The order, if it exists.
pub async fn get_order(
    conn: &mut PgConnection,
    order_no: &str,
) -> Result<Option<Order>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE order_no = $1"
    ))
    .bind(order_no)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(order_from)
    .transpose()
}

/// The order, row-locked until the transaction ends: every transaction that writes an order's
/// attempts or payment takes this lock first (the one lock order, so no deadlock).
pub async fn lock_order(
    conn: &mut PgConnection,
    order_no: &str,
) -> Result<Option<Order>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE order_no = $1 FOR UPDATE"
    ))
    .bind(order_no)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(order_from)
    .transpose()
}

/// Row-locks the order of an attempt (see [`lock_order`]); its number, if the attempt exists.
pub async fn lock_order_of(
    conn: &mut PgConnection,
    attempt_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT o.order_no FROM orders o JOIN attempts a ON a.order_no = o.order_no
         WHERE a.attempt_id = $1 FOR UPDATE OF o",
    )
    .bind(attempt_id)
    .fetch_optional(conn)
    .await?)
}

/// The newest keyed-submission order of `buyer` with this fingerprint created after `after`
/// (contract §4 rule 2; orders made without a key are never candidates).
pub async fn recent_submitted_order(
    conn: &mut PgConnection,
    buyer: &str,
    fingerprint: &str,
    after: i64,
) -> Result<Option<Order>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders o
          WHERE buyer = $1 AND fingerprint = $2 AND created_at > $3
            AND EXISTS (SELECT 1 FROM submissions s WHERE s.order_no = o.order_no)
          ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(buyer)
    .bind(fingerprint)
    .bind(after)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(order_from)
    .transpose()
}

/// The order's newest attempt.
pub async fn latest_attempt(
    conn: &mut PgConnection,
    order_no: &str,
) -> Result<Option<Attempt>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        attempt_columns!(),
        " FROM attempts WHERE order_no = $1 ORDER BY seq DESC LIMIT 1"
    ))
    .bind(order_no)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(attempt_from)
    .transpose()
}

/// One attempt by its merchant payment number.
pub async fn get_attempt(
    conn: &mut PgConnection,
    attempt_id: &str,
) -> Result<Option<Attempt>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        attempt_columns!(),
        " FROM attempts WHERE attempt_id = $1"
    ))
    .bind(attempt_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(attempt_from)
    .transpose()
}

/// Every attempt of an order, oldest first.
pub async fn list_attempts(
    conn: &mut PgConnection,
    order_no: &str,
) -> Result<Vec<Attempt>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        attempt_columns!(),
        " FROM attempts WHERE order_no = $1 ORDER BY seq"
    ))
    .bind(order_no)
    .fetch_all(conn)
    .await?
    .iter()
    .map(attempt_from)
    .collect()
}

/// Inserts a fresh attempt in state `creating` with the next sequence number. `None` when the
/// one-live-attempt index refuses it (the caller's transaction is then aborted: roll it back).
pub async fn insert_creating_attempt(
    conn: &mut PgConnection,
    new: &NewAttempt<'_>,
) -> Result<Option<Attempt>, StoreError> {
    let seq: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE order_no = $1")
            .bind(new.order_no)
            .fetch_one(&mut *conn)
            .await?;
    let attempt_id = crate::ids::new_attempt_id(new.order_no, seq);
    let inserted = sqlx::query(
        "INSERT INTO attempts (attempt_id, order_no, seq, fingerprint, amount, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'creating', $6, $6)",
    )
    .bind(&attempt_id)
    .bind(new.order_no)
    .bind(seq)
    .bind(new.fingerprint)
    .bind(new.amount)
    .bind(new.now)
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => return Ok(None),
        Err(err) => return Err(err.into()),
    }
    Ok(Some(Attempt {
        attempt_id,
        order_no: new.order_no.to_owned(),
        seq,
        fingerprint: new.fingerprint.to_owned(),
        amount: Some(new.amount),
        state: AttemptState::Creating,
        prepay: None,
        expires_at: None,
        last_query_at: 0,
        created_at: new.now,
    }))
}

/// Records the provider's prepay of a `creating` attempt (it becomes `unpaid`); `false` when
/// the attempt is not `creating`.
pub async fn set_prepay(
    conn: &mut PgConnection,
    attempt_id: &str,
    prepay: &Value,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE attempts SET state = 'unpaid', prepay = $2, expires_at = $3, updated_at = $4
         WHERE attempt_id = $1 AND state = 'creating'",
    )
    .bind(attempt_id)
    .bind(serde_json::to_string(prepay)?)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the order has an attempt that is not known dead.
pub async fn has_open_attempt(conn: &mut PgConnection, order_no: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM attempts WHERE order_no = $1 AND state NOT IN ('closed', 'failed'))",
    )
    .bind(order_no)
    .fetch_one(conn)
    .await?)
}

/// Moves a not-yet-final attempt to `state`; its order's number when something changed.
pub async fn set_attempt_state(
    conn: &mut PgConnection,
    attempt_id: &str,
    state: AttemptState,
    now: i64,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE attempts SET state = $2, updated_at = $3
         WHERE attempt_id = $1 AND state IN ('creating', 'unpaid', 'paying') AND state <> $2
         RETURNING order_no",
    )
    .bind(attempt_id)
    .bind(state.as_str())
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Marks an attempt and its order paid, idempotently, flagging a first payment for another
/// amount (the SQLite store's `mark_paid`, same meaning). Runs in the caller's transaction,
/// which holds the order's row lock.
pub async fn mark_paid(
    conn: &mut PgConnection,
    attempt_id: &str,
    charged: Option<i64>,
    now: i64,
) -> Result<PaidRecord, StoreError> {
    let changed = sqlx::query(
        "UPDATE attempts SET state = 'paid', updated_at = $2 WHERE attempt_id = $1 AND state <> 'paid'",
    )
    .bind(attempt_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let recorded: Option<(String, i64, Option<i64>)> = sqlx::query_as(
        "UPDATE orders o SET paid_attempt = a.attempt_id, updated_at = $2,
                paid_amount = COALESCE($3, a.amount)
         FROM attempts a
         WHERE a.attempt_id = $1 AND o.order_no = a.order_no AND o.paid_attempt IS NULL
         RETURNING o.order_no, o.amount, o.paid_amount",
    )
    .bind(attempt_id)
    .bind(now)
    .bind(charged)
    .fetch_optional(&mut *conn)
    .await?;
    let mut mismatch = false;
    if let Some((order_no, amount, paid)) = recorded {
        if !payment_flags(amount, paid).is_empty() {
            tracing::warn!(%order_no, amount, ?paid, "paid for another amount: flagged");
            mismatch = true;
        }
        // The business system hears of the payment from the outbox, committed with it.
        super::outbox::enqueue_paid(
            conn,
            &order_no,
            attempt_id,
            amount,
            paid.unwrap_or(amount),
            now,
        )
        .await?;
    }
    Ok(PaidRecord { changed, mismatch })
}

/// Notes that the provider was just queried for this attempt.
pub async fn touch_query(
    conn: &mut PgConnection,
    attempt_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE attempts SET last_query_at = $2 WHERE attempt_id = $1")
        .bind(attempt_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The stored reply for `(order_no, key)`, if any.
pub async fn get_reply(
    conn: &mut PgConnection,
    order_no: &str,
    key: &str,
) -> Result<Option<StoredReply>, StoreError> {
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT fingerprint, reply FROM idempotency_keys WHERE order_no = $1 AND idem_key = $2",
    )
    .bind(order_no)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    found
        .map(|(fingerprint, reply)| {
            Ok(StoredReply {
                fingerprint,
                reply: serde_json::from_str(&reply)?,
            })
        })
        .transpose()
}

/// Stores `reply` under its key; `false` (nothing written) when the key has a reply: the
/// primary key decides, also between instances.
pub async fn put_reply(conn: &mut PgConnection, reply: &NewReply<'_>) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (order_no, idem_key, fingerprint, reply, attempt_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(reply.order_no)
    .bind(reply.key)
    .bind(reply.fingerprint)
    .bind(serde_json::to_string(reply.body)?)
    .bind(reply.attempt_id)
    .bind(reply.now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many idempotency keys the order has stored replies for.
pub async fn count_keys(conn: &mut PgConnection, order_no: &str) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys WHERE order_no = $1")
            .bind(order_no)
            .fetch_one(conn)
            .await?,
    )
}

/// Records a notify id; `false` when it was seen before.
pub async fn record_notify(
    conn: &mut PgConnection,
    notify_id: &str,
    attempt_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO notifies (notify_id, attempt_id, received_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(notify_id)
    .bind(attempt_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The submission of `key` by `buyer`, if any.
pub async fn get_submission(
    conn: &mut PgConnection,
    buyer: &str,
    key: &str,
) -> Result<Option<Submission>, StoreError> {
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT fingerprint, order_no FROM submissions WHERE buyer = $1 AND idem_key = $2",
    )
    .bind(buyer)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(found.map(|(fingerprint, order_no)| Submission {
        fingerprint,
        order_no,
    }))
}

/// Stores `key` of `buyer` for `submission`. The caller has checked that the key is new.
pub async fn put_submission(
    conn: &mut PgConnection,
    buyer: &str,
    key: &str,
    submission: &Submission,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO submissions (buyer, idem_key, fingerprint, order_no, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(buyer)
    .bind(key)
    .bind(&submission.fingerprint)
    .bind(&submission.order_no)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many submission keys point at the order.
pub async fn count_submissions(conn: &mut PgConnection, order_no: &str) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM submissions WHERE order_no = $1")
            .bind(order_no)
            .fetch_one(conn)
            .await?,
    )
}
