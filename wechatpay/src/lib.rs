//! WeChat Pay API v3 on the wire: its cryptography and message formats, one module per format,
//! both directions, so that the `WechatPayV3` provider and the simulator that stands in for
//! WeChat Pay in tests share one implementation, checked against independent vectors.
//!
//! | module | the provider (merchant side) | the simulator (WeChat Pay side) |
//! | --- | --- | --- |
//! | [`keys`] | merchant private key; WeChat Pay public key / platform certificates in a [`KeySet`] | its own generated key; merchants' public keys; self-signed platform certificates ([`Certificate::issue_self_signed`], feature `issue`) |
//! | [`certificates`] | opens a `GET /v3/certificates` download: [`open_certificate_download`] | builds one: [`CertificateEntry::seal`] |
//! | [`request`] | signs requests: [`Authorization::sign`] | parses and checks them: [`Authorization::parse`], [`Authorization::verify`] (`401 SIGN_ERROR`) |
//! | [`response`] | verifies replies and notifies: [`verify_response`] | signs them: [`WechatpaySignature::sign`] |
//! | [`notify`] | verifies and decrypts a notify: [`open_notification`] | encrypts one: [`EncryptedResource::seal`] |
//! | [`pay_sign`] | the JSAPI launch parameters: [`JsapiPayParams::sign`] | the wallet checks them: [`JsapiPayParams::verify`] |
//! | [`api_error`] | error bodies to a [`Disposition`] | error bodies and statuses to send |
//!
//! No I/O and no clock: keys come in as PEM text, and every check that depends on time takes
//! `now` ([`UnixSeconds`]); nonces and timestamps to sign with are passed in too. The one
//! outside input is the operating system's randomness, used to blind RSA private-key operations
//! (it does not change a signature) and by [`PrivateKey::generate`]. Secrets ([`PrivateKey`],
//! [`ApiV3Key`]) never show in `Debug`.
//!
//! ```
//! use checkout_guard_wechatpay::{decrypt, encrypt, ApiError, ApiV3Key, Disposition};
//!
//! let key = ApiV3Key::new(b"Kq3sT9vWx2Yz5Ab8Cd1Ef4Gh7Jk0Mn6P")?;
//! let sealed = encrypt(&key, "fdasflkja484", "transaction", br#"{"trade_state":"SUCCESS"}"#)?;
//! assert_eq!(decrypt(&key, "fdasflkja484", "transaction", &sealed)?, br#"{"trade_state":"SUCCESS"}"#);
//!
//! let error = ApiError::from_json(r#"{"code":"SYSTEM_ERROR","message":"系统错误"}"#.as_bytes())?;
//! assert_eq!(error.disposition(500), Disposition::Retry);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not here: HTTP (the provider's client, the simulator's server, when to download platform
//! certificates) and transaction bodies.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api_error;
pub mod certificates;
pub mod keys;
pub mod notify;
pub mod pay_sign;
pub mod request;
pub mod response;
pub mod time;

#[cfg(test)]
mod test_support;

pub use api_error::{ApiError, ApiErrorParseError, Disposition, ErrorCode};
pub use certificates::{
    open_certificate_download, CertificateEntry, CertificateList, CertificatesError,
    EncryptedCertificate,
};
pub use keys::{
    Certificate, KeyError, KeySet, PrivateKey, PublicKey, SignError, SignatureError, MIN_RSA_BITS,
};
pub use notify::{
    decrypt, encrypt, open_notification, AeadError, ApiV3Key, EncryptedResource, Notification,
    NotifyError, OpenedNotification,
};
pub use pay_sign::{JsapiClient, JsapiPayParams, PaySignError};
pub use request::{
    Authorization, AuthorizationError, Merchant, RequestParts, RequestSignError,
    AUTHORIZATION_SCHEMA,
};
pub use response::{verify_response, VerifyError, WechatpaySignature, PROBE_PREFIX};
pub use time::{UnixSeconds, MAX_CLOCK_SKEW_SECS};
