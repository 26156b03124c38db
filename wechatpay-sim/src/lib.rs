//! A WeChat Pay API v3 simulator as its own program: the payment center talks to it over HTTP
//! exactly as it would talk to `api.mch.weixin.qq.com` (same paths, JSON field names, status
//! codes and signatures), because WeChat Pay offers no sandbox for API v3 and the code path
//! under test should be the one that ships.
//!
//! - requests' `Authorization` is checked against the configured merchant public key
//!   (`401 SIGN_ERROR` otherwise); every `/v3` reply is signed with a WeChat Pay key the
//!   simulator generates (or loads): in the public-key mode (`PUB_KEY_ID_…`, the default), or
//!   with platform certificates ([`SigningMode::Certificates`]) that `GET /v3/certificates`
//!   lists, encrypted with the APIv3 key, and that rotate ([`platform`]: publish, switch, drop;
//!   [`RunningSim::publish_certificate`] or `/sim/admin/certificates`);
//! - payments are made in a wallet page (`/sim/wallet/{id}`); a confirmed payment's notify is
//!   encrypted with the APIv3 key, signed, and retried on WeChat Pay's schedule, scaled down by
//!   [`Config::notify_time_scale`];
//! - faults (`X-Fault`, `/sim/admin/faults`) and per-order counters (`/sim/admin/stats/…`) are
//!   the present in-process simulated provider's.
//!
//! All cryptography is `checkout-guard-wechatpay`'s. State is in memory: a restart forgets every
//! order (the simulator stands in for WeChat Pay during one test run or one demo session).
//!
//! ```no_run
//! # async fn run(merchant_key: checkout_guard_wechatpay::PublicKey) -> Result<(), checkout_guard_wechatpay_sim::StartError> {
//! use checkout_guard_wechatpay_sim::{start, Config, MerchantConfig};
//! let sim = start(Config::new(MerchantConfig {
//!     mchid: "1900000109".into(),
//!     serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
//!     public_key: merchant_key,
//! }))
//! .await?;
//! println!("point the provider's base URL at {}", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod faults;
mod http;
pub mod ledger;
pub mod notify;
pub mod platform;
pub mod test_vectors;
pub mod wallet;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use checkout_guard_wechatpay::{
    ApiV3Key, Certificate, KeyError, KeySet, PrivateKey, PublicKey, UnixSeconds,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::faults::FaultRules;
use crate::ledger::Ledger;
use crate::platform::{Platform, RotationError, Signer};

/// The serial the simulator's WeChat Pay public key goes by unless configured: public-key mode
/// (`PUB_KEY_ID_` + digits, like the ids new merchants get), recognisably not a real one.
pub const DEFAULT_WECHATPAY_SERIAL: &str = "PUB_KEY_ID_0100000000000000000000000000000001";

/// WeChat Pay's prepay lifetime: 2 hours.
pub const DEFAULT_PREPAY_TTL_MS: i64 = 2 * 60 * 60 * 1000;

/// WeChat Pay's minimum lead of `time_expire` over the create: 1 minute.
pub const DEFAULT_MIN_TIME_EXPIRE_MS: i64 = 60 * 1000;

/// The one merchant the simulator serves.
#[derive(Debug, Clone)]
pub struct MerchantConfig {
    /// `mchid`: requests signed for another merchant are `401 SIGN_ERROR`.
    pub mchid: String,
    /// The merchant API certificate serial the requests name in `serial_no`.
    pub serial_no: String,
    /// The merchant API public key (the half of `apiclient_key.pem` WeChat Pay holds).
    pub public_key: PublicKey,
}

/// How replies and notifies are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningMode {
    /// With one WeChat Pay public key, `Wechatpay-Serial` = [`Config::wechatpay_serial`]
    /// (`PUB_KEY_ID_…`); `GET /v3/certificates` answers `403 NO_AUTH`, as WeChat Pay does for a
    /// public-key merchant.
    #[default]
    PublicKey,
    /// With a self-signed platform certificate over [`Config::wechatpay_key`],
    /// `Wechatpay-Serial` = its hex serial, listed by `GET /v3/certificates`; rotations add
    /// more. Needs an APIv3 key (the list is encrypted with it).
    Certificates,
}

