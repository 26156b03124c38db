//! WeChat Pay API v3 on the wire: its cryptography and message formats (work in progress).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod keys;
pub mod notify;
pub mod pay_sign;
pub mod request;
pub mod response;
pub mod time;

#[cfg(test)]
mod test_support;

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
