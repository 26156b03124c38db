//! The state every handler shares: the composition of the reference backend. This is the one
//! place that names the concrete pieces the rules see only as traits (the simulated provider
//! behind its fault wrapper, the store the configuration chose, the system clock, the stats
//! observer).

use crate::clock::Clock;
use crate::config::{Profile, Settings, SharedSettings};
use crate::faults::FaultRules;
use crate::guard_api::{GuardApi, GuardApiOptions};
use crate::provider::any::AnyProvider;
use crate::provider::faulty::Faulty;
use crate::provider::sim::notify::Deliverer;
use crate::provider::sim::{SimParts, SimProvider};
use crate::provider::wechatpay::WechatPayV3;
use crate::rules::{Merchant, MerchantParts};
use crate::secret::Secret;
use crate::stats::StatsRecorder;
use crate::store::sqlite::Db;
use crate::store::AnyStore;
use std::sync::Arc;

/// The merchant rules as this server runs them.
pub type ReferenceMerchant = Merchant<Faulty<AnyProvider>, AnyStore>;

/// The guard-facing API as this server runs it: the library's, over the reference pieces.
pub type ReferenceGuardApi = GuardApi<Faulty<AnyProvider>, AnyStore>;

/// The running server's shared state.
#[derive(Debug)]
pub struct App {
    /// The guard-facing API ([`crate::guard_api`]) over the contract's merchant rules: the
    /// simulated provider (or WeChat Pay) with the request's faults, the store (SQLite or
    /// PostgreSQL), the clock, the stats. See [`App::merchant`].
    pub guard: Arc<ReferenceGuardApi>,
    /// The SQLite database of the stats and the simulated provider, and of the merchant's
    /// store when that is SQLite (admin views, tests).
    pub db: Arc<Db>,
    /// Where the rules, the simulated provider and every reply's `now` read the time.
    pub clock: Clock,
    /// The simulated provider itself, for its own endpoints (`/sim/...`) and the admin view.
    pub sim: SimProvider,
    /// WeChat Pay, when configured: its notify endpoint (`/api/wechatpay/notify`) opens
    /// notifies with its keys.
    pub wechatpay: Option<WechatPayV3>,
    /// The stats: the observer the rules and the simulated provider report to.
    pub stats: Arc<StatsRecorder>,
    /// Globally installed faults.
    pub faults: FaultRules,
    /// The provider's notify sender.
    pub deliverer: Deliverer,
    /// The provider's notify signing key (server-side only).
    pub notify_secret: Vec<u8>,
    /// Bearer token for admin endpoints.
    pub admin_token: Option<Secret>,
    /// Whether loopback peers may use admin endpoints without the token (demo profile only).
    pub admin_from_loopback: bool,
    /// Which surface is served (see [`Profile`]).
    pub profile: Profile,
    /// The business system's API keys.
    pub api_keys: Vec<Secret>,
    /// Signs and checks buyer tokens.
    pub buyer_token_secret: Secret,
    /// How long a new buyer token is valid (ms).
    pub buyer_token_ttl_ms: i64,
    /// Origins allowed cross-origin (CORS).
    pub cors_origins: Vec<String>,
    settings: SharedSettings,
}

/// Everything [`App::new`] needs.
#[derive(Debug)]
pub struct AppParts {
    /// See [`App::db`].
    pub db: Arc<Db>,
    /// The merchant's store (on [`AppParts::db`] when it is SQLite).
    pub store: AnyStore,
    /// See [`App::clock`].
    pub clock: Clock,
    /// See [`App::deliverer`].
    pub deliverer: Deliverer,
    /// The merchant's notify endpoint, where the simulated provider sends its notifies.
    pub notify_url: String,
    /// See [`App::notify_secret`].
    pub notify_secret: Vec<u8>,
    /// See [`App::admin_token`].
    pub admin_token: Option<Secret>,
    /// See [`App::admin_from_loopback`].
    pub admin_from_loopback: bool,
    /// See [`App::profile`].
    pub profile: Profile,
    /// See [`App::api_keys`].
    pub api_keys: Vec<Secret>,
    /// See [`App::buyer_token_secret`].
    pub buyer_token_secret: Secret,
    /// See [`App::buyer_token_ttl_ms`].
    pub buyer_token_ttl_ms: i64,
    /// See [`App::cors_origins`].
    pub cors_origins: Vec<String>,
    /// See [`GuardApiOptions::client_ip_header`].
    pub client_ip_header: Option<axum::http::HeaderName>,
    /// Initial settings.
    pub settings: Settings,
    /// WeChat Pay, when the configuration chose it: the rules then call it instead of the
    /// simulated provider (whose `/sim/...` endpoints stay, unused by the rules).
    pub wechatpay: Option<WechatPayV3>,
}

impl App {
    /// Assembles the state.
    pub fn new(parts: AppParts) -> Self {
        let stats = Arc::new(StatsRecorder::new(parts.db.clone()));
        let settings = SharedSettings::new(parts.settings);
        let sim = SimProvider::new(SimParts {
            store: parts.db.clone(),
            clock: parts.clock.clone(),
            observer: stats.clone(),
            notify_url: parts.notify_url,
        });
        let merchant = Merchant::new(MerchantParts {
            provider: Faulty::new(match parts.wechatpay.clone() {
                Some(wechatpay) => AnyProvider::WechatPay(Box::new(wechatpay)),
                None => AnyProvider::Sim(sim.clone()),
            }),
            store: parts.store,
            clock: parts.clock.clone(),
            observer: stats.clone(),
            settings: settings.clone(),
        });
        let guard = Arc::new(GuardApi::new(
            merchant,
            GuardApiOptions {
                buyer_token_secret: parts.buyer_token_secret.clone(),
                // Behind a demo page anyone may pay; production opens an order to its buyer.
                require_buyer_token: !parts.profile.is_demo(),
                page_orders: parts.profile.is_demo(),
                client_ip_header: parts.client_ip_header,
            },
        ));
        App {
            guard,
            sim,
            wechatpay: parts.wechatpay,
            stats,
            db: parts.db,
            clock: parts.clock,
            faults: FaultRules::default(),
            deliverer: parts.deliverer,
            notify_secret: parts.notify_secret,
            admin_token: parts.admin_token,
            // Behind a reverse proxy every request comes from loopback: only a profile chosen
            // for demos and tests may trust it.
            admin_from_loopback: parts.admin_from_loopback && parts.profile.is_demo(),
            profile: parts.profile,
            api_keys: parts.api_keys,
            buyer_token_secret: parts.buyer_token_secret,
            buyer_token_ttl_ms: parts.buyer_token_ttl_ms,
            cors_origins: parts.cors_origins,
            settings,
        }
    }

    /// The contract's merchant rules.
    pub fn merchant(&self) -> &ReferenceMerchant {
        self.guard.merchant()
    }

    /// The merchant's store.
    pub fn store(&self) -> &AnyStore {
        self.merchant().store()
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings.get()
    }

    /// The settings, shared with everything that reads them afresh (the webhook delivery).
    pub fn shared_settings(&self) -> &SharedSettings {
        &self.settings
    }

    /// Replaces the settings (the rules read them afresh on every request).
    pub fn set_settings(&self, settings: Settings) {
        self.settings.set(settings);
    }
}
