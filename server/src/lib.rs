//! The reference merchant backend for checkout-guard: the merchant API of `docs/contract.md`
//! in front of a simulated WeChat-Pay-like provider, on SQLite, with fault injection and
//! per-order charge counts. See `server/README.md` for flags and endpoints.
//!
//! The contract's merchant rules ([`rules`]) see three seams and nothing concrete: a
//! [`provider::Provider`], a [`store::Store`] and a [`clock::Clock`]; what happens is reported
//! to a [`stats::Observer`]. [`app`] puts the reference pieces together (the simulated provider
//! behind [`provider::faulty::Faulty`], [`store::sqlite::SqliteStore`], the system clock, the
//! stats), [`http`] serves them.
//!
//! Map:
//! - [`serve`]: start/stop, the accept loop; [`config`]: what can be set, the profiles;
//!   [`config::load`]: flags > environment > TOML file > defaults; [`secret`]: redacted secrets.
//! - [`http::business`]: the business system's API; [`buyer_token`]: what opens one order's
//!   create and status in the production profile.
//! - [`http`]: routes and handlers; [`faults`]: the fault-injection specs; [`error`]: the
//!   JSON error replies, and the status and code of each rule's refusal.
//! - [`rules`]: the contract's merchant rules (submission, create/reuse/close, content change,
//!   status, notify), tested on a virtual clock.
//! - [`provider`]: the `Provider` trait; [`provider::sim`]: the simulated provider (its wallet,
//!   its signed notifies); [`provider::faulty`]: faults around any provider; [`signing`]: HMAC.
//! - [`store`]: the `Store` trait; [`store::sqlite`]: the SQLite store (the database file, its
//!   SQL, per-order leases); [`model`]: the records they share.
//! - [`guard_api`]: the library surface: [`router`] mounts the guard-facing routes over any
//!   provider and store in a merchant's own axum app; [`webhook`]: results pushed to the
//!   business system from the outbox.
//! - [`clock`]: time, passed in; [`stats`]: the observer that counts; [`ids`]; [`app`].

pub mod app;
pub mod buyer_token;
pub mod clock;
pub mod config;
pub mod error;
pub mod faults;
pub mod guard_api;
pub mod http;
pub mod ids;
pub mod model;
pub mod provider;
pub mod rules;
pub mod secret;
pub mod serve;
pub mod signing;
pub mod stats;
pub mod store;
pub mod webhook;

pub use config::{Config, ConfigError, Profile, ProviderKind, Settings, SharedSettings, Storage};
pub use guard_api::{router, GuardApi, GuardApiOptions};
pub use secret::Secret;
pub use serve::{start, RunningServer, StartError};
