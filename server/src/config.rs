//! Everything the server can be told at start.
//!
//! One struct instead of boolean parameters: tests build it with short prepay lifetimes and
//! `:memory:` storage, the binary fills it from flags, the environment and a TOML file
//! ([`load`]). Secrets are [`Secret`]s, so a `{:?}` of a [`Config`] never shows one.

pub mod load;

use crate::secret::Secret;
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

/// Which surface the server offers.
///
/// The test surface (fault injection, the simulated provider's endpoints and wallet, admin
/// calls from loopback without a token) is what makes the demo and the tests possible and
/// what must never face the internet: behind a reverse proxy every request comes from
/// loopback, and `X-Fault` would let anyone break payments. So it exists only in a profile
/// chosen explicitly; [`Profile::Production`] is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// No test surface: `X-Fault` ignored, `/admin/faults` and `/sim/...` answer 404, admin
    /// calls always need the admin token, the guard-facing create and status need a buyer
    /// token, and page-submitted orders (`POST`/`PUT /api/orders`) are off: orders come from
    /// the business API.
    #[default]
    Production,
    /// Today's demo and test surface (`--profile demo`, alias `test`).
    #[serde(alias = "test")]
    Demo,
}

impl Profile {
    /// `production`, or `demo`/`test`.
    pub fn parse(text: &str) -> Option<Profile> {
        match text {
            "production" | "prod" => Some(Profile::Production),
            "demo" | "test" => Some(Profile::Demo),
            _ => None,
        }
    }

    /// Whether the test surface is on.
    pub fn is_demo(self) -> bool {
        self == Profile::Demo
    }
}

/// The payment provider the rules call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderKind {
    /// The simulated WeChat-Pay-like provider, in process. The only one built in so far; in
    /// the production profile its wallet is not served, so nothing can be paid through it.
    #[default]
    Sim,
    /// WeChat Pay API v3 ([`crate::provider::wechatpay::WechatPayV3`]), configured by
    /// [`Config::wechatpay`].
    WechatPay,
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which surface the server offers (see [`Profile`]).
    pub profile: Profile,
    /// The payment provider.
    pub provider: ProviderKind,
    /// WeChat Pay's settings (`wechatpay_*`), self-checked at load; set when
    /// [`Config::provider`] is [`ProviderKind::WechatPay`].
    pub wechatpay: Option<crate::provider::wechatpay::WechatPayConfig>,
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
    pub admin_token: Option<Secret>,
    /// Whether loopback peers may use the admin endpoints without the token (demo profile
    /// only: the production profile always asks for the token).
    pub admin_from_loopback: bool,
    /// The provider's notify signing key (random per start when `None`). Only ever used
    /// server-side.
    pub notify_secret: Option<Secret>,
    /// The business system's API keys (`Authorization: Bearer <key>` on `/v1/business/...`).
    /// Several, so a key can be rotated without downtime. Required in the production profile.
    pub api_keys: Vec<Secret>,
    /// Signs buyer tokens. Required in the production profile (every instance must share
    /// it); random per start in the demo profile when `None`.
    pub buyer_token_secret: Option<Secret>,
    /// How long a buyer token opens its order, in seconds.
    pub buyer_token_ttl_secs: u64,
    /// Browser origins allowed to call the guard-facing API cross-origin (CORS). Empty: no
    /// CORS headers at all, same-origin pages only.
    pub cors_origins: Vec<String>,
    /// The business system's webhook: every paid order is POSTed here, signed, until it is
    /// acknowledged (`docs/business-api.md`). `None`: events stay in the outbox, undelivered.
    pub webhook_url: Option<String>,
    /// Signs the webhook requests (HMAC-SHA256). Required with [`Config::webhook_url`].
    pub webhook_secret: Option<Secret>,
    /// Behind a reverse proxy: the header carrying the buyer's IP address (`x-forwarded-for`,
    /// last entry; or `x-real-ip`), which H5 payments send to the provider. `None`: the peer.
    pub client_ip_header: Option<String>,
}

/// The shortest prepay lifetime with WeChat Pay: it refuses a `time_expire` under a minute
/// away (seconds precision), so leave room for the clocks of both sides.
pub const MIN_WECHATPAY_PREPAY_TTL_MS: i64 = 90_000;

/// A configuration that cannot run; names the setting (as spelled in the config file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting `{setting}`: {why}")]
pub struct ConfigError {
    /// The setting, as spelled in the TOML file (`api_key`, `listen`, …).
    pub setting: String,
    /// What is wrong with it.
    pub why: String,
}

impl ConfigError {
    /// `setting` is wrong for this reason.
    pub fn new(setting: impl Into<String>, why: impl Into<String>) -> Self {
        ConfigError {
            setting: setting.into(),
            why: why.into(),
        }
    }
}

