//! Per-order counters: the numbers that show whether the guard kept its promise.
//!
//! `charges` is the one the project exists to keep at 1; the others explain how it got there
//! (how many payment numbers were minted, how often the provider was asked for a prepay, how
//! many duplicates it refused). `amountMismatches` counts payments the merchant must look at:
//! confirmed for an amount other than the order's.

use crate::error::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// One counter of [`OrderStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Merchant payment numbers minted for the order.
    AttemptsCreated,
    /// Create-transaction (prepay) calls received by the provider.
    PrepayCalls,
    /// Successful payments at the provider.
    Charges,
    /// Create calls the provider refused as a duplicate `out_trade_no` (WeChat "201").
    DuplicatesRefused,
    /// Wallet confirms the provider refused (closed, expired or already paid prepay).
    PaymentsRefused,
    /// Close calls received by the provider.
    Closes,
    /// Query calls received by the provider.
    Queries,
    /// Valid notifies the merchant received.
    NotifiesReceived,
    /// Of those, the ones that changed nothing (repeats).
    NotifiesDuplicate,
    /// Payments recorded for an amount other than the order's current one (flagged orders).
    AmountMismatches,
}

impl Counter {
    fn column(self) -> &'static str {
        match self {
            Counter::AttemptsCreated => "attempts_created",
            Counter::PrepayCalls => "prepay_calls",
            Counter::Charges => "charges",
            Counter::DuplicatesRefused => "duplicates_refused",
            Counter::PaymentsRefused => "payments_refused",
            Counter::Closes => "closes",
            Counter::Queries => "queries",
            Counter::NotifiesReceived => "notifies_received",
            Counter::NotifiesDuplicate => "notifies_duplicate",
            Counter::AmountMismatches => "amount_mismatches",
        }
    }
}

/// The counters of one order.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderStats {
    /// The order.
    pub order_no: String,
    /// See [`Counter::AttemptsCreated`].
    pub attempts_created: i64,
    /// See [`Counter::PrepayCalls`].
    pub prepay_calls: i64,
    /// See [`Counter::Charges`].
    pub charges: i64,
    /// See [`Counter::DuplicatesRefused`].
    pub duplicates_refused: i64,
    /// See [`Counter::PaymentsRefused`].
    pub payments_refused: i64,
    /// See [`Counter::Closes`].
    pub closes: i64,
    /// See [`Counter::Queries`].
    pub queries: i64,
    /// See [`Counter::NotifiesReceived`].
    pub notifies_received: i64,
    /// See [`Counter::NotifiesDuplicate`].
    pub notifies_duplicate: i64,
    /// See [`Counter::AmountMismatches`].
    pub amount_mismatches: i64,
}

/// Adds one to `counter` of `order_no`.
pub fn bump(conn: &Connection, order_no: &str, counter: Counter) -> Result<(), StoreError> {
    let column = counter.column();
    conn.execute(
        &format!(
            "INSERT INTO stats (order_no, {column}) VALUES (?1, 1)
             ON CONFLICT (order_no) DO UPDATE SET {column} = {column} + 1"
        ),
        params![order_no],
    )?;
    Ok(())
}

const COLUMNS: &str = "order_no, attempts_created, prepay_calls, charges, duplicates_refused, payments_refused, closes, queries, notifies_received, notifies_duplicate, amount_mismatches";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OrderStats> {
    Ok(OrderStats {
        order_no: row.get(0)?,
        attempts_created: row.get(1)?,
        prepay_calls: row.get(2)?,
        charges: row.get(3)?,
        duplicates_refused: row.get(4)?,
        payments_refused: row.get(5)?,
        closes: row.get(6)?,
        queries: row.get(7)?,
        notifies_received: row.get(8)?,
        notifies_duplicate: row.get(9)?,
        amount_mismatches: row.get(10)?,
    })
}

/// The counters of one order (all zero when nothing happened yet).
pub fn for_order(conn: &Connection, order_no: &str) -> Result<OrderStats, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM stats WHERE order_no = ?1"),
            params![order_no],
            from_row,
        )
        .optional()?;
    Ok(found.unwrap_or_else(|| OrderStats {
        order_no: order_no.to_owned(),
        ..OrderStats::default()
    }))
}

/// The counters of every order that has any.
pub fn all(conn: &Connection) -> Result<Vec<OrderStats>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM stats ORDER BY order_no"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
