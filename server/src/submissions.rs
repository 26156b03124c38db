//! The stored order submissions (contract §4): `(buyer, key) → (fingerprint, order)`.
//!
//! Keys are scoped by buyer: a key is a secret of the page that minted it, and scoping means a
//! key guessed or copied by another buyer finds nothing of someone else's. The guard always
//! sends its key with the same `buyer` (its `scope`), so nothing legitimate is lost. Rows are
//! kept for good (like the create-payment keys): the same key must find its order even after
//! the window, and even once it was paid.

use crate::error::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

/// A stored submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The fingerprint the content had when it was submitted with the key.
    pub fingerprint: String,
    /// The business order the key made or was given.
    pub order_no: String,
}

/// The submission of `key` by `buyer`, if any.
pub fn get(conn: &Connection, buyer: &str, key: &str) -> Result<Option<Submission>, StoreError> {
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
pub fn put(
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
pub fn count_for_order(conn: &Connection, order_no: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM submissions WHERE order_no = ?1",
        params![order_no],
        |row| row.get(0),
    )?)
}