impl Config {
    /// Refuses a configuration the chosen profile cannot run with. The production profile
    /// needs an API key (else the business API could never be used) and a buyer-token secret
    /// (a random one would break every token at a restart and across instances).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.profile == Profile::Production {
            if !self.api_keys.iter().any(|k| !k.is_empty()) {
                return Err(ConfigError::new(
                    "api_key",
                    "the production profile needs the business system's API key (CG_API_KEY or CG_API_KEY_FILE)",
                ));
            }
            if self
                .buyer_token_secret
                .as_ref()
                .is_none_or(Secret::is_empty)
            {
                return Err(ConfigError::new(
                    "buyer_token_secret",
                    "the production profile needs the buyer-token signing secret (CG_BUYER_TOKEN_SECRET or CG_BUYER_TOKEN_SECRET_FILE)",
                ));
            }
        }
        if self.buyer_token_ttl_secs == 0 {
            return Err(ConfigError::new(
                "buyer_token_ttl_secs",
                "must be at least 1 second",
            ));
        }
        // The demo/test profile may talk to a simulator told to accept shorter lifetimes
        // (expiry tests in seconds); production talks to WeChat Pay itself.
        if self.profile == Profile::Production
            && self.provider == ProviderKind::WechatPay
            && self.settings.prepay_ttl_ms < MIN_WECHATPAY_PREPAY_TTL_MS
        {
            return Err(ConfigError::new(
                "prepay_ttl_ms",
                format!(
                    "WeChat Pay refuses a time_expire less than a minute away: use at least {MIN_WECHATPAY_PREPAY_TTL_MS} ms"
                ),
            ));
        }
        if let Some(url) = &self.webhook_url {
            if reqwest::Url::parse(url).map_or(true, |u| {
                !matches!(u.scheme(), "http" | "https") || !u.has_host()
            }) {
                return Err(ConfigError::new(
                    "webhook_url",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
            if self.webhook_secret.as_ref().is_none_or(Secret::is_empty) {
                return Err(ConfigError::new(
                    "webhook_secret",
                    "a webhook URL needs the secret that signs its requests (CG_WEBHOOK_SECRET or CG_WEBHOOK_SECRET_FILE)",
                ));
            }
        }
        if let Some(name) = &self.client_ip_header {
            if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::new(
                    "client_ip_header",
                    format!("{name:?} is not a header name"),
                ));
            }
        }
        for origin in &self.cors_origins {
            if origin == "*" || axum::http::HeaderValue::from_str(origin).is_err() {
                return Err(ConfigError::new(
                    "cors_origins",
                    format!(
                        "{origin:?} is not an origin (scheme://host[:port]; `*` is not allowed)"
                    ),
                ));
            }
        }
        Ok(())
    }
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
    /// The sweeper asks the provider about an attempt that may still be paid once nothing has
    /// touched it (no create, status query or notify) for this long (ms): a lost notify is
    /// found even when no page is asking.
    #[serde(default = "default_sweep_after_ms")]
    pub sweep_after_ms: i64,
    /// How often the sweeper looks for such attempts (ms); 0 turns it off.
    #[serde(default = "default_sweep_every_ms")]
    pub sweep_every_ms: u64,
    /// The wait before the first retry of an unacknowledged webhook (ms); it doubles with
    /// every try up to [`Settings::webhook_retry_max_ms`].
    #[serde(default = "default_webhook_retry_ms")]
    pub webhook_retry_ms: u64,
    /// The longest wait between two tries of one webhook (ms).
    #[serde(default = "default_webhook_retry_max_ms")]
    pub webhook_retry_max_ms: u64,
}

/// A minute: past any create's round trip and a buyer's usual time in the wallet, so the
/// sweeper rarely asks about a payment a page is already watching.
fn default_sweep_after_ms() -> i64 {
    60 * 1000
}

fn default_sweep_every_ms() -> u64 {
    10 * 1000
}

fn default_webhook_retry_ms() -> u64 {
    1000
}

/// Ten minutes: a business system that is down for a deploy hears of its payments within
/// minutes of coming back.
fn default_webhook_retry_max_ms() -> u64 {
    10 * 60 * 1000
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
            sweep_after_ms: default_sweep_after_ms(),
            sweep_every_ms: default_sweep_every_ms(),
            webhook_retry_ms: default_webhook_retry_ms(),
            webhook_retry_max_ms: default_webhook_retry_max_ms(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            profile: Profile::default(),
            provider: ProviderKind::default(),
            wechatpay: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            storage: Storage::File(PathBuf::from("./data/demo.sqlite")),
            www_dir: PathBuf::from("www"),
            pkg_dir: PathBuf::from("pkg"),
            max_body_bytes: 64 * 1024,
            settings: Settings::default(),
            admin_token: None,
            admin_from_loopback: true,
            notify_secret: None,
            api_keys: Vec::new(),
            buyer_token_secret: None,
            buyer_token_ttl_secs: 30 * 60,
            cors_origins: Vec::new(),
            webhook_url: None,
            webhook_secret: None,
            client_ip_header: None,
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
