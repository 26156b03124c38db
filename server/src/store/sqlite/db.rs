//! The SQLite database file: opening it, its schema, and serialised access. Shared by the
//! merchant's [`super::SqliteStore`], the stats ([`crate::stats::StatsRecorder`]) and the
//! simulated provider ([`crate::provider::sim::SimProvider`]).
//!
//! One connection behind a mutex: every statement is short and the demo's load is small, and a
//! single writer makes the transactions that the contract needs (attempt + idempotent reply
//! commit together, rule 1.5) trivially atomic. The merchant's tables and the simulated
//! provider's (`sim_*`) share the file so one restart test covers both, but no statement
//! touches both sides.
//!
//! The schema is the first version ([`SCHEMA`], `CREATE … IF NOT EXISTS`, as every file ever
//! written by this server has it) plus numbered [`MIGRATIONS`] on top, recorded in SQLite's
//! `user_version`: a file from an older server gains the new columns and tables on open, and a
//! fresh file goes through the same steps, so there is one path to the current schema.

use crate::config::Storage;
use crate::store::StoreError;
use rusqlite::Connection;
use std::sync::Mutex;

/// Version 1 of the schema. Never edited: changes go into [`MIGRATIONS`].
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

/// Schema changes after [`SCHEMA`]; entry `i` takes a file from version `i + 1` to `i + 2`.
/// Append only: a file records how many it has run.
const MIGRATIONS: &[&str] = &[
    // 2: order submission (contract §4) and payments flagged for a changed amount (rule 1.3).
    r#"
    ALTER TABLE orders ADD COLUMN buyer TEXT NOT NULL DEFAULT '';
    ALTER TABLE orders ADD COLUMN paid_amount INTEGER;
    ALTER TABLE attempts ADD COLUMN amount INTEGER;
    ALTER TABLE stats ADD COLUMN amount_mismatches INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE submissions (
        buyer       TEXT NOT NULL,
        idem_key    TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        order_no    TEXT NOT NULL REFERENCES orders(order_no),
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (buyer, idem_key)
    );
    CREATE INDEX submissions_by_order ON submissions (order_no);
    CREATE INDEX orders_by_buyer_content ON orders (buyer, fingerprint, created_at);
    "#,
    // 3: the webhook outbox (results pushed to the business system) and the sweeper's mark.
    r#"
    ALTER TABLE attempts ADD COLUMN swept_at INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE webhook_outbox (
        event_id     TEXT PRIMARY KEY,
        order_no     TEXT NOT NULL UNIQUE REFERENCES orders(order_no),
        attempt_id   TEXT NOT NULL,
        amount       INTEGER NOT NULL,
        paid_amount  INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        tries        INTEGER NOT NULL DEFAULT 0,
        next_at      INTEGER NOT NULL,
        delivered_at INTEGER,
        last_error   TEXT
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL;
    CREATE INDEX attempts_live ON attempts (state) WHERE state IN ('creating', 'unpaid', 'paying');
    "#,
];

/// Brings `conn` from whatever version it is at to the newest, one transaction per step.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let done = usize::try_from(version.max(1) - 1).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "schema version {version} is newer than this server ({})",
            MIGRATIONS.len() + 1
        )));
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // `PRAGMA` takes no parameters; the number is ours, not input.
        tx.execute_batch(&format!("PRAGMA user_version = {}", step + 2))?;
        tx.commit()?;
    }
    Ok(())
}

/// The database handle shared by the whole server.
#[derive(Debug)]
pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (creating if needed) the database and its schema.
    pub fn open(storage: &Storage) -> Result<Db, StoreError> {
        let mut conn = match storage {
            Storage::Memory => Connection::open_in_memory()?,
            Storage::Postgres(_) => {
                return Err(StoreError::Corrupt(
                    "a PostgreSQL URL is not an SQLite database".into(),
                ))
            }
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
        migrate(&mut conn)?;
        Ok(Db {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(tag: &str) -> std::path::PathBuf {
        std::env::temp_dir()
            .join(format!(
                "cg-store-{tag}-{}-{}",
                std::process::id(),
                crate::ids::random_token(8)
            ))
            .join("db.sqlite")
    }

    fn version(store: &Db) -> i64 {
        store
            .with(|c| Ok(c.query_row("PRAGMA user_version", [], |row| row.get(0))?))
            .expect("version")
    }

    #[test]
    fn a_file_from_the_first_version_gains_the_new_schema_and_keeps_its_rows() {
        let path = temp_file("v1");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        {
            let old = Connection::open(&path).expect("open");
            old.execute_batch(SCHEMA).expect("v1 schema");
            old.execute(
                "INSERT INTO orders (order_no, content, fingerprint, amount, paid_attempt, created_at, updated_at)
                 VALUES ('OLD-0001', '{}', 'f', 5, NULL, 1, 1)",
                [],
            )
            .expect("old row");
        }
        let store = Db::open(&Storage::File(path.clone())).expect("migrates");
        assert_eq!(version(&store), 1 + MIGRATIONS.len() as i64);
        let order = store
            .with(|c| super::super::records::get_order(c, "OLD-0001"))
            .expect("read")
            .expect("kept");
        assert_eq!((order.buyer.as_str(), order.paid_amount), ("", None));
        assert!(order.flags.is_empty());
        drop(store);
        // Opening again runs nothing twice.
        let store = Db::open(&Storage::File(path.clone())).expect("reopens");
        assert_eq!(version(&store), 1 + MIGRATIONS.len() as i64);
        drop(store);
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn a_file_from_a_newer_server_is_refused() {
        let path = temp_file("future");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        {
            let newer = Connection::open(&path).expect("open");
            newer
                .execute_batch("PRAGMA user_version = 99")
                .expect("version");
        }
        assert!(matches!(
            Db::open(&Storage::File(path.clone())),
            Err(StoreError::Corrupt(_))
        ));
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}
