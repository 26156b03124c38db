//! The merchant's rows in SQLite: business orders, payment attempts, stored idempotent
//! replies, notifies seen, order submissions.
//!
//! Plain functions over a connection, so that [`super::SqliteStore`] can group them in one
//! transaction (and the admin view and tests can read them directly).

use crate::model::{payment_flags, Attempt, AttemptState, Order, StoredReply, Submission};
use crate::store::{NewReply, PaidRecord, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

const ORDER_COLUMNS: &str = "order_no, content, fingerprint, amount, buyer, paid_attempt, paid_amount, created_at, updated_at";

fn order_from_row(row: &Row<'_>) -> rusqlite::Result<(Order, String)> {
    let content: String = row.get(1)?;
    let amount = row.get(3)?;
    let paid_amount = row.get(6)?;
    Ok((
        Order {
            order_no: row.get(0)?,
            content: Value::Null,
            fingerprint: row.get(2)?,
            amount,
            buyer: row.get(4)?,
            paid_attempt: row.get(5)?,
            paid_amount,
            flags: payment_flags(amount, paid_amount),
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
        },
        content,
    ))
}

fn finish_order(raw: (Order, String)) -> Result<Order, StoreError> {
    let (mut order, content) = raw;
    order.content = serde_json::from_str(&content)?;
    Ok(order)
}

/// Inserts a new order; `Ok(false)` when the number is taken.
pub fn insert_order(conn: &Connection, order: &Order) -> Result<bool, StoreError> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO orders (order_no, content, fingerprint, amount, buyer, paid_attempt, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?6)",
        params![
            order.order_no,
            serde_json::to_string(&order.content)?,
            order.fingerprint,
            order.amount,
            order.buyer,
            order.created_at
        ],
    )?;
    Ok(inserted == 1)
}

/// Replaces an unpaid order's content; `Ok(false)` when the order is paid (or unknown).
pub fn update_order_content(
    conn: &Connection,
    order_no: &str,
    content: &Value,
    fingerprint: &str,
    amount: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE orders SET content = ?2, fingerprint = ?3, amount = ?4, updated_at = ?5
         WHERE order_no = ?1 AND paid_attempt IS NULL",
        params![
            order_no,
            serde_json::to_string(content)?,
            fingerprint,
            amount,
            now
        ],
    )?;
    Ok(changed == 1)
}

/// The order, if it exists.
pub fn get_order(conn: &Connection, order_no: &str) -> Result<Option<Order>, StoreError> {
    conn.query_row(
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE order_no = ?1"),
        params![order_no],
        order_from_row,
    )
    .optional()?
    .map(finish_order)
    .transpose()
}

/// The newest order of `buyer` with this fingerprint created after `after` (exclusive) that
/// came from a keyed submission (contract §4 rule 2). Orders made without a key are never
/// candidates: clients that predate §4 make identical orders on purpose.
pub fn recent_submitted_order(
    conn: &Connection,
    buyer: &str,
    fingerprint: &str,
    after: i64,
) -> Result<Option<Order>, StoreError> {
    conn.query_row(
        &format!(
            "SELECT {ORDER_COLUMNS} FROM orders o
             WHERE buyer = ?1 AND fingerprint = ?2 AND created_at > ?3
               AND EXISTS (SELECT 1 FROM submissions s WHERE s.order_no = o.order_no)
             ORDER BY created_at DESC LIMIT 1"
        ),
        params![buyer, fingerprint, after],
        order_from_row,
    )
    .optional()?
    .map(finish_order)
    .transpose()
}

pub(super) const ATTEMPT_COLUMNS: &str =
    "attempt_id, order_no, seq, fingerprint, state, prepay, expires_at, last_query_at, created_at, amount";

pub(super) fn attempt_from_row(
    row: &Row<'_>,
) -> rusqlite::Result<(Attempt, String, Option<String>)> {
    Ok((
        Attempt {
            attempt_id: row.get(0)?,
            order_no: row.get(1)?,
            seq: row.get(2)?,
            fingerprint: row.get(3)?,
            state: AttemptState::Creating,
            prepay: None,
            expires_at: row.get(6)?,
            last_query_at: row.get(7)?,
            created_at: row.get(8)?,
            amount: row.get(9)?,
        },
        row.get(4)?,
        row.get(5)?,
    ))
}

