//! The `WechatPayV3` provider's configuration and its start-up self-check.
//!
//! Every part a merchant copies from the WeChat Pay merchant platform is checked before the
//! server takes a payment, and a wrong one is named ([`WechatPayConfigError`]): a key that
//! does not parse at start-up is an operator's two-minute fix, the same key failing at the
//! first payment is a lost sale and a confusing `SIGN_ERROR`.

use crate::secret::Secret;
use checkout_guard_wechatpay::{
    AeadError, ApiV3Key, Certificate, KeyError, KeySet, Merchant, PrivateKey, PublicKey,
    UnixSeconds,
};
use thiserror::Error;

/// WeChat Pay's API host (`api2.mch.weixin.qq.com` is the documented backup).
pub const DEFAULT_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// How often downloaded platform certificates are refreshed unless configured: hourly, as
/// wechatpay-java's auto-updating certificate config does. WeChat Pay publishes a new
/// certificate well before it signs with it, so an hourly refresh learns it in time.
pub const DEFAULT_CERTIFICATES_REFRESH_SECS: u64 = 3600;

/// Where and as whom the provider talks to WeChat Pay. Secrets are [`Secret`]s, so `{:?}`
/// never shows them.
#[derive(Debug, Clone)]
pub struct WechatPayConfig {
    /// The API host: [`DEFAULT_BASE_URL`], or the simulator's URL in tests.
    pub base_url: String,
    /// `mchid`, the merchant number.
    pub mchid: String,
    /// `appid` of the mini-program / official account / website the payments belong to.
    pub appid: String,
    /// The merchant API certificate's serial (`serial_no` in `Authorization`).
    pub merchant_serial: String,
    /// The merchant API private key, PEM (`apiclient_key.pem`): signs requests and `paySign`.
    pub merchant_private_key: Secret,
    /// The WeChat Pay public key, PEM (`pub_key.pem` from the merchant platform); empty when
    /// the merchant verifies with platform certificates only.
    pub wechatpay_public_key: String,
    /// Its id, `PUB_KEY_ID_…` (the `Wechatpay-Serial` replies carry); empty with the key.
    pub wechatpay_public_key_id: String,
    /// More verification keys `(id, PEM)`, accepted too: the next WeChat Pay public key during
    /// a rotation of public keys.
    pub extra_public_keys: Vec<(String, String)>,
    /// Platform certificates `(where from, PEM)`: each text holds one or more `BEGIN
    /// CERTIFICATE` blocks (the old and the new one during a rotation); "where from" (a file
    /// name, or the setting) names it in a self-check error.
    pub platform_certificates: Vec<(String, String)>,
    /// Download the platform certificates from `GET /v3/certificates` (decrypted with the
    /// APIv3 key, the reply verified with a certificate held or downloaded) and refresh them
    /// every [`WechatPayConfig::certificates_refresh_secs`].
    pub download_certificates: bool,
    /// How often downloaded certificates are refreshed (seconds, at least 1).
    pub certificates_refresh_secs: u64,
    /// The APIv3 key (32 bytes): decrypts payment notifies.
    pub apiv3_key: Secret,
    /// Where WeChat Pay POSTs payment notifies (`https://` at WeChat Pay).
    pub notify_url: String,
    /// `description` of every transaction (WeChat shows it to the buyer); the business order
    /// number is appended.
    pub description: String,
    /// How long one HTTP call may take before it is "unknown" (ms).
    pub timeout_ms: u64,
}

impl Default for WechatPayConfig {
    /// The defaults for the parts WeChat Pay does not hand out (the real host, description
    /// `Order`, a 10-second time-out); every other part empty, which the self-check refuses.
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            mchid: String::new(),
            appid: String::new(),
            merchant_serial: String::new(),
            merchant_private_key: Secret::new(""),
            wechatpay_public_key: String::new(),
            wechatpay_public_key_id: String::new(),
            extra_public_keys: Vec::new(),
            platform_certificates: Vec::new(),
            download_certificates: false,
            certificates_refresh_secs: DEFAULT_CERTIFICATES_REFRESH_SECS,
            apiv3_key: Secret::new(""),
            notify_url: String::new(),
            description: "Order".to_owned(),
            timeout_ms: 10_000,
        }
    }
}

