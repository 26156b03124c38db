//! Notifies and their encrypted `resource`: AEAD_AES_256_GCM with the merchant's APIv3 key.
//!
//! The provider verifies a notify's signature ([`crate::response`]), then decrypts the resource
//! to the transaction it carries ([`open_notification`]); the simulator encrypts
//! ([`EncryptedResource::seal`]) and signs. Decryption: key = the APIv3 key's bytes, nonce = the
//! `nonce` string's bytes (12), AAD = `associated_data`, `ciphertext` = base64 of the encrypted
//! bytes with the 16-byte GCM tag appended. A 16-byte key selects AES-128-GCM under the same
//! algorithm name: the official Go SDK's test vector uses one, and real keys are 32 bytes.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keys::KeySet;
use crate::response::{VerifyError, WechatpaySignature};
use crate::time::UnixSeconds;

/// `resource.algorithm` of every API v3 notify.
pub const ALGORITHM_AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";
/// `resource_type` of a notify whose resource is encrypted.
pub const RESOURCE_TYPE_ENCRYPTED: &str = "encrypt-resource";
/// `event_type` of a payment notify.
pub const EVENT_TRANSACTION_SUCCESS: &str = "TRANSACTION.SUCCESS";
/// The GCM nonce length WeChat Pay uses (its `nonce` strings are 12 characters).
pub const NONCE_LEN: usize = 12;
/// The GCM tag appended to the ciphertext.
pub const TAG_LEN: usize = 16;

/// Encrypting or decrypting a resource failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AeadError {
    /// The APIv3 key is neither 32 bytes (AES-256) nor 16 (AES-128).
    #[error("the APIv3 key is {0} bytes; it must be 32 (or 16 for AES-128): a trailing newline from the key file?")]
    KeyLength(usize),
    /// The nonce is not [`NONCE_LEN`] bytes.
    #[error("the resource nonce is {0} bytes; it must be 12")]
    NonceLength(usize),
    /// `ciphertext` is not standard padded base64.
    #[error("the resource ciphertext is not valid base64")]
    Base64,
    /// `ciphertext` is shorter than its tag.
    #[error("the resource ciphertext is {0} bytes, shorter than its 16-byte tag")]
    TooShort(usize),
    /// The plaintext or associated data is over GCM's limit (2^36 bytes: never a notify).
    #[error("{0} bytes is too long to encrypt with AES-GCM")]
    TooLong(usize),
    /// The tag does not verify: a wrong APIv3 key, nonce or associated data, or tampering.
    #[error("the resource does not authenticate (wrong APIv3 key, nonce or associated data, or tampered)")]
    Tag,
    /// `resource.algorithm` is not `AEAD_AES_256_GCM`.
    #[error("unsupported resource algorithm {0:?}")]
    UnsupportedAlgorithm(String),
}

/// The merchant's APIv3 key (set on the merchant platform; 32 ASCII characters). Its `Debug`
/// is redacted and its bytes are wiped on drop.
#[derive(Clone)]
pub struct ApiV3Key(Zeroizing<Vec<u8>>);

impl ApiV3Key {
    /// Takes the key's bytes: 32 for AES-256-GCM, or 16 for AES-128-GCM. Nothing is trimmed,
    /// since a space may be part of a key; a stray newline shows up as a length of 33.
    pub fn new(key: impl AsRef<[u8]>) -> Result<Self, AeadError> {
        let key = key.as_ref();
        match key.len() {
            16 | 32 => Ok(Self(Zeroizing::new(key.to_vec()))),
            n => Err(AeadError::KeyLength(n)),
        }
    }

    /// `"AES-256-GCM"` or `"AES-128-GCM"`, for a start-up self-check to show.
    pub fn cipher_name(&self) -> &'static str {
        if self.0.len() == 32 {
            "AES-256-GCM"
        } else {
            "AES-128-GCM"
        }
    }

    fn cipher(&self) -> Result<Cipher, AeadError> {
        let key = self.0.as_slice();
        let wrong = |_| AeadError::KeyLength(key.len());
        Ok(match key.len() {
            32 => Cipher::Aes256(Aes256Gcm::new_from_slice(key).map_err(wrong)?),
            _ => Cipher::Aes128(Aes128Gcm::new_from_slice(key).map_err(wrong)?),
        })
    }
}

