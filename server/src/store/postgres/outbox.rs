//! The outbox of webhook events and the sweeper's claims, in PostgreSQL: the statements of
//! the SQLite store's `outbox.rs`, with `FOR UPDATE SKIP LOCKED` in every claim so that many
//! instances share the work and no row is handed to two of them at once.

use crate::model::{Attempt, OutboxEvent};
use crate::store::StoreError;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

macro_rules! event_columns {
    () => {
        "event_id, order_no, attempt_id, amount, paid_amount, created_at, tries, delivered_at, last_error"
    };
}

fn event_from(row: &PgRow) -> Result<OutboxEvent, StoreError> {
    Ok(OutboxEvent {
        event_id: row.try_get("event_id")?,
        order_no: row.try_get("order_no")?,
        attempt_id: row.try_get("attempt_id")?,
        amount: row.try_get("amount")?,
        paid_amount: row.try_get("paid_amount")?,
        created_at: row.try_get("created_at")?,
        tries: row.try_get("tries")?,
        delivered_at: row.try_get("delivered_at")?,
        last_error: row.try_get("last_error")?,
    })
}

/// Writes the `order.paid` event of an order just marked paid (one per order).
pub async fn enqueue_paid(
    conn: &mut PgConnection,
    order_no: &str,
    attempt_id: &str,
    amount: i64,
    paid_amount: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_outbox (event_id, order_no, attempt_id, amount, paid_amount, created_at, next_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
    )
    .bind(crate::ids::new_event_id())
    .bind(order_no)
    .bind(attempt_id)
    .bind(amount)
    .bind(paid_amount)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` undelivered events due at `now` (see the SQLite store's).
pub async fn claim_due(
    conn: &mut PgConnection,
    now: i64,
    claim_until: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let rows = sqlx::query(concat!(
        "UPDATE webhook_outbox SET next_at = $2, tries = tries + 1
         WHERE event_id IN (SELECT event_id FROM webhook_outbox
                            WHERE delivered_at IS NULL AND next_at <= $1
                            ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING ",
        event_columns!()
    ))
    .bind(now)
    .bind(claim_until)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(event_from).collect()
}

/// Records an acknowledged delivery.
pub async fn delivered(
    conn: &mut PgConnection,
    event_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_outbox SET delivered_at = $2, last_error = NULL
         WHERE event_id = $1 AND delivered_at IS NULL",
    )
    .bind(event_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed try; the event is due again at `retry_at`.
pub async fn failed(
    conn: &mut PgConnection,
    event_id: &str,
    error: &str,
    retry_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_outbox SET next_at = $3, last_error = $2
         WHERE event_id = $1 AND delivered_at IS NULL",
    )
    .bind(event_id)
    .bind(error)
    .bind(retry_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The order's events.
pub async fn of_order(
    conn: &mut PgConnection,
    order_no: &str,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM webhook_outbox WHERE order_no = $1 ORDER BY created_at"
    ))
    .bind(order_no)
    .fetch_all(conn)
    .await?;
    rows.iter().map(event_from).collect()
}

/// Claims up to `limit` attempts that may still be paid and that nothing has touched since
/// `idle_since` (see the SQLite store's).
pub async fn claim_sweep(
    conn: &mut PgConnection,
    now: i64,
    idle_since: i64,
    limit: u32,
) -> Result<Vec<Attempt>, StoreError> {
    let rows = sqlx::query(concat!(
        "UPDATE attempts SET swept_at = $1
         WHERE attempt_id IN (SELECT attempt_id FROM attempts
                              WHERE state IN ('creating', 'unpaid', 'paying')
                                AND GREATEST(updated_at, last_query_at, swept_at) <= $2
                              ORDER BY GREATEST(updated_at, last_query_at, swept_at)
                              LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING ",
        attempt_columns!()
    ))
    .bind(now)
    .bind(idle_since)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(super::rows::attempt_from).collect()
}