impl WechatPayConfig {
    /// The self-check at `now`: parses every key and certificate and checks every identifier,
    /// naming the first wrong part. What the provider is built from.
    ///
    /// Verification needs at least one of: the WeChat Pay public key (+ id), platform
    /// certificate files, or the download; both modes may be configured at once (WeChat Pay's
    /// migration from certificates to public keys). A configured certificate that has
    /// expired at `now` is an error (WeChat Pay no longer signs with it: the file is stale);
    /// one not valid yet is accepted (the next certificate, installed early).
    pub fn check(&self, now: UnixSeconds) -> Result<CheckedConfig, WechatPayConfigError> {
        let base_url = reqwest::Url::parse(&self.base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
            .ok_or_else(|| WechatPayConfigError::BaseUrl(self.base_url.clone()))?;
        let mchid = self.mchid.trim();
        if mchid.is_empty() || !mchid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WechatPayConfigError::Mchid(self.mchid.clone()));
        }
        let appid = self.appid.trim();
        if appid.is_empty() || !appid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(WechatPayConfigError::Appid(self.appid.clone()));
        }
        let serial = self.merchant_serial.trim();
        if serial.is_empty() {
            return Err(WechatPayConfigError::MerchantSerialMissing);
        }
        if !serial.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(WechatPayConfigError::MerchantSerial(serial.to_owned()));
        }
        let key = PrivateKey::from_pem(self.merchant_private_key.expose().trim())
            .map_err(WechatPayConfigError::MerchantPrivateKey)?;
        let mut keys = KeySet::new();
        let id = self.wechatpay_public_key_id.trim();
        let pem = self.wechatpay_public_key.trim();
        match (id.is_empty(), pem.is_empty()) {
            (true, true) => {}
            (true, false) => return Err(WechatPayConfigError::WechatPayPublicKeyIdMissing),
            (false, true) => return Err(WechatPayConfigError::WechatPayPublicKeyMissing),
            (false, false) => {
                let public =
                    PublicKey::from_pem(pem).map_err(WechatPayConfigError::WechatPayPublicKey)?;
                keys.insert(id, public)
                    .map_err(WechatPayConfigError::WechatPayPublicKeyId)?;
            }
        }
        for (serial, pem) in &self.extra_public_keys {
            let public = PublicKey::from_pem(pem.trim()).map_err(|err| {
                WechatPayConfigError::ExtraPublicKey {
                    serial: serial.clone(),
                    err,
                }
            })?;
            keys.insert(serial.trim(), public).map_err(|err| {
                WechatPayConfigError::ExtraPublicKey {
                    serial: serial.clone(),
                    err,
                }
            })?;
        }
        let mut certificates: Vec<Certificate> = Vec::new();
        for (source, pem) in &self.platform_certificates {
            let read = Certificate::all_from_pem(pem).map_err(|err| {
                WechatPayConfigError::PlatformCertificate {
                    origin: source.clone(),
                    err,
                }
            })?;
            for certificate in read {
                if certificate.is_expired_at(now) {
                    return Err(WechatPayConfigError::PlatformCertificateExpired {
                        origin: source.clone(),
                        serial: certificate.serial().to_owned(),
                        not_after: certificate.not_after(),
                    });
                }
                // Checked like any serial (a certificate's is hex, so this never fails).
                KeySet::new()
                    .insert_certificate(&certificate)
                    .map_err(|err| WechatPayConfigError::PlatformCertificate {
                        origin: source.clone(),
                        err,
                    })?;
                certificates.push(certificate);
            }
        }
        if keys.is_empty() && certificates.is_empty() && !self.download_certificates {
            return Err(WechatPayConfigError::NoVerificationKey);
        }
        if self.download_certificates && self.certificates_refresh_secs == 0 {
            return Err(WechatPayConfigError::CertificatesRefresh);
        }
        // WeChat Pay's APIv3 key is always 32 characters; the crate also takes 16 (the Go
        // SDK's test vector), which a real merchant never has.
        let apiv3_bytes = self.apiv3_key.expose().as_bytes();
        if apiv3_bytes.len() != 32 {
            return Err(WechatPayConfigError::ApiV3Key(AeadError::KeyLength(
                apiv3_bytes.len(),
            )));
        }
        let apiv3 = ApiV3Key::new(apiv3_bytes).map_err(WechatPayConfigError::ApiV3Key)?;
        let notify_url = reqwest::Url::parse(self.notify_url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
            .ok_or_else(|| WechatPayConfigError::NotifyUrl(self.notify_url.clone()))?;
        if self.description.trim().is_empty() {
            return Err(WechatPayConfigError::Description);
        }
        Ok(CheckedConfig {
            base_url: base_url.as_str().trim_end_matches('/').to_owned(),
            merchant: Merchant {
                mchid: mchid.to_owned(),
                serial_no: serial.to_owned(),
                key,
            },
            appid: appid.to_owned(),
            keys,
            certificates,
            refresh_secs: self
                .download_certificates
                .then_some(self.certificates_refresh_secs),
            apiv3,
            notify_url: notify_url.to_string(),
            description: self.description.trim().to_owned(),
            timeout_ms: self.timeout_ms.max(1),
        })
    }
}

