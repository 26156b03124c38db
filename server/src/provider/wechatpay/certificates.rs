//! The verification keys of the provider, and keeping downloaded platform certificates fresh.
//!
//! [`KeyStore`] holds what the merchant configured (WeChat Pay public keys by id, platform
//! certificate files) and, when `download_certificates` is on, the list last downloaded from
//! `GET /v3/certificates`. Every reply and notify is verified with [`KeyStore::keys_at`]:
//! the public keys, and every certificate, configured or downloaded, that has not expired.
//!
//! When it downloads (all of it under one lock, so two callers never download at once):
//! - when due: at start (a background task, and the first call if it comes first), then every
//!   `certificates_refresh_secs` (default an hour), so a certificate WeChat Pay publishes
//!   before switching to it is known by the time replies carry its serial; a failed download
//!   is tried again within a minute, and the certificates held stay in use meanwhile;
//! - once more when a reply or notify names a serial nobody knows ([`KeyStore::refresh_for_unknown`]),
//!   at most once a minute (or per refresh interval, if shorter), so a forged serial cannot
//!   make the server hammer WeChat Pay. A serial still unknown after that is "unknown": the
//!   reply is not believed.
//!
//! A download replaces the previous download (a certificate WeChat Pay dropped is dropped here
//! too); configured keys stay. The wire format and its checks are `checkout-guard-wechatpay`'s
//! [`open_certificate_download`]: decrypted with the APIv3 key, the reply's signature verified
//! with a key already held or one the list carries.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use checkout_guard_wechatpay::{
    open_certificate_download, ApiError, ApiV3Key, Certificate, KeySet, UnixSeconds,
};

use super::Transport;

/// A failed download is retried after at most this long; also the floor between two
/// downloads forced by unknown serials.
const RETRY_SECS: u64 = 60;

/// The verification keys (see the module doc).
pub(super) struct KeyStore {
    public_keys: KeySet,
    configured: Vec<Certificate>,
    refresh_secs: Option<u64>,
    state: Mutex<Downloaded>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Downloaded {
    certificates: Vec<Certificate>,
    /// When the next download is due; `None`: now (nothing downloaded yet).
    next_refresh: Option<UnixSeconds>,
    /// When an unknown serial last forced a download.
    last_forced: Option<UnixSeconds>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let downloaded: Vec<String> = self
            .state()
            .certificates
            .iter()
            .map(|c| c.serial().to_owned())
            .collect();
        f.debug_struct("KeyStore")
            .field(
                "public_keys",
                &self.public_keys.serials().collect::<Vec<_>>(),
            )
            .field(
                "configured",
                &self
                    .configured
                    .iter()
                    .map(Certificate::serial)
                    .collect::<Vec<_>>(),
            )
            .field("downloaded", &downloaded)
            .field("refresh_secs", &self.refresh_secs)
            .finish()
    }
}

