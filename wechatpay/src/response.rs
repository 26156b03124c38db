//! WeChat Pay's signature on its replies and notifies: the `Wechatpay-*` headers over
//! `TIMESTAMP\nNONCE\nBODY\n`. The provider verifies every reply and notify before it believes a
//! word of it; the simulator signs its own with its WeChat Pay private key.
//!
//! Checks run in a fixed order, each with its own error, so a log says why a reply was refused:
//! the headers are present; the signature is not a probe (`WECHATPAY/SIGNTEST/…`, which WeChat
//! Pay sends to see that merchants really verify: it must be answered with a 4xx/5xx, so it is
//! refused before anything else); the signature type, if given, is RSA; the timestamp is within
//! [`MAX_CLOCK_SKEW_SECS`](crate::MAX_CLOCK_SKEW_SECS) of `now` (a replayed old reply fails
//! here); the serial names a key in the [`KeySet`]; the signature verifies over the exact bytes
//! received.

use crate::keys::{KeySet, PrivateKey, SignError, SignatureError};
use crate::request::AUTHORIZATION_SCHEMA;
use crate::time::UnixSeconds;

/// Header: the signing time, seconds.
pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
/// Header: the random nonce.
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
/// Header: the base64 signature.
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
/// Header: the serial of the key that signed (`PUB_KEY_ID_…` or a platform certificate serial).
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
/// Header: the signature algorithm, `WECHATPAY2-SHA256-RSA2048` (optional).
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";
/// How a probe signature starts.
pub const PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// Why a reply or notify is not believed. Every variant means the same to the provider: the
/// message says nothing (an "unknown", never a fact); the notify handler answers 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required `Wechatpay-*` header is absent (or not text).
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// A probe signature (`WECHATPAY/SIGNTEST/…`).
    #[error("a WeChat Pay signature probe (WECHATPAY/SIGNTEST/)")]
    Probe,
    /// `Wechatpay-Signature-Type` names an algorithm other than RSA.
    #[error("unsupported signature type {0:?}")]
    UnsupportedSignatureType(String),
    /// `Wechatpay-Timestamp` is not canonical decimal seconds.
    #[error("the Wechatpay-Timestamp {0:?} is not decimal seconds")]
    BadTimestamp(String),
    /// The timestamp is too far from `now`: a replay, or a clock far off.
    #[error("the Wechatpay-Timestamp {timestamp} is too far from now ({now})")]
    Stale {
        /// The message's timestamp.
        timestamp: UnixSeconds,
        /// The verifier's clock.
        now: UnixSeconds,
    },
    /// No configured key has this serial (a rotation not yet configured, or a forgery).
    #[error("no WeChat Pay key has serial {0:?}")]
    UnknownSerial(String),
    /// The signature is not base64 or does not verify over the body.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// The signature headers of one reply or notify, as received (or as the simulator will send