/// A configuration that passed [`WechatPayConfig::check`]: parsed keys, trimmed identifiers.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    pub(super) base_url: String,
    pub(super) merchant: Merchant,
    pub(super) appid: String,
    pub(super) keys: KeySet,
    pub(super) certificates: Vec<Certificate>,
    pub(super) refresh_secs: Option<u64>,
    pub(super) apiv3: ApiV3Key,
    pub(super) notify_url: String,
    pub(super) description: String,
    pub(super) timeout_ms: u64,
}

/// Which part of a [`WechatPayConfig`] is wrong. The messages name the setting and never
/// hold a secret (a key's parse error says what kind of PEM it saw, not its content).
#[derive(Debug, Error)]
pub enum WechatPayConfigError {
    /// Not an `http(s)://host` URL.
    #[error("wechatpay base_url {0:?} is not an https:// URL")]
    BaseUrl(String),
    /// `mchid` is empty or not digits.
    #[error("wechatpay mchid {0:?} is not a merchant number (digits)")]
    Mchid(String),
    /// `appid` is empty or not alphanumeric.
    #[error("wechatpay appid {0:?} is not an app id (like wx8888888888888888)")]
    Appid(String),
    /// No merchant serial.
    #[error("wechatpay merchant_serial is missing (the merchant API certificate's serial number)")]
    MerchantSerialMissing,
    /// The merchant serial has characters a serial never has.
    #[error("wechatpay merchant_serial {0:?} is not a certificate serial (hex)")]
    MerchantSerial(String),
    /// The merchant private key does not parse.
    #[error("wechatpay merchant_private_key (apiclient_key.pem) does not parse: {0}")]
    MerchantPrivateKey(KeyError),
    /// A WeChat Pay public key without its id.
    #[error("wechatpay public key id is missing (PUB_KEY_ID_… from the merchant platform)")]
    WechatPayPublicKeyIdMissing,
    /// A WeChat Pay public key id without the key.
    #[error("wechatpay public key (pub_key.pem) is missing for its id")]
    WechatPayPublicKeyMissing,
    /// Nothing to verify replies with.
    #[error(
        "wechatpay has no key to verify WeChat Pay's replies: set the public key \
         (public_key_file + public_key_id), platform certificates \
         (platform_certificates_file), or download_certificates = true"
    )]
    NoVerificationKey,
    /// A platform certificate does not read.
    #[error("wechatpay platform certificate {origin} is not usable: {err}")]
    PlatformCertificate {
        /// The file (or setting) it came from.
        origin: String,
        /// Why.
        err: KeyError,
    },
    /// A configured platform certificate has expired.
    #[error(
        "wechatpay platform certificate {serial} in {origin} expired at {not_after} \
         (Unix seconds): WeChat Pay no longer signs with it; install the current one"
    )]
    PlatformCertificateExpired {
        /// The file (or setting) it came from.
        origin: String,
        /// Its serial.
        serial: String,
        /// End of its validity.
        not_after: UnixSeconds,
    },
    /// A refresh interval of zero.
    #[error("wechatpay certificates_refresh_secs must be at least 1")]
    CertificatesRefresh,
    /// The WeChat Pay public key does not parse.
    #[error("wechatpay public key (pub_key.pem) does not parse: {0}")]
    WechatPayPublicKey(KeyError),
    /// The WeChat Pay public key id is not a serial.
    #[error("wechatpay public key id is not usable: {0}")]
    WechatPayPublicKeyId(KeyError),
    /// An extra verification key is wrong.
    #[error("wechatpay extra public key {serial:?} is not usable: {err}")]
    ExtraPublicKey {
        /// Its serial as configured.
        serial: String,
        /// Why.
        err: KeyError,
    },
    /// The APIv3 key is not 32 bytes.
    #[error(
        "wechatpay apiv3_key is not usable: {0} (it is 32 characters; a trailing newline counts)"
    )]
    ApiV3Key(AeadError),
    /// The notify URL is not an `http(s)://` URL.
    #[error("wechatpay notify_url {0:?} is not an https:// URL")]
    NotifyUrl(String),
    /// An empty description.
    #[error("wechatpay description is empty (WeChat Pay requires one)")]
    Description,
    /// The HTTP client could not be built (TLS set-up).
    #[error("the wechatpay HTTP client cannot be built: {0}")]
    HttpClient(String),
}