/// Everything [`start`] needs. [`Config::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The base URL `code_url`-less links (`h5_url`, wallet pages) are built on; default
    /// `http://{the bound address}`.
    pub public_url: Option<String>,
    /// The merchant.
    pub merchant: MerchantConfig,
    /// The APIv3 key notifies are encrypted with; none: no notifies (as at WeChat Pay).
    pub apiv3_key: Option<ApiV3Key>,
    /// The WeChat Pay private key to sign with; none: a new one is generated at start.
    pub wechatpay_key: Option<PrivateKey>,
    /// The serial of that key (`Wechatpay-Serial`) in public-key mode.
    pub wechatpay_serial: String,
    /// Public key or platform certificates.
    pub signing: SigningMode,
    /// Keys for the certificates rotations add, used in order before new ones are generated
    /// (generating takes seconds in a debug build).
    pub spare_keys: Vec<PrivateKey>,
    /// How long a prepay is payable, unless `time_expire` is sooner.
    pub prepay_ttl_ms: i64,
    /// Multiplies WeChat Pay's notify retry intervals (0.01: 15 s becomes 150 ms).
    pub notify_time_scale: f64,
    /// How far ahead of the create a `time_expire` must be, in ms (WeChat Pay: 1 minute, the
    /// default). Lower it only to test prepay expiry in seconds (the conformance kit's expiry
    /// case): a merchant then configures a prepay lifetime of a few seconds.
    pub min_time_expire_ms: i64,
}

impl Config {
    /// Defaults: `127.0.0.1:0`, a generated key, [`DEFAULT_WECHATPAY_SERIAL`], 2-hour prepays,
    /// real-time notify retries, no APIv3 key.
    pub fn new(merchant: MerchantConfig) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            merchant,
            apiv3_key: None,
            wechatpay_key: None,
            wechatpay_serial: DEFAULT_WECHATPAY_SERIAL.to_owned(),
            signing: SigningMode::PublicKey,
            spare_keys: Vec::new(),
            prepay_ttl_ms: DEFAULT_PREPAY_TTL_MS,
            notify_time_scale: 1.0,
            min_time_expire_ms: DEFAULT_MIN_TIME_EXPIRE_MS,
        }
    }
}

/// Why the simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A key or serial is unusable (or key generation failed).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Setting(&'static str),
}

/// The simulator's shared state.
pub(crate) struct Sim {
    pub(crate) mchid: String,
    pub(crate) merchant_keys: KeySet,
    pub(crate) apiv3_key: Option<ApiV3Key>,
    platform: Mutex<Platform>,
    spare_keys: Mutex<Vec<PrivateKey>>,
    pub(crate) public_url: String,
    pub(crate) prepay_ttl_ms: i64,
    pub(crate) notify_time_scale: f64,
    pub(crate) min_time_expire_ms: i64,
    pub(crate) faults: FaultRules,
    pub(crate) http: reqwest::Client,
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    ledger: Mutex<Ledger>,
}

impl Sim {
    /// The ledger. Held only for one synchronous operation, never across an `await`.
    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The signing state. Held only for one synchronous operation, never across an `await`.
    pub(crate) fn platform(&self) -> MutexGuard<'_, Platform> {
        self.platform.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Who signs now (a rotation may change it between two replies).
    pub(crate) fn signer(&self) -> Option<Signer> {
        self.platform().signer()
    }

    /// Step 1 of a rotation: a new certificate, from a spare key or a generated one.
    pub(crate) async fn publish_certificate(
        &self,
        published: bool,
    ) -> Result<String, RotationError> {
        if !self.platform().is_certificate_mode() {
            return Err(RotationError::PublicKeyMode);
        }
        let spare = {
            let mut spare = self
                .spare_keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (!spare.is_empty()).then(|| spare.remove(0))
        };
        let key = match spare {
            Some(key) => key,
            None => generate_key().await?,
        };
        let now = UnixSeconds::from_millis(clock::now_ms());
        self.platform()
            .add(key, &clock::random_serial(), now, published)
    }
}

/// A new RSA-2048 key, off the async workers (it takes a while).
async fn generate_key() -> Result<PrivateKey, KeyError> {
    tokio::task::spawn_blocking(PrivateKey::generate)
        .await
        .map_err(|e| KeyError::Generate(e.to_string()))?
}