pub(super) fn finish_attempt(
    raw: (Attempt, String, Option<String>),
) -> Result<Attempt, StoreError> {
    let (mut attempt, state, prepay) = raw;
    attempt.state = AttemptState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("attempt state {state:?}")))?;
    attempt.prepay = prepay.as_deref().map(serde_json::from_str).transpose()?;
    Ok(attempt)
}

/// The order's newest attempt.
pub fn latest_attempt(conn: &Connection, order_no: &str) -> Result<Option<Attempt>, StoreError> {
    conn.query_row(
        &format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE order_no = ?1 ORDER BY seq DESC LIMIT 1"
        ),
        params![order_no],
        attempt_from_row,
    )
    .optional()?
    .map(finish_attempt)
    .transpose()
}

/// One attempt by its merchant payment number.
pub fn get_attempt(conn: &Connection, attempt_id: &str) -> Result<Option<Attempt>, StoreError> {
    conn.query_row(
        &format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE attempt_id = ?1"),
        params![attempt_id],
        attempt_from_row,
    )
    .optional()?
    .map(finish_attempt)
    .transpose()
}

/// Every attempt of an order, oldest first.
pub fn list_attempts(conn: &Connection, order_no: &str) -> Result<Vec<Attempt>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE order_no = ?1 ORDER BY seq"
    ))?;
    let rows = stmt.query_map(params![order_no], attempt_from_row)?;
    rows.map(|raw| finish_attempt(raw?)).collect()
}

/// Inserts a freshly minted attempt in state `creating`, with the next sequence number, for
/// `amount` (what the provider will be asked to charge).
pub fn insert_creating_attempt(
    conn: &Connection,
    order_no: &str,
    fingerprint: &str,
    amount: i64,
    now: i64,
) -> Result<Attempt, StoreError> {
    let seq: i64 = conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE order_no = ?1",
        params![order_no],
        |row| row.get(0),
    )?;
    let attempt_id = crate::ids::new_attempt_id(order_no, seq);
    conn.execute(
        "INSERT INTO attempts (attempt_id, order_no, seq, fingerprint, amount, state, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'creating', ?6, ?6)",
        params![attempt_id, order_no, seq, fingerprint, amount, now],
    )?;
    Ok(Attempt {
        attempt_id,
        order_no: order_no.to_owned(),
        seq,
        fingerprint: fingerprint.to_owned(),
        amount: Some(amount),
        state: AttemptState::Creating,
        prepay: None,
        expires_at: None,
        last_query_at: 0,
        created_at: now,
    })
}

/// Records the provider's prepay of a `creating` attempt: it becomes `unpaid`. `false` when
/// the attempt is not `creating` (nothing changed).
pub fn set_prepay(
    conn: &Connection,
    attempt_id: &str,
    prepay: &Value,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE attempts SET state = 'unpaid', prepay = ?2, expires_at = ?3, updated_at = ?4
         WHERE attempt_id = ?1 AND state = 'creating'",
        params![attempt_id, serde_json::to_string(prepay)?, expires_at, now],
    )?;
    Ok(changed == 1)
}

