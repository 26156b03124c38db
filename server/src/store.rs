//! The SQLite database: opening it, its schema, and serialised access.
//!
//! One connection behind a mutex: every statement is short and the demo's load is small, and a
//! single writer makes the transactions that the contract needs (attempt + idempotent reply
//! commit together, rule 1.5) trivially atomic. The merchant's tables and the simulated
//! provider's (`sim_*`) share the file so one restart test covers both, but no statement
//! touches both sides.

use crate::config::Storage;
use crate::error::StoreError;
use rusqlite::Connection;
use std::sync::Mutex;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS orders (
    order_no     TEXT PRIMARY KEY,
    content      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    paid_attempt TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id    TEXT PRIMARY KEY,
    order_no      TEXT NOT NULL REFERENCES orders(order_no),
    seq           INTEGER NOT NULL,
    fingerprint   TEXT NOT NULL,
    state         TEXT NOT NULL,
    prepay        TEXT,
    expires_at    INTEGER,
    last_query_at INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (order_no, seq)
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    order_no    TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    reply       TEXT NOT NULL,
    attempt_id  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (order_no, idem_key)
);
CREATE TABLE IF NOT EXISTS notifies (
    notify_id   TEXT PRIMARY KEY,
    attempt_id  TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stats (
    order_no           TEXT PRIMARY KEY,
    attempts_created   INTEGER NOT NULL DEFAULT 0,
    prepay_calls       INTEGER NOT NULL DEFAULT 0,
    charges            INTEGER NOT NULL DEFAULT 0,
    duplicates_refused INTEGER NOT NULL DEFAULT 0,
    payments_refused   INTEGER NOT NULL DEFAULT 0,
    closes             INTEGER NOT NULL DEFAULT 0,
    queries            INTEGER NOT NULL DEFAULT 0,
    notifies_received  INTEGER NOT NULL DEFAULT 0,
    notifies_duplicate INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sim_transactions (
    out_trade_no   TEXT PRIMARY KEY,
    order_no       TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    prepay_id      TEXT NOT NULL UNIQUE,
    trade_state    TEXT NOT NULL,
    transaction_id TEXT,
    notify_url     TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
"#;

/// The database handle shared by the whole server.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database and its schema.
    pub fn open(storage: &Storage) -> Result<Store, StoreError> {
        let conn = match storage {
            Storage::Memory => Connection::open_in_memory()?,
            Storage::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let conn = Connection::open(path)?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "FULL")?;
                conn
            }
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` with the connection. Keep `f` short and free of awaits: it holds the lock.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn)
    }
}
