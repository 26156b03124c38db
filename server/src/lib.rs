//! The reference merchant backend for checkout-guard: the merchant API of `docs/contract.md`
//! in front of a simulated WeChat-Pay-like provider, on SQLite, with fault injection and
//! per-order charge counts. See `server/README.md` for flags and endpoints.
//!
//! Map:
//! - [`serve`]: start/stop, the accept loop; [`config`]: what can be set.
//! - [`http`]: routes and handlers; [`faults`]: the fault-injection specs.
//! - [`rules`]: the contract's merchant rules (submission, create/reuse/close, content change,
//!   status, notify) over the `Provider` and `Store` traits and a `Clock`.
//! - [`provider`]: the `Provider` trait the rules call; [`provider::sim`]: the simulated
//!   provider (its wallet, its signed notifies); [`provider::faulty`]: faults around any
//!   provider; [`signing`]: HMAC.
//! - [`store`]: the `Store` trait the rules call; [`store::sqlite`]: the SQLite store (the
//!   database file, its SQL, per-order leases); [`model`]: the records they share;
//!   [`stats`]: the observer that counts.
//! - [`clock`]: time, passed in; [`ids`], [`error`], [`app`].

pub mod app;
pub mod clock;
pub mod config;
pub mod error;
pub mod faults;
pub mod http;
pub mod ids;
pub mod model;
pub mod provider;
pub mod rules;
pub mod serve;
pub mod signing;
pub mod stats;
pub mod store;

pub use config::{Config, Settings, SharedSettings, Storage};
pub use serve::{start, RunningServer, StartError};