impl std::fmt::Debug for ApiV3Key {
    /// Shows the cipher only: the key must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiV3Key({}, redacted)", self.cipher_name())
    }
}

enum Cipher {
    Aes128(Aes128Gcm),
    Aes256(Aes256Gcm),
}

fn nonce_of(nonce: &str) -> Result<aes_gcm::Nonce<aes_gcm::aead::consts::U12>, AeadError> {
    aes_gcm::Nonce::try_from(nonce.as_bytes()).map_err(|_| AeadError::NonceLength(nonce.len()))
}

/// Decrypts a base64 `ciphertext` (tag appended) with `nonce` and `associated_data`.
pub fn decrypt(
    key: &ApiV3Key,
    nonce: &str,
    associated_data: &str,
    ciphertext: &str,
) -> Result<Vec<u8>, AeadError> {
    let nonce = nonce_of(nonce)?;
    let sealed = BASE64
        .decode(ciphertext.as_bytes())
        .map_err(|_| AeadError::Base64)?;
    if sealed.len() < TAG_LEN {
        return Err(AeadError::TooShort(sealed.len()));
    }
    let payload = Payload {
        msg: &sealed,
        aad: associated_data.as_bytes(),
    };
    match key.cipher()? {
        Cipher::Aes128(c) => c.decrypt(&nonce, payload),
        Cipher::Aes256(c) => c.decrypt(&nonce, payload),
    }
    .map_err(|_| AeadError::Tag)
}

/// Encrypts `plaintext` to base64 with the tag appended (the simulator's side). The `nonce`
/// must never repeat under one key: GCM with a reused nonce leaks the key stream and the
/// authentication key.
pub fn encrypt(
    key: &ApiV3Key,
    nonce: &str,
    associated_data: &str,
    plaintext: &[u8],
) -> Result<String, AeadError> {
    let nonce = nonce_of(nonce)?;
    let payload = Payload {
        msg: plaintext,
        aad: associated_data.as_bytes(),
    };
    let sealed = match key.cipher()? {
        Cipher::Aes128(c) => c.encrypt(&nonce, payload),
        Cipher::Aes256(c) => c.encrypt(&nonce, payload),
    }
    .map_err(|_| AeadError::TooLong(plaintext.len()))?;
    Ok(BASE64.encode(sealed))
}

/// A notify's body. Unknown fields are ignored, so a field WeChat Pay adds does not make
/// every notify fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The notify's id (the same on every retry of one notify).
    pub id: String,
    /// When it was created, RFC 3339.
    pub create_time: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// `TRANSACTION.SUCCESS` for a payment.
    pub event_type: String,
    /// A human-readable summary (`支付成功`).
    #[serde(default)]
    pub summary: String,
    /// The encrypted payload.
    pub resource: EncryptedResource,
}

impl Notification {
    /// Parses a notify body (after its signature was verified over these very bytes).
    pub fn from_json(body: &[u8]) -> Result<Self, NotifyError> {
        serde_json::from_slice(body).map_err(|e| NotifyError::Json(e.to_string()))
    }

    /// The body the simulator sends (then signs, over exactly these bytes).
    pub fn to_json(&self) -> Result<String, NotifyError> {
        serde_json::to_string(self).map_err(|e| NotifyError::Json(e.to_string()))
    }
}

/// `resource`: the encrypted object inside a notify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// What the plaintext is (`transaction`).
    pub original_type: String,
    /// `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// Base64, tag appended.
    pub ciphertext: String,
    /// The AAD (may be empty).
    #[serde(default)]
    pub associated_data: String,
    /// The 12-character GCM nonce.
    pub nonce: String,
}

impl EncryptedResource {
    /// Encrypts `plaintext` into a resource (the simulator's side). `nonce`: see [`encrypt`].
    pub fn seal(
        key: &ApiV3Key,
        original_type: &str,
        associated_data: &str,
        nonce: &str,
        plaintext: &[u8],
    ) -> Result<Self, AeadError> {
        Ok(Self {
            original_type: original_type.to_owned(),
            algorithm: ALGORITHM_AEAD_AES_256_GCM.to_owned(),
            ciphertext: encrypt(key, nonce, associated_data, plaintext)?,
            associated_data: associated_data.to_owned(),
            nonce: nonce.to_owned(),
        })
    }