/// Whether the order has an attempt that is not known dead (`creating`, `unpaid`, `paying`
/// or `paid`).
pub fn has_open_attempt(conn: &Connection, order_no: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM attempts WHERE order_no = ?1 AND state NOT IN ('closed', 'failed') LIMIT 1",
            params![order_no],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Moves a not-yet-final attempt to `state` (`paid` never moves back, `closed` and `failed`
/// never move to anything but `paid`). Returns whether anything changed.
pub fn set_attempt_state(
    conn: &Connection,
    attempt_id: &str,
    state: AttemptState,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE attempts SET state = ?2, updated_at = ?3
         WHERE attempt_id = ?1 AND state IN ('creating', 'unpaid', 'paying') AND state != ?2",
        params![attempt_id, state.as_str(), now],
    )?;
    Ok(changed == 1)
}

/// Marks an attempt and its order paid. Idempotent: a repeated notify or query changes
/// nothing.
///
/// `charged` is the amount the provider reports (notify, query); without it, the amount the
/// attempt was created for. The first payment recorded for the order stores it as the order's
/// paid amount, and when it is not the order's current amount the order is flagged
/// ([`payment_flags`]) in the same transaction: paid is final, but a payment for an old amount
/// is never silently taken as paid in full.
///
/// Runs in the caller's transaction: both updates must commit together.
pub fn mark_paid(
    tx: &Connection,
    attempt_id: &str,
    charged: Option<i64>,
    now: i64,
) -> Result<PaidRecord, StoreError> {
    let changed = tx.execute(
        "UPDATE attempts SET state = 'paid', updated_at = ?2 WHERE attempt_id = ?1 AND state != 'paid'",
        params![attempt_id, now],
    )?;
    let recorded = tx.execute(
        "UPDATE orders SET paid_attempt = ?1, updated_at = ?2,
                paid_amount = COALESCE(?3, (SELECT amount FROM attempts WHERE attempt_id = ?1))
         WHERE paid_attempt IS NULL AND order_no = (SELECT order_no FROM attempts WHERE attempt_id = ?1)",
        params![attempt_id, now, charged],
    )?;
    let mut mismatch = false;
    if recorded == 1 {
        let order: Option<(String, i64, Option<i64>)> = tx
            .query_row(
                "SELECT order_no, amount, paid_amount FROM orders WHERE paid_attempt = ?1",
                params![attempt_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        if let Some((order_no, amount, paid)) = order {
            if !payment_flags(amount, paid).is_empty() {
                tracing::warn!(%order_no, amount, ?paid, "paid for another amount: flagged");
                mismatch = true;
            }
            // The business system hears of the payment from the outbox, committed with it.
            super::outbox::enqueue_paid(
                tx,
                &order_no,
                attempt_id,
                amount,
                paid.unwrap_or(amount),
                now,
            )?;
        }
    }
    Ok(PaidRecord {
        changed: changed == 1,
        mismatch,
    })
}

/// Notes that the provider was just queried for this attempt.
pub fn touch_query(conn: &Connection, attempt_id: &str, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE attempts SET last_query_at = ?2 WHERE attempt_id = ?1",
        params![attempt_id, now],
    )?;
    Ok(())
}

/// The stored reply for `(order_no, key)`, if any.
pub fn get_reply(
    conn: &Connection,
    order_no: &str,
    key: &str,
) -> Result<Option<StoredReply>, StoreError> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT fingerprint, reply FROM idempotency_keys WHERE order_no = ?1 AND idem_key = ?2",
            params![order_no, key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    found
        .map(|(fingerprint, reply)| {
            Ok(StoredReply {
                fingerprint,
                reply: serde_json::from_str(&reply)?,
            })
        })
        .transpose()
}

/// Stores `reply` under its key; `false` (nothing written) when the key has a reply.
pub fn put_reply(conn: &Connection, reply: &NewReply<'_>) -> Result<bool, StoreError> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO idempotency_keys (order_no, idem_key, fingerprint, reply, attempt_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            reply.order_no,
            reply.key,
            reply.fingerprint,
            serde_json::to_string(reply.body)?,
            reply.attempt_id,
            reply.now
        ],
    )?;
    Ok(inserted == 1)
}

/// How many idempotency keys the order has stored replies for.
pub fn count_keys(conn: &Connection, order_no: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM idempotency_keys WHERE order_no = ?1",
        params![order_no],
        |row| row.get(0),
    )?)
}

/// Records a notify id; `Ok(false)` when it was seen before.
pub fn record_notify(
    conn: &Connection,
    notify_id: &str,
    attempt_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO notifies (notify_id, attempt_id, received_at) VALUES (?1, ?2, ?3)",
        params![notify_id, attempt_id, now],
    )?;
    Ok(inserted == 1)
}

/// The submission of `key` by `buyer`, if any.
pub fn get_submission(
    conn: &Connection,
    buyer: &str,
    key: &str,
) -> Result<Option<Submission>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT fingerprint, order_no FROM submissions WHERE buyer = ?1 AND idem_key = ?2",
            params![buyer, key],
            |row| {
                Ok(Submission {
                    fingerprint: row.get(0)?,
                    order_no: row.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Stores `key` of `buyer` for `submission`. The caller has checked that the key is new.
pub fn put_submission(
    conn: &Connection,
    buyer: &str,
    key: &str,
    submission: &Submission,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO submissions (buyer, idem_key, fingerprint, order_no, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![buyer, key, submission.fingerprint, submission.order_no, now],
    )?;
    Ok(())
}

/// How many submission keys point at the order (admin view).
pub fn count_submissions(conn: &Connection, order_no: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM submissions WHERE order_no = ?1",
        params![order_no],
        |row| row.get(0),
    )?)
}
