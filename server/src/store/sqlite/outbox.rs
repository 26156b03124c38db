//! The outbox of webhook events and the sweeper's claims, in SQLite.
//!
//! An event row is written by [`enqueue_paid`] inside the transaction that marks an order
//! paid ([`super::records::mark_paid`]), so the payment and its delivery commit together. A
//! delivery first claims the row ([`claim_due`]: it moves `next_at` past the delivery's
//! timeout and counts the try), so a process that dies mid-delivery leaves a row that is due
//! again once the claim runs out: at least once, never lost.

use crate::model::{Attempt, OutboxEvent};
use crate::store::StoreError;
use rusqlite::{params, Connection, Row};

use super::records;

const EVENT_COLUMNS: &str =
    "event_id, order_no, attempt_id, amount, paid_amount, created_at, tries, delivered_at, last_error";

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxEvent> {
    Ok(OutboxEvent {
        event_id: row.get(0)?,
        order_no: row.get(1)?,
        attempt_id: row.get(2)?,
        amount: row.get(3)?,
        paid_amount: row.get(4)?,
        created_at: row.get(5)?,
        tries: row.get(6)?,
        delivered_at: row.get(7)?,
        last_error: row.get(8)?,
    })
}

/// Writes the `order.paid` event of an order just marked paid (one per order: a second call
/// for the same order writes nothing).
pub fn enqueue_paid(
    tx: &Connection,
    order_no: &str,
    attempt_id: &str,
    amount: i64,
    paid_amount: i64,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO webhook_outbox (event_id, order_no, attempt_id, amount, paid_amount, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT DO NOTHING",
        params![
            crate::ids::new_event_id(),
            order_no,
            attempt_id,
            amount,
            paid_amount,
            now
        ],
    )?;
    Ok(())
}

/// Claims up to `limit` undelivered events due at `now`: each is counted as tried and not due
/// again before `claim_until`.
pub fn claim_due(
    conn: &Connection,
    now: i64,
    claim_until: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "UPDATE webhook_outbox SET next_at = ?2, tries = tries + 1
         WHERE event_id IN (SELECT event_id FROM webhook_outbox
                            WHERE delivered_at IS NULL AND next_at <= ?1
                            ORDER BY next_at LIMIT ?3)
         RETURNING {EVENT_COLUMNS}"
    ))?;
    let rows = stmt.query_map(params![now, claim_until, limit], event_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records an acknowledged delivery (a repeat changes nothing).
pub fn delivered(conn: &Connection, event_id: &str, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_outbox SET delivered_at = ?2, last_error = NULL
         WHERE event_id = ?1 AND delivered_at IS NULL",
        params![event_id, now],
    )?;
    Ok(())
}

/// Records a failed try; the event is due again at `retry_at`.
pub fn failed(
    conn: &Connection,
    event_id: &str,
    error: &str,
    retry_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_outbox SET next_at = ?3, last_error = ?2
         WHERE event_id = ?1 AND delivered_at IS NULL",
        params![event_id, error, retry_at],
    )?;
    Ok(())
}

/// The order's events (admin view, tests).
pub fn of_order(conn: &Connection, order_no: &str) -> Result<Vec<OutboxEvent>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM webhook_outbox WHERE order_no = ?1 ORDER BY created_at"
    ))?;
    let rows = stmt.query_map(params![order_no], event_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Claims up to `limit` attempts that may still be paid (`creating`, `unpaid`, `paying`) and
/// that nothing has touched since `idle_since`: they are marked swept `now`, so the next claim
/// passes them over for as long again.
pub fn claim_sweep(
    conn: &Connection,
    now: i64,
    idle_since: i64,
    limit: u32,
) -> Result<Vec<Attempt>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "UPDATE attempts SET swept_at = ?1
         WHERE attempt_id IN (SELECT attempt_id FROM attempts
                              WHERE state IN ('creating', 'unpaid', 'paying')
                                AND max(updated_at, last_query_at, swept_at) <= ?2
                              ORDER BY max(updated_at, last_query_at, swept_at) LIMIT ?3)
         RETURNING {}",
        records::ATTEMPT_COLUMNS
    ))?;
    let rows = stmt.query_map(params![now, idle_since, limit], records::attempt_from_row)?;
    rows.map(|row| records::finish_attempt(row?))
        .collect::<Result<_, _>>()
}
