//! Everything the server can be told at start, with the defaults a demo wants.
//!
//! One struct instead of boolean parameters: tests build it with short prepay lifetimes and
//! `:memory:` storage, the binary fills it from its flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Where the server keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// An SQLite file; created (with its folder) when missing. Restarting on it loses nothing.
    File(PathBuf),
    /// A private in-memory database that ends with the process: for tests.
    Memory,
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`), which any number of server
    /// processes may share. The simulated provider and the stats stay in a private in-memory
    /// SQLite database of each process (see `server/README.md`).
    Postgres(String),
}

impl Storage {
    /// `postgres://…` / `postgresql://…` means [`Storage::Postgres`], `:memory:` means
    /// [`Storage::Memory`], anything else is a file path.
    pub fn parse(text: &str) -> Storage {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Storage::Postgres(text.to_owned())
        } else if text == ":memory:" {
            Storage::Memory
        } else {
            Storage::File(PathBuf::from(text))
        }
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// The database.
    pub storage: Storage,
    /// Folder served at `/` (the demo page). Missing folder: 404s, no error.
    pub www_dir: PathBuf,
    /// Folder served at `/pkg/` (the built wasm package).
    pub pkg_dir: PathBuf,
    /// Largest request body accepted; larger ones get `413 payload_too_large`.
    pub max_body_bytes: usize,
    /// Runtime-adjustable timings (also changeable with `PUT /admin/settings`).
    pub settings: Settings,
    /// Bearer token that opens the admin endpoints from anywhere.
    pub admin_token: Option<String>,
    /// Whether loopback peers may use the admin endpoints without the token.
    pub admin_from_loopback: bool,
    /// The provider's notify signing key. Only ever used server-side.
    pub notify_secret: Vec<u8>,
}

/// Timings that tests and demos shorten, and that an admin call can change while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// How long the provider accepts a prepay (WeChat: 2 hours).
    pub prepay_ttl_ms: i64,
    /// A live attempt is reused only while its prepay has at least this long left, so the
    /// buyer is not handed a prepay that dies while the wallet opens.
    pub reuse_margin_ms: i64,
    /// Delay between a buyer's confirm in the wallet and the provider's notify.
    pub notify_delay_ms: u64,
    /// Delay between notify retries when the merchant does not answer 2xx.
    pub notify_retry_ms: u64,
    /// How many times the provider tries to deliver one notify.
    pub notify_tries: u32,
    /// Minimum time between two active queries of the provider for one order (掉单 check).
    pub query_interval_ms: i64,
    /// Longest `Prefer: wait=n` honoured, in seconds.
    pub max_wait_secs: u64,
    /// How long a status request waits for a busy order before answering `503`.
    pub busy_wait_ms: u64,
    /// The order-submission window (contract §4): a keyed submission of the same content by
    /// the same buyer within this long of an order's creation returns that order. Defaulted
    /// when a `PUT /admin/settings` omits it, so clients written before it existed still work.
    #[serde(default = "default_submit_window_ms")]
    pub submit_window_ms: i64,
}

/// 15 minutes: long enough to cover a reload, a second tab or an app relaunched mid-checkout,
/// short enough that a buyer who orders the same cart again later gets a new order.
fn default_submit_window_ms() -> i64 {
    15 * 60 * 1000
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prepay_ttl_ms: 2 * 60 * 60 * 1000,
            reuse_margin_ms: 60 * 1000,
            notify_delay_ms: 1000,
            notify_retry_ms: 2000,
            notify_tries: 5,
            query_interval_ms: 3000,
            max_wait_secs: 25,
            busy_wait_ms: 2000,
            submit_window_ms: default_submit_window_ms(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            storage: Storage::File(PathBuf::from("./data/demo.sqlite")),
            www_dir: PathBuf::from("www"),
            pkg_dir: PathBuf::from("pkg"),
            max_body_bytes: 64 * 1024,
            settings: Settings::default(),
            admin_token: None,
            admin_from_loopback: true,
            notify_secret: Vec::new(),
        }
    }
}

/// The runtime settings, shared: `PUT /admin/settings` replaces them and every request reads
/// them afresh. Cheap to clone; clones share the settings.
#[derive(Debug, Clone, Default)]
pub struct SharedSettings(Arc<RwLock<Settings>>);

impl SharedSettings {
    /// Shares `settings`.
    pub fn new(settings: Settings) -> Self {
        SharedSettings(Arc::new(RwLock::new(settings)))
    }

    /// The settings now.
    pub fn get(&self) -> Settings {
        // A writer that panicked left whole `Copy` settings behind: still good to read.
        *self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the settings.
    pub fn set(&self, settings: Settings) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }
}
