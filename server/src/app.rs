//! The state every handler shares.

use crate::clock::Clock;
use crate::config::Settings;
use crate::faults::FaultRules;
use crate::provider::faulty::Faulty;
use crate::provider::sim::notify::Deliverer;
use crate::provider::sim::{SimParts, SimProvider};
use crate::stats::StatsRecorder;
use crate::store::sqlite::{Db, SqliteStore};
use std::sync::{Arc, RwLock};

/// The running server's shared state.
#[derive(Debug)]
pub struct App {
    /// The merchant's store, which the rules call.
    pub store: SqliteStore,
    /// The database file underneath the store, the stats and the simulated provider (admin
    /// views, tests).
    pub db: Arc<Db>,
    /// Where the rules and the simulated provider read the time.
    pub clock: Clock,
    /// The provider the merchant rules call: the simulated one, with the request's faults.
    pub provider: Faulty<SimProvider>,
    /// The simulated provider itself, for its own endpoints (`/sim/...`) and the admin view.
    pub sim: SimProvider,
    /// The stats: the observer the rules and the simulated provider report to.
    pub stats: Arc<StatsRecorder>,
    /// Globally installed faults.
    pub faults: FaultRules,
    /// The provider's notify sender.
    pub deliverer: Deliverer,
    /// The provider's notify signing key (server-side only).
    pub notify_secret: Vec<u8>,
    /// Bearer token for admin endpoints.
    pub admin_token: Option<String>,
    /// Whether loopback peers may use admin endpoints without the token.
    pub admin_from_loopback: bool,
    settings: RwLock<Settings>,
}

/// Everything [`App::new`] needs.
#[derive(Debug)]
pub struct AppParts {
    /// See [`App::db`].
    pub db: Arc<Db>,
    /// See [`App::clock`].
    pub clock: Clock,
    /// See [`App::deliverer`].
    pub deliverer: Deliverer,
    /// The merchant's notify endpoint, where the simulated provider sends its notifies.
    pub notify_url: String,
    /// See [`App::notify_secret`].
    pub notify_secret: Vec<u8>,
    /// See [`App::admin_token`].
    pub admin_token: Option<String>,
    /// See [`App::admin_from_loopback`].
    pub admin_from_loopback: bool,
    /// Initial settings.
    pub settings: Settings,
}

impl App {
    /// Assembles the state.
    pub fn new(parts: AppParts) -> Self {
        let stats = Arc::new(StatsRecorder::new(parts.db.clone()));
        let sim = SimProvider::new(SimParts {
            store: parts.db.clone(),
            clock: parts.clock.clone(),
            observer: stats.clone(),
            notify_url: parts.notify_url,
        });
        App {
            provider: Faulty::new(sim.clone()),
            sim,
            stats,
            store: SqliteStore::new(parts.db.clone()),
            db: parts.db,
            clock: parts.clock,
            faults: FaultRules::default(),
            deliverer: parts.deliverer,
            notify_secret: parts.notify_secret,
            admin_token: parts.admin_token,
            admin_from_loopback: parts.admin_from_loopback,
            settings: RwLock::new(parts.settings),
        }
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        *self.settings.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the settings.
    pub fn set_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }
}