/// A running simulator. Dropping it without [`RunningSim::shutdown`] leaves its tasks running
/// until the runtime ends.
pub struct RunningSim {
    sim: Arc<Sim>,
    addr: SocketAddr,
    public_url: String,
    wechatpay_public_key: PublicKey,
    wechatpay_serial: String,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl RunningSim {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a merchant's provider points at (instead of `https://api.mch.weixin.qq.com`).
    pub fn base_url(&self) -> &str {
        &self.public_url
    }

    /// The WeChat Pay public key replies and notifies verified with at start (in certificate
    /// mode, the first certificate's key).
    pub fn wechatpay_public_key(&self) -> &PublicKey {
        &self.wechatpay_public_key
    }

    /// Its serial at start (`PUB_KEY_ID_…`, or the first certificate's hex serial).
    pub fn wechatpay_serial(&self) -> &str {
        &self.wechatpay_serial
    }

    /// The serial replies and notifies are signed with now.
    pub fn signing_serial(&self) -> Option<String> {
        self.sim.signer().map(|s| s.serial)
    }

    /// The platform certificates `GET /v3/certificates` lists now (none in public-key mode):
    /// what a merchant would configure as files.
    pub fn platform_certificates(&self) -> Vec<Certificate> {
        self.sim.platform().published()
    }

    /// Rotation step 1: a new platform certificate (a spare key's, else a generated one),
    /// listed by `GET /v3/certificates` if `published`; signing is unchanged. Its serial.
    pub async fn publish_certificate(&self, published: bool) -> Result<String, RotationError> {
        self.sim.publish_certificate(published).await
    }

    /// Rotation step 2: sign replies and notifies with `serial` from now on.
    pub fn sign_with(&self, serial: &str) -> Result<(), RotationError> {
        self.sim.platform().sign_with(serial)
    }

    /// Rotation step 3: drop a certificate that no longer signs.
    pub fn drop_certificate(&self, serial: &str) -> Result<(), RotationError> {
        self.sim.platform().remove(serial)
    }

    /// A [`KeySet`] with that key under its serial, plus every published certificate: what a
    /// merchant configures.
    pub fn wechatpay_keys(&self) -> Result<KeySet, KeyError> {
        let mut keys = KeySet::new();
        keys.insert(&self.wechatpay_serial, self.wechatpay_public_key.clone())?;
        for certificate in self.platform_certificates() {
            keys.insert_certificate(&certificate)?;
        }
        Ok(keys)
    }

    /// Stops accepting, drops open connections and pending notifies, and waits for all tasks.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Starts the simulator on the current tokio runtime.
pub async fn start(config: Config) -> Result<RunningSim, StartError> {
    if !(config.notify_time_scale.is_finite() && config.notify_time_scale >= 0.0) {
        return Err(StartError::Setting(
            "notify_time_scale must be a number >= 0",
        ));
    }
    if config.min_time_expire_ms < 0 {
        return Err(StartError::Setting("min_time_expire_ms must be >= 0"));
    }
    if config.prepay_ttl_ms <= 0 {
        return Err(StartError::Setting("prepay_ttl_ms must be positive"));
    }
    let mut merchant_keys = KeySet::new();
    merchant_keys.insert(
        &config.merchant.serial_no,
        config.merchant.public_key.clone(),
    )?;
    // Checked the same way as the merchant's serial, so a typo fails here, not at every reply.
    KeySet::new().insert(&config.wechatpay_serial, config.merchant.public_key.clone())?;
    if config.signing == SigningMode::Certificates && config.apiv3_key.is_none() {
        return Err(StartError::Setting(
            "certificate mode needs an APIv3 key: GET /v3/certificates is encrypted with it",
        ));
    }
    let wechatpay_key = match config.wechatpay_key {
        Some(key) => key,
        None => generate_key().await?,
    };
    let platform = match config.signing {
        SigningMode::PublicKey => Platform::PublicKey(Box::new(Signer {
            key: wechatpay_key.clone(),
            serial: config.wechatpay_serial.clone(),
        })),
        SigningMode::Certificates => Platform::with_certificate(
            wechatpay_key.clone(),
            &clock::random_serial(),
            UnixSeconds::from_millis(clock::now_ms()),
        )?,
    };
    let wechatpay_serial = match platform.signer() {
        Some(signer) => signer.serial,
        None => config.wechatpay_serial.clone(),
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let public_url = config
        .public_url
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{addr}"));
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let sim = Arc::new(Sim {
        mchid: config.merchant.mchid,
        merchant_keys,
        apiv3_key: config.apiv3_key,
        platform: Mutex::new(platform),
        spare_keys: Mutex::new(config.spare_keys),
        public_url: public_url.clone(),
        prepay_ttl_ms: config.prepay_ttl_ms,
        notify_time_scale: config.notify_time_scale,
        min_time_expire_ms: config.min_time_expire_ms,
        faults: FaultRules::default(),
        http: reqwest::Client::new(),
        tasks: tasks.clone(),
        shutdown: shutdown.clone(),
        ledger: Mutex::new(Ledger::default()),
    });
    tasks.spawn(accept_loop(
        listener,
        http::router(sim.clone()),
        shutdown.clone(),
        tasks.clone(),
    ));
    tracing::info!(%addr, serial = %wechatpay_serial, mode = ?config.signing, "wechatpay-sim listening");
    Ok(RunningSim {
        sim,
        addr,
        public_url,
        wechatpay_public_key: wechatpay_key.public_key(),
        wechatpay_serial,
        shutdown,
        tasks,
    })
}

/// Put in every request's extensions: notifying it closes the request's connection without a
/// reply (the `drop-reply` fault).
#[derive(Debug, Clone)]
pub(crate) struct ConnAbort(pub(crate) Arc<Notify>);

/// Hand-written over hyper rather than `axum::serve` for one reason: `drop-reply` must close a
/// connection **after** its request's work committed, which needs a handle on the connection.
async fn accept_loop(
    listener: TcpListener,
    routes: axum::Router,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let routes = routes.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let abort = Arc::new(Notify::new());
            let conn_abort = abort.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut().insert(ConnAbort(conn_abort.clone()));
                    routes.clone().oneshot(req)
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = abort.notified() => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}