    /// Decrypts the resource to its plaintext (JSON bytes).
    pub fn open(&self, key: &ApiV3Key) -> Result<Vec<u8>, AeadError> {
        if self.algorithm != ALGORITHM_AEAD_AES_256_GCM {
            return Err(AeadError::UnsupportedAlgorithm(self.algorithm.clone()));
        }
        decrypt(key, &self.nonce, &self.associated_data, &self.ciphertext)
    }
}

/// Handling a notify failed; every variant means: answer 4xx/5xx and change nothing (WeChat Pay
/// retries on its schedule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The signature headers did not verify (including probes and replays).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The body is not a notify.
    #[error("the notify body is not a notification: {0}")]
    Json(String),
    /// `resource_type` is not `encrypt-resource`.
    #[error("unsupported notify resource_type {0:?}")]
    ResourceType(String),
    /// The resource does not decrypt.
    #[error(transparent)]
    Aead(#[from] AeadError),
}

/// A notify that verified and decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedNotification {
    /// The envelope.
    pub notification: Notification,
    /// The decrypted resource: for `TRANSACTION.SUCCESS`, a transaction in the shape of a
    /// query reply.
    pub plaintext: Vec<u8>,
}

/// The whole notify check in order: signature headers and timestamp against `keys` at `now`,
/// then the body parsed, then the resource decrypted with `apiv3`.
pub fn open_notification<'h>(
    keys: &KeySet,
    apiv3: &ApiV3Key,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now: UnixSeconds,
) -> Result<OpenedNotification, NotifyError> {
    WechatpaySignature::from_headers(header)?.verify(keys, body, now)?;
    let notification = Notification::from_json(body)?;
    if notification.resource_type != RESOURCE_TYPE_ENCRYPTED {
        return Err(NotifyError::ResourceType(notification.resource_type));
    }
    let plaintext = notification.resource.open(apiv3)?;
    Ok(OpenedNotification {
        notification,
        plaintext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::WechatpaySignature;
    use crate::test_support::{keyset, wechatpay_key, WECHATPAY_SERIAL};

    const KEY32: &[u8] = b"Kq3sT9vWx2Yz5Ab8Cd1Ef4Gh7Jk0Mn6P";
    const KEY16: &[u8] = b"testMchAPIv3Key0";
    const NONCE: &str = "fdasflkja484";
    const PLAINTEXT: &[u8] = br#"{"out_trade_no":"A20261201001x3f9c2","trade_state":"SUCCESS"}"#;
    const NOW: UnixSeconds = UnixSeconds(1_795_431_913);

    fn key() -> ApiV3Key {
        ApiV3Key::new(KEY32).expect("32 bytes")
    }

    #[test]
    fn encrypt_then_decrypt_round_trips_with_both_key_sizes() {
        for raw in [KEY32, KEY16] {
            let key = ApiV3Key::new(raw).expect("key");
            let sealed = encrypt(&key, NONCE, "transaction", PLAINTEXT).expect("encrypts");
            let bytes = BASE64.decode(&sealed).expect("base64");
            assert_eq!(bytes.len(), PLAINTEXT.len() + TAG_LEN);
            assert_eq!(
                decrypt(&key, NONCE, "transaction", &sealed),
                Ok(PLAINTEXT.to_vec())
            );
        }
        let empty = encrypt(&key(), NONCE, "", b"").expect("encrypts");
        assert_eq!(decrypt(&key(), NONCE, "", &empty), Ok(Vec::new()));
    }

    #[test]
    fn key_lengths_other_than_16_or_32_are_refused() {
        for len in [0, 15, 24, 31, 33] {
            assert_eq!(
                ApiV3Key::new(vec![b'k'; len]).map(|_| ()),
                Err(AeadError::KeyLength(len))
            );
        }
        let with_newline = [KEY32, b"\n"].concat();
        let err = ApiV3Key::new(&with_newline)
            .map(|_| ())
            .expect_err("33 bytes");
        assert!(err.to_string().contains("trailing newline"), "{err}");
    }

    #[test]
    fn api_v3_key_debug_never_shows_the_key() {
        assert_eq!(format!("{:?}", key()), "ApiV3Key(AES-256-GCM, redacted)");
        assert_eq!(
            format!("{:?}", ApiV3Key::new(KEY16).expect("key")),
            "ApiV3Key(AES-128-GCM, redacted)"
        );
    }

    #[test]
    fn a_nonce_that_is_not_12_bytes_is_refused() {
        for nonce in ["", "fdasflkja48", "fdasflkja4845"] {
            assert_eq!(
                encrypt(&key(), nonce, "", PLAINTEXT),
                Err(AeadError::NonceLength(nonce.len()))
            );
            assert_eq!(
                decrypt(&key(), nonce, "", "AAAAAAAAAAAAAAAAAAAAAA=="),
                Err(AeadError::NonceLength(nonce.len()))
            );
        }
    }

    #[test]
    fn bad_base64_and_short_ciphertexts_are_named() {
        assert_eq!(
            decrypt(&key(), NONCE, "", "not base64!"),
            Err(AeadError::Base64)
        );
        assert_eq!(
            decrypt(&key(), NONCE, "", "AAAA"),
            Err(AeadError::TooShort(3))
        );
        assert_eq!(decrypt(&key(), NONCE, "", ""), Err(AeadError::TooShort(0)));
    }

    #[test]
    fn a_wrong_key_nonce_aad_or_any_flipped_bit_fails_the_tag() {
        let sealed = encrypt(&key(), NONCE, "transaction", PLAINTEXT).expect("encrypts");
        let other_key = ApiV3Key::new(b"Kq3sT9vWx2Yz5Ab8Cd1Ef4Gh7Jk0Mn6Q").expect("key");
        assert_eq!(
            decrypt(&other_key, NONCE, "transaction", &sealed),
            Err(AeadError::Tag)
        );
        assert_eq!(
            decrypt(&key(), "fdasflkja485", "transaction", &sealed),
            Err(AeadError::Tag)
        );
        assert_eq!(
            decrypt(&key(), NONCE, "payscore", &sealed),
            Err(AeadError::Tag)
        );
        assert_eq!(decrypt(&key(), NONCE, "", &sealed), Err(AeadError::Tag));
        let bytes = BASE64.decode(&sealed).expect("base64");
        for i in [0, bytes.len() / 2, bytes.len() - TAG_LEN, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x01;
            assert_eq!(
                decrypt(&key(), NONCE, "transaction", &BASE64.encode(&flipped)),
                Err(AeadError::Tag),
                "byte {i}"
            );
        }
        let truncated = &bytes[..bytes.len() - 1];
        assert_eq!(
            decrypt(&key(), NONCE, "transaction", &BASE64.encode(truncated)),
            Err(AeadError::Tag)
        );
    }

    #[test]
    fn a_resource_seals_and_opens_and_refuses_other_algorithms() {
        let resource =
            EncryptedResource::seal(&key(), "transaction", "transaction", NONCE, PLAINTEXT)
                .expect("seals");
        assert_eq!(resource.algorithm, ALGORITHM_AEAD_AES_256_GCM);
        assert_eq!(resource.open(&key()), Ok(PLAINTEXT.to_vec()));
        let sm4 = EncryptedResource {
            algorithm: "AEAD_SM4_GCM".to_owned(),
            ..resource
        };
        assert_eq!(
            sm4.open(&key()),
            Err(AeadError::UnsupportedAlgorithm("AEAD_SM4_GCM".to_owned()))
        );
    }

    /// What the simulator sends and the provider receives, end to end.
    fn simulated_notify(resource_type: &str) -> (Vec<(&'static str, String)>, String) {
        let notification = Notification {
            id: "EV-1".to_owned(),
            create_time: "2026-12-01T17:05:13+08:00".to_owned(),
            resource_type: resource_type.to_owned(),
            event_type: EVENT_TRANSACTION_SUCCESS.to_owned(),
            summary: "支付成功".to_owned(),
            resource: EncryptedResource::seal(
                &key(),
                "transaction",
                "transaction",
                NONCE,
                PLAINTEXT,
            )
            .expect("seals"),
        };
        let body = notification.to_json().expect("serialises");
        let signed = WechatpaySignature::sign(
            &wechatpay_key(),
            WECHATPAY_SERIAL,
            NOW,
            "n0nce",
            body.as_bytes(),
        )
        .expect("signs");
        (signed.headers(), body)
    }

    fn open(
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<OpenedNotification, NotifyError> {
        let keys = keyset(WECHATPAY_SERIAL, wechatpay_key().public_key());
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        open_notification(&keys, &key(), lookup, body, NOW)
    }

    #[test]
    fn a_simulated_notify_opens_to_its_plaintext() {
        let (headers, body) = simulated_notify(RESOURCE_TYPE_ENCRYPTED);
        let opened = open(&headers, body.as_bytes()).expect("opens");
        assert_eq!(opened.plaintext, PLAINTEXT);
        assert_eq!(opened.notification.id, "EV-1");
        assert_eq!(opened.notification.summary, "支付成功");
    }

    #[test]
    fn a_tampered_or_unsigned_notify_is_refused_before_it_is_parsed() {
        let (headers, body) = simulated_notify(RESOURCE_TYPE_ENCRYPTED);
        let tampered = body.replace("EV-1", "EV-2");
        assert!(matches!(
            open(&headers, tampered.as_bytes()),
            Err(NotifyError::Verify(VerifyError::Signature(_)))
        ));
        assert!(matches!(
            open(&[], body.as_bytes()),
            Err(NotifyError::Verify(VerifyError::MissingHeader(_)))
        ));
    }

    #[test]
    fn a_signed_body_that_is_no_notify_or_not_encrypted_is_refused() {
        let (_, body) = simulated_notify("plain");
        let signed = |body: &str| {
            WechatpaySignature::sign(
                &wechatpay_key(),
                WECHATPAY_SERIAL,
                NOW,
                "n",
                body.as_bytes(),
            )
            .expect("signs")
            .headers()
        };
        assert_eq!(
            open(&signed(&body), body.as_bytes()).map(|_| ()),
            Err(NotifyError::ResourceType("plain".to_owned()))
        );
        let not_json = "ok";
        assert!(matches!(
            open(&signed(not_json), not_json.as_bytes()),
            Err(NotifyError::Json(_))
        ));
        let no_resource = r#"{"id":"1","create_time":"t","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS"}"#;
        assert!(matches!(
            open(&signed(no_resource), no_resource.as_bytes()),
            Err(NotifyError::Json(_))
        ));
    }

    #[test]
    fn a_notify_encrypted_with_another_apiv3_key_is_refused() {
        let other = ApiV3Key::new(b"00000000000000000000000000000000").expect("key");
        let notification = Notification {
            id: "EV-3".to_owned(),
            create_time: "t".to_owned(),
            resource_type: RESOURCE_TYPE_ENCRYPTED.to_owned(),
            event_type: EVENT_TRANSACTION_SUCCESS.to_owned(),
            summary: String::new(),
            resource: EncryptedResource::seal(
                &other,
                "transaction",
                "transaction",
                NONCE,
                PLAINTEXT,
            )
            .expect("seals"),
        };
        let body = notification.to_json().expect("serialises");
        let headers = WechatpaySignature::sign(
            &wechatpay_key(),
            WECHATPAY_SERIAL,
            NOW,
            "n",
            body.as_bytes(),
        )
        .expect("signs")
        .headers();
        assert_eq!(
            open(&headers, body.as_bytes()).map(|_| ()),
            Err(NotifyError::Aead(AeadError::Tag))
        );
    }

    #[test]
    fn unknown_notify_fields_are_ignored_and_missing_optional_ones_default() {
        let body = br#"{"id":"1","create_time":"t","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","new_field":1,"resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"","nonce":"fdasflkja484"}}"#;
        let n = Notification::from_json(body).expect("parses");
        assert_eq!(n.summary, "");
        assert_eq!(n.resource.associated_data, "");
    }
}
