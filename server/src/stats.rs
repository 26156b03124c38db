//! Per-order counters: the numbers that show whether the guard kept its promise, kept by an
//! **observer**.
//!
//! `charges` is the one the project exists to keep at 1; the others explain how it got there
//! (how many payment numbers were minted, how often the provider was asked for a prepay, how
//! many duplicates it refused). `amountMismatches` counts payments the merchant must look at:
//! confirmed for an amount other than the order's.
//!
//! Whoever sees something happen reports an [`Event`] to an [`Observer`]: the merchant rules
//! (attempts minted, notifies, flagged payments) and the simulated provider (calls it received,
//! charges, refused confirms). Neither writes a counter itself, and nothing ever reads a counter
//! to decide anything, so an observer is told after the change committed and cannot fail the
//! request: [`StatsRecorder`] keeps them in the `stats` table of the server's database, a test
//! can collect them, a production server could export them.

use crate::store::sqlite::Db;
use crate::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::sync::Arc;

/// Something that happened to a business order, as counted in [`OrderStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A merchant payment number was minted for the order.
    AttemptCreated,
    /// The provider received a create-transaction (prepay) call.
    PrepayCall,
    /// The provider charged the buyer.
    Charge,
    /// The provider refused a create as a duplicate `out_trade_no` (WeChat "201").
    DuplicateRefused,
    /// The provider refused a wallet confirm (closed, expired or already paid prepay).
    PaymentRefused,
    /// The provider received a close call for a transaction it has.
    Close,
    /// The provider received a query for a transaction it has.
    Query,
    /// The merchant received a valid notify.
    NotifyReceived,
    /// Of those, one that changed nothing (a repeat).
    NotifyDuplicate,
    /// A payment was recorded for an amount other than the order's current one (flagged).
    AmountMismatch,
}

/// Told about every [`Event`], after the change it reports committed.
///
/// Infallible on purpose: stats explain, they never decide, so an observer that cannot record
/// an event logs it rather than fail the request that caused it.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// `event` happened to business order `order_no`.
    fn observe(&self, order_no: &str, event: Event);
}

/// An observer that ignores everything (tests of code that does not care about stats).
#[derive(Debug, Default, Clone, Copy)]
pub struct Ignore;

impl Observer for Ignore {
    fn observe(&self, _order_no: &str, _event: Event) {}
}

/// The observer that counts events per order in the database's `stats` table.
#[derive(Debug, Clone)]
pub struct StatsRecorder {
    db: Arc<Db>,
}

impl StatsRecorder {
    /// Counts into `db`.
    pub fn new(db: Arc<Db>) -> Self {
        StatsRecorder { db }
    }
}

impl Observer for StatsRecorder {
    fn observe(&self, order_no: &str, event: Event) {
        if let Err(err) = self.db.with(|c| bump(c, order_no, event)) {
            tracing::error!(%err, order_no, ?event, "cannot count a stats event");
        }
    }
}

impl Event {
    /// The `stats` column that counts it.
    fn column(self) -> &'static str {
        match self {
            Event::AttemptCreated => "attempts_created",
            Event::PrepayCall => "prepay_calls",
            Event::Charge => "charges",
            Event::DuplicateRefused => "duplicates_refused",
            Event::PaymentRefused => "payments_refused",
            Event::Close => "closes",
            Event::Query => "queries",
            Event::NotifyReceived => "notifies_received",
            Event::NotifyDuplicate => "notifies_duplicate",
            Event::AmountMismatch => "amount_mismatches",
        }
    }
}

/// The counters of one order.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderStats {
    /// The order.
    pub order_no: String,
    /// See [`Event::AttemptCreated`].
    pub attempts_created: i64,
    /// See [`Event::PrepayCall`].
    pub prepay_calls: i64,
    /// See [`Event::Charge`].
    pub charges: i64,
    /// See [`Event::DuplicateRefused`].
    pub duplicates_refused: i64,
    /// See [`Event::PaymentRefused`].
    pub payments_refused: i64,
    /// See [`Event::Close`].
    pub closes: i64,
    /// See [`Event::Query`].
    pub queries: i64,
    /// See [`Event::NotifyReceived`].
    pub notifies_received: i64,
    /// See [`Event::NotifyDuplicate`].
    pub notifies_duplicate: i64,
    /// See [`Event::AmountMismatch`].
    pub amount_mismatches: i64,
}

/// Adds one to the counter of `event` for `order_no`.
fn bump(conn: &Connection, order_no: &str, event: Event) -> Result<(), StoreError> {
    let column = event.column();
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