impl KeyStore {
    pub(super) fn new(
        public_keys: KeySet,
        configured: Vec<Certificate>,
        refresh_secs: Option<u64>,
    ) -> Self {
        Self {
            public_keys,
            configured,
            refresh_secs,
            state: Mutex::new(Downloaded::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Downloaded> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether certificates are downloaded at all.
    pub(super) fn downloads(&self) -> bool {
        self.refresh_secs.is_some()
    }

    /// The keys that verify at `now`: public keys, and unexpired certificates (configured
    /// first, so a download cannot replace a configured certificate's key).
    pub(super) fn keys_at(&self, now: UnixSeconds) -> KeySet {
        let mut keys = KeySet::new();
        for certificate in &self.state().certificates {
            if !certificate.is_expired_at(now) {
                // A downloaded serial was checked when it was downloaded.
                let _ = keys.insert_certificate(certificate);
            }
        }
        for certificate in &self.configured {
            if !certificate.is_expired_at(now) {
                let _ = keys.insert_certificate(certificate);
            }
        }
        keys.extend(&self.public_keys);
        keys
    }

    fn is_due(&self, now: UnixSeconds) -> bool {
        self.downloads() && self.state().next_refresh.is_none_or(|at| now >= at)
    }

    /// Seconds until the next download is due (at least 1).
    fn secs_until_due(&self, now: UnixSeconds) -> u64 {
        match self.state().next_refresh {
            Some(at) => u64::try_from(at.0.saturating_sub(now.0))
                .unwrap_or(0)
                .max(1),
            None => 1,
        }
    }

    /// Downloads if due (see the module doc). Failures are logged; the keys held stay.
    pub(super) async fn refresh_if_due(&self, transport: &Transport, apiv3: &ApiV3Key) {
        if !self.is_due(transport.now()) {
            return;
        }
        let _one_at_a_time = self.refreshing.lock().await;
        // Someone else may have downloaded while this waited for the lock.
        if self.is_due(transport.now()) {
            let _ = self.download(transport, apiv3).await;
        }
    }

    /// After a reply or notify named an unknown serial: downloads once, unless one was forced
    /// within the last minute. Whether a download succeeded (then verify again).
    pub(super) async fn refresh_for_unknown(
        &self,
        transport: &Transport,
        apiv3: &ApiV3Key,
    ) -> bool {
        let Some(every) = self.refresh_secs else {
            return false;
        };
        let floor = i64::try_from(every.min(RETRY_SECS)).unwrap_or(i64::MAX);
        let now = transport.now();
        {
            let mut state = self.state();
            if state
                .last_forced
                .is_some_and(|at| now.0.saturating_sub(at.0) < floor)
            {
                return false;
            }
            state.last_forced = Some(now);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        self.download(transport, apiv3).await.is_ok()
    }

    /// One download; the next one scheduled either way.
    async fn download(&self, transport: &Transport, apiv3: &ApiV3Key) -> Result<(), String> {
        let every = self.refresh_secs.unwrap_or(RETRY_SECS);
        let result = self.fetch(transport, apiv3).await;
        let now = transport.now();
        let mut state = self.state();
        match result {
            Ok(certificates) => {
                tracing::info!(
                    serials = ?certificates.iter().map(Certificate::serial).collect::<Vec<_>>(),
                    "WeChat Pay platform certificates downloaded"
                );
                state.certificates = certificates;
                state.next_refresh = Some(UnixSeconds(
                    now.0
                        .saturating_add(i64::try_from(every).unwrap_or(i64::MAX)),
                ));
                Ok(())
            }
            Err(why) => {
                tracing::warn!(error = %why, "WeChat Pay platform certificates not downloaded: the ones held stay in use");
                let retry = i64::try_from(every.min(RETRY_SECS)).unwrap_or(i64::MAX);
                state.next_refresh = Some(UnixSeconds(now.0.saturating_add(retry)));
                Err(why)
            }
        }
    }

    async fn fetch(
        &self,
        transport: &Transport,
        apiv3: &ApiV3Key,
    ) -> Result<Vec<Certificate>, String> {
        let reply = transport
            .send(
                reqwest::Method::GET,
                checkout_guard_wechatpay::certificates::PATH,
                None,
            )
            .await
            .map_err(|e| e.to_string())?;
        if reply.status != 200 {
            let code = ApiError::from_json(&reply.body)
                .map(|e| format!("{}: {}", e.code, e.message))
                .unwrap_or_else(|_| "no error body".to_owned());
            // 403 NO_AUTH: the merchant has moved to the public-key mode.
            return Err(format!("HTTP {} ({code})", reply.status));
        }
        let now = transport.now();
        let lookup = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
        open_certificate_download(&self.keys_at(now), apiv3, lookup, &reply.body, now)
            .map_err(|e| e.to_string())
    }
}

/// Downloads in the background whenever due, until every provider holding `store` is gone
/// (the task holds it weakly). Needs a tokio runtime; without one (a provider built outside
/// any runtime) the first call downloads instead.
pub(super) fn spawn_refresher(store: &Arc<KeyStore>, transport: Transport, apiv3: ApiV3Key) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<KeyStore> = Arc::downgrade(store);
    runtime.spawn(async move {
        loop {
            let Some(store) = weak.upgrade() else {
                return;
            };
            store.refresh_if_due(&transport, &apiv3).await;
            let wait = store.secs_until_due(transport.now());
            drop(store);
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    });
}

/// A download forced by an unknown serial in a notify, in the background: the notify is
/// refused now, and WeChat Pay's retry finds the new certificate.
pub(super) fn spawn_refresh_for_unknown(
    store: Arc<KeyStore>,
    transport: Transport,
    apiv3: ApiV3Key,
) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            store.refresh_for_unknown(&transport, &apiv3).await;
        });
    }
}