/// them). Values are kept as the text on the wire, since that text is what was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WechatpaySignature {
    /// `Wechatpay-Timestamp`.
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature`.
    pub signature: String,
    /// `Wechatpay-Serial`.
    pub serial: String,
    /// `Wechatpay-Signature-Type`, when sent.
    pub signature_type: Option<String>,
}

impl WechatpaySignature {
    /// Reads the headers through `header`, a lookup by name. HTTP header names are
    /// case-insensitive: pass a lookup that is (`http::HeaderMap::get` is), as this module
    /// asks for the canonical spellings above.
    pub fn from_headers<'h>(header: impl Fn(&str) -> Option<&'h str>) -> Result<Self, VerifyError> {
        let required = |name: &'static str| {
            header(name)
                .map(str::to_owned)
                .ok_or(VerifyError::MissingHeader(name))
        };
        Ok(Self {
            timestamp: required(HEADER_TIMESTAMP)?,
            nonce: required(HEADER_NONCE)?,
            signature: required(HEADER_SIGNATURE)?,
            serial: required(HEADER_SERIAL)?,
            signature_type: header(HEADER_SIGNATURE_TYPE).map(str::to_owned),
        })
    }

    /// Signs `body` as WeChat Pay does (for the simulator): key `serial` at `timestamp`.
    pub fn sign(
        key: &PrivateKey,
        serial: &str,
        timestamp: UnixSeconds,
        nonce: &str,
        body: &[u8],
    ) -> Result<Self, SignError> {
        let timestamp = timestamp.to_string();
        let signature = key.sign(&message(&timestamp, nonce, body))?;
        Ok(Self {
            timestamp,
            nonce: nonce.to_owned(),
            signature,
            serial: serial.to_owned(),
            signature_type: Some(AUTHORIZATION_SCHEMA.to_owned()),
        })
    }

    /// The headers to send, name and value.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (HEADER_TIMESTAMP, self.timestamp.clone()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (HEADER_SERIAL, self.serial.clone()),
        ];
        if let Some(kind) = &self.signature_type {
            headers.push((HEADER_SIGNATURE_TYPE, kind.clone()));
        }
        headers
    }

    /// Whether the signature is a probe (`WECHATPAY/SIGNTEST/…`).
    pub fn is_probe(&self) -> bool {
        self.signature.starts_with(PROBE_PREFIX)
    }

    /// Checks the signature over the exact `body` bytes received, at `now` (see the module doc
    /// for the order of the checks). `Ok` carries the timestamp, for a caller that logs it.
    pub fn verify(
        &self,
        keys: &KeySet,
        body: &[u8],
        now: UnixSeconds,
    ) -> Result<UnixSeconds, VerifyError> {
        if self.is_probe() {
            return Err(VerifyError::Probe);
        }
        if let Some(kind) = &self.signature_type {
            if kind != AUTHORIZATION_SCHEMA {
                return Err(VerifyError::UnsupportedSignatureType(kind.clone()));
            }
        }
        let timestamp = UnixSeconds::parse(&self.timestamp)
            .ok_or_else(|| VerifyError::BadTimestamp(self.timestamp.clone()))?;
        if !timestamp.is_within_skew_of(now) {
            return Err(VerifyError::Stale { timestamp, now });
        }
        let key = keys
            .get(&self.serial)
            .ok_or_else(|| VerifyError::UnknownSerial(self.serial.clone()))?;
        key.verify(
            &message(&self.timestamp, &self.nonce, body),
            &self.signature,
        )?;
        Ok(timestamp)
    }
}

/// Reads the headers and verifies in one step: what the provider does with every reply.
pub fn verify_response<'h>(
    keys: &KeySet,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now: UnixSeconds,
) -> Result<UnixSeconds, VerifyError> {
    WechatpaySignature::from_headers(header)?.verify(keys, body, now)
}

/// `TIMESTAMP\nNONCE\nBODY\n`, the message WeChat Pay signs.
pub fn message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    for line in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        message.extend_from_slice(line);
        message.push(b'\n');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{keyset, merchant_key, wechatpay_key, WECHATPAY_SERIAL};

    const NOW: UnixSeconds = UnixSeconds(1_795_431_300);
    const BODY: &[u8] = br#"{"prepay_id":"wx201410272009395522657a690389285100"}"#;

    fn signed() -> WechatpaySignature {
        WechatpaySignature::sign(
            &wechatpay_key(),
            WECHATPAY_SERIAL,
            NOW,
            "8f1e2d3c4b5a6978",
            BODY,
        )
        .expect("signs")
    }

    fn keys() -> KeySet {
        keyset(WECHATPAY_SERIAL, wechatpay_key().public_key())
    }

    #[test]
    fn sign_then_verify_round_trips_through_headers() {
        let headers = signed().headers();
        assert_eq!(
            headers.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            [
                HEADER_TIMESTAMP,
                HEADER_NONCE,
                HEADER_SIGNATURE,
                HEADER_SERIAL,
                HEADER_SIGNATURE_TYPE
            ]
        );
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(verify_response(&keys(), lookup, BODY, NOW), Ok(NOW));
    }

    #[test]
    fn the_signature_type_header_is_optional_but_must_be_rsa_when_sent() {
        let mut sig = signed();
        sig.signature_type = None;
        assert_eq!(sig.verify(&keys(), BODY, NOW), Ok(NOW));
        sig.signature_type = Some("WECHATPAY2-SM2-WITH-SM3".to_owned());
        assert_eq!(
            sig.verify(&keys(), BODY, NOW),
            Err(VerifyError::UnsupportedSignatureType(
                "WECHATPAY2-SM2-WITH-SM3".to_owned()
            ))
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        let sig = signed();
        let all = sig.headers();
        for missing in [
            HEADER_TIMESTAMP,
            HEADER_NONCE,
            HEADER_SIGNATURE,
            HEADER_SERIAL,
        ] {
            let lookup = |name: &str| {
                all.iter()
                    .find(|(n, _)| *n == name && name != missing)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(
                verify_response(&keys(), lookup, BODY, NOW),
                Err(VerifyError::MissingHeader(missing))
            );
        }
    }

    #[test]
    fn a_probe_is_refused_before_anything_else() {
        let probe = WechatpaySignature {
            signature: format!("{PROBE_PREFIX}{}", signed().signature),
            timestamp: "not a time".to_owned(),
            serial: "PUB_KEY_ID_UNKNOWN".to_owned(),
            ..signed()
        };
        assert!(probe.is_probe());
        assert_eq!(
            probe.verify(&KeySet::new(), BODY, NOW),
            Err(VerifyError::Probe)
        );
        assert!(!signed().is_probe());
    }

    #[test]
    fn timestamps_are_canonical_and_within_five_minutes() {
        let mut sig = signed();
        sig.timestamp = format!("0{NOW}");
        assert_eq!(
            sig.verify(&keys(), BODY, NOW),
            Err(VerifyError::BadTimestamp(format!("0{NOW}")))
        );
        let sig = signed();
        assert_eq!(sig.verify(&keys(), BODY, UnixSeconds(NOW.0 - 299)), Ok(NOW));
        for now in [
            UnixSeconds(NOW.0 + 300),
            UnixSeconds(NOW.0 - 300),
            UnixSeconds(0),
        ] {
            assert_eq!(
                sig.verify(&keys(), BODY, now),
                Err(VerifyError::Stale {
                    timestamp: NOW,
                    now
                })
            );
        }
    }

    #[test]
    fn an_unknown_serial_or_a_wrong_key_is_refused() {
        let sig = signed();
        let other = keyset("PUB_KEY_ID_0119000001092025", wechatpay_key().public_key());
        assert_eq!(
            sig.verify(&other, BODY, NOW),
            Err(VerifyError::UnknownSerial(WECHATPAY_SERIAL.to_owned()))
        );
        let wrong = keyset(WECHATPAY_SERIAL, merchant_key().public_key());
        assert_eq!(
            sig.verify(&wrong, BODY, NOW),
            Err(VerifyError::Signature(SignatureError::Mismatch))
        );
    }

    #[test]
    fn rotation_accepts_the_old_and_the_new_key_by_serial() {
        let mut keys = keys();
        let new_key = merchant_key(); // stands in for the rotated-in WeChat Pay key
        keys.insert("PUB_KEY_ID_0119000001092026", new_key.public_key())
            .expect("serial");
        let old = signed();
        let new = WechatpaySignature::sign(&new_key, "PUB_KEY_ID_0119000001092026", NOW, "n", BODY)
            .expect("signs");
        assert_eq!(old.verify(&keys, BODY, NOW), Ok(NOW));
        assert_eq!(new.verify(&keys, BODY, NOW), Ok(NOW));
    }

    #[test]
    fn the_signature_covers_body_nonce_and_timestamp_bytes() {
        let sig = signed();
        let mismatch = Err(VerifyError::Signature(SignatureError::Mismatch));
        assert_eq!(sig.verify(&keys(), b"", NOW), mismatch);
        let mut with_newline = BODY.to_vec();
        with_newline.push(b'\n');
        assert_eq!(sig.verify(&keys(), &with_newline, NOW), mismatch);
        let nonce = WechatpaySignature {
            nonce: "8f1e2d3c4b5a6979".to_owned(),
            ..sig.clone()
        };
        assert_eq!(nonce.verify(&keys(), BODY, NOW), mismatch);
        let time = WechatpaySignature {
            timestamp: (NOW.0 + 1).to_string(),
            ..sig.clone()
        };
        assert_eq!(time.verify(&keys(), BODY, NOW), mismatch);
        let garbled = WechatpaySignature {
            signature: "***".to_owned(),
            ..sig
        };
        assert_eq!(
            garbled.verify(&keys(), BODY, NOW),
            Err(VerifyError::Signature(SignatureError::Base64))
        );
    }

    #[test]
    fn message_is_three_lines() {
        assert_eq!(message("1", "n", b"{}"), b"1\nn\n{}\n");
        assert_eq!(message("1", "n", b""), b"1\nn\n\n");
    }
}
