//! RSA keys: the merchant's private key, WeChat Pay's public keys, and the set of verification
//! keys looked up by serial.
//!
//! Keys come in as PEM text; reading files or the environment is the caller's business, so this
//! crate stays free of I/O and a test can hand it a key from a vector. A private key's `Debug`
//! never shows key material, because configuration structs get logged.
//!
//! Every signature in API v3 is the same primitive: SHA256withRSA (RSASSA-PKCS1-v1_5 over
//! SHA-256), base64 (standard alphabet, padded). [`PrivateKey::sign`] and [`PublicKey::verify`]
//! are that primitive; the modules for requests, replies and paySign only build the messages.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use sha2::Sha256;
use x509_cert::der::{DecodePem, Encode};

use crate::time::UnixSeconds;

/// The smallest modulus accepted. WeChat Pay's schema is `WECHATPAY2-SHA256-RSA2048`: every
/// merchant API key, platform certificate and WeChat Pay public key is RSA-2048, so a smaller
/// key is a configuration mistake worth naming at start-up rather than a signature mismatch
/// at the first payment.
pub const MIN_RSA_BITS: usize = 2048;

const CERTIFICATE_BLOCK: &str = "a `BEGIN CERTIFICATE` PEM block";

/// What went wrong loading a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text has no PEM block of a kind this function reads.
    #[error("expected {expected}, found {found}")]
    WrongPemLabel {
        /// The PEM blocks this function reads.
        expected: &'static str,
        /// What the text starts with (a label, or "no PEM block").
        found: String,
    },
    /// The PEM block is there but its content does not decode as that kind of key.
    #[error("the {label} PEM block does not decode: {reason}")]
    Malformed {
        /// The block's label.
        label: &'static str,
        /// The decoder's message (it never contains key material).
        reason: String,
    },
    /// The key is RSA but shorter than [`MIN_RSA_BITS`].
    #[error("the RSA key has {bits} bits; WeChat Pay keys are at least {MIN_RSA_BITS}")]
    TooSmall {
        /// The key's modulus size.
        bits: usize,
    },
    /// A serial must be a non-empty run of ASCII letters, digits and `_`, at most 64 long
    /// (platform certificate serials are hex, public-key ids `PUB_KEY_ID_` + digits). Anything
    /// else is usually a copy-paste accident such as a trailing newline.
    #[error("invalid key serial {0:?}: expected 1-64 ASCII letters, digits or `_`")]
    InvalidSerial(String),
    /// Encoding a key as PEM failed (not expected for a key that loaded).
    #[error("could not encode the key: {0}")]
    Encode(String),
    /// Key generation failed (the operating system's random source).
    #[error("could not generate an RSA key: {0}")]
    Generate(String),
}

/// A signature did not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature text is not standard padded base64.
    #[error("the signature is not valid base64")]
    Base64,
    /// The signature does not verify over the message with this key.
    #[error("the signature does not match the message")]
    Mismatch,
}

/// A private-key operation failed. With a key that loaded, only a failure of the system's
/// random source (used for blinding) can cause it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RSA signing failed: {0}")]
pub struct SignError(String);

/// An RSA private key: the merchant API key (`apiclient_key.pem`) when signing requests and
/// paySign, or the simulator's WeChat Pay key when signing replies and notifies.
#[derive(Clone)]
pub struct PrivateKey {
    inner: rsa::PrivateKey,
}

impl PrivateKey {
    /// Loads a private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what WeChat's certificate tool
    /// writes to `apiclient_key.pem`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa`
    /// wrote for years). Encrypted PKCS#8 is not read: decrypt it before handing it over.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        let inner = match pem_label(pem) {
            Some("PRIVATE KEY") => {
                rsa::PrivateKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Malformed {
                    label: "PRIVATE KEY",
                    reason: e.to_string(),
                })?
            }
            Some("RSA PRIVATE KEY") => {
                rsa::PrivateKey::from_pkcs1_pem(pem).map_err(|e| KeyError::Malformed {
                    label: "RSA PRIVATE KEY",
                    reason: e.to_string(),
                })?
            }
            other => {
                return Err(KeyError::WrongPemLabel {
                    expected: "a `BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY` PEM block",
                    found: describe_label(other),
                })
            }
        };
        check_size(inner.size() * 8)?;
        Ok(Self { inner })
    }

    /// A new RSA-2048 key from the operating system's random source: the simulator's own
    /// "WeChat Pay" key, which is never a real one. Slow (about a second in an optimised build).
    pub fn generate() -> Result<Self, KeyError> {
        let inner = rsa::PrivateKey::new(&mut getrandom::SysRng, MIN_RSA_BITS)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Ok(Self { inner })
    }

    /// The matching public key (what the simulator publishes, or a merchant's self-check
    /// compares with the key registered at WeChat).
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.to_public_key(),
        }
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.size() * 8
    }

    /// SHA256withRSA over `message`, base64: the `signature` of every API v3 message.
    ///
    /// Blinded with the system's randomness against timing attacks on the private key; the
    /// result is still the one deterministic PKCS#1 v1.5 signature.
    pub fn sign(&self, message: &[u8]) -> Result<String, SignError> {
        let signature = self
            .inner
            .pkcs1v15_sign::<Sha256>(message)
            .map_err(|e| SignError(e.to_string()))?;
        Ok(BASE64.encode(signature))
    }
}

impl fmt::Debug for PrivateKey {
    /// Shows the size only: a private key must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(RSA-{}, redacted)", self.bits())
    }
}

/// An RSA public key: WeChat Pay's (public-key mode or a platform certificate's), or a
/// merchant's as the simulator registers it.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: rsa::PublicKey,
}

impl PublicKey {
    /// Loads a public key from PEM: SPKI (`BEGIN PUBLIC KEY`, the WeChat Pay public key file
    /// `pub_key.pem`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`). For a certificate use
    /// [`Certificate::from_pem`], which also yields the serial.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        let inner = match pem_label(pem) {
            Some("PUBLIC KEY") => {
                rsa::PublicKey::from_public_key_pem(pem).map_err(|e| KeyError::Malformed {
                    label: "PUBLIC KEY",
                    reason: e.to_string(),
                })?
            }
            Some("RSA PUBLIC KEY") => {
                rsa::PublicKey::from_pkcs1_pem(pem).map_err(|e| KeyError::Malformed {
                    label: "RSA PUBLIC KEY",
                    reason: e.to_string(),
                })?
            }
            other => {
                return Err(KeyError::WrongPemLabel {
                    expected: "a `BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY` PEM block",
                    found: describe_label(other),
                })
            }
        };
        check_size(inner.size() * 8)?;
        Ok(Self { inner })
    }

    /// The key as SPKI PEM (`BEGIN PUBLIC KEY`, LF line ends): what the simulator hands the
    /// merchant as "the WeChat Pay public key".
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.size() * 8
    }

    /// Checks a base64 SHA256withRSA `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &str) -> Result<(), SignatureError> {
        let raw = BASE64
            .decode(signature.as_bytes())
            .map_err(|_| SignatureError::Base64)?;
        self.inner
            .pkcs1v15_verify::<Sha256>(message, &raw)
            .map_err(|_| SignatureError::Mismatch)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(RSA-{})", self.bits())
    }
}

/// What this crate needs from an X.509 certificate: the serial WeChat Pay names it by, its RSA
/// key, and its validity (for a caller that wants to drop expired platform certificates; the
/// [`KeySet`] itself does not look at time).
///
/// The certificate's own signature and chain are not checked: a platform certificate is trusted
/// because it was configured or downloaded over a verified API reply, as the official SDKs do.
#[derive(Clone, Debug)]
pub struct Certificate {
    serial: String,
    public_key: PublicKey,
    not_before: UnixSeconds,
    not_after: UnixSeconds,
}

impl Certificate {
    /// Reads a `BEGIN CERTIFICATE` PEM block with an RSA subject key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        if pem_label(pem) != Some("CERTIFICATE") {
            return Err(KeyError::WrongPemLabel {
                expected: CERTIFICATE_BLOCK,
                found: describe_label(pem_label(pem)),
            });
        }
        let malformed = |reason: String| KeyError::Malformed {
            label: "CERTIFICATE",
            reason,
        };
        let cert = x509_cert::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| malformed(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| malformed(e.to_string()))?;
        let inner = rsa::PublicKey::from_public_key_der(&spki_der)
            .map_err(|e| malformed(format!("subject key: {e}")))?;
        check_size(inner.size() * 8)?;
        let validity = tbs.validity();
        Ok(Self {
            serial: serial_hex(tbs.serial_number().as_bytes()),
            public_key: PublicKey { inner },
            not_before: unix(validity.not_before.to_unix_duration()),
            not_after: unix(validity.not_after.to_unix_duration()),
        })
    }

    /// The serial as WeChat Pay writes it in `Wechatpay-Serial`: upper-case hex without
    /// leading zeros (Go's `%X` of the serial, as the official Go SDK computes it).
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The certificate's RSA public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// Start of validity.
    pub fn not_before(&self) -> UnixSeconds {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> UnixSeconds {
        self.not_after
    }
}

/// The verification keys by serial: the WeChat Pay public key (`PUB_KEY_ID_…`) and/or platform
/// certificates, more than one at a time so a rotation never leaves a gap (WeChat Pay signs with
/// the new key while the merchant still holds the old one too).
///
/// The simulator uses one per merchant for `serial_no` in the `Authorization` header.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<(String, PublicKey)>,
}

impl KeySet {
    /// An empty set (verifies nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` under `serial`, replacing a key already there under the same serial.
    pub fn insert(&mut self, serial: &str, key: PublicKey) -> Result<(), KeyError> {
        if !is_valid_serial(serial) {
            return Err(KeyError::InvalidSerial(serial.to_owned()));
        }
        match self
            .keys
            .iter_mut()
            .find(|(s, _)| s.eq_ignore_ascii_case(serial))
        {
            Some(slot) => slot.1 = key,
            None => self.keys.push((serial.to_owned(), key)),
        }
        Ok(())
    }

    /// Adds a certificate's key under its serial.
    pub fn insert_certificate(&mut self, cert: &Certificate) -> Result<(), KeyError> {
        self.insert(cert.serial(), cert.public_key().clone())
    }

    /// The key for `serial`. Serials compare without regard to ASCII case: a hex serial copied
    /// from the merchant platform may be lower-case, and a serial is an identifier, not a secret.
    pub fn get(&self, serial: &str) -> Option<&PublicKey> {
        self.keys
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(serial))
            .map(|(_, k)| k)
    }

    /// The serials held, in insertion order.
    pub fn serials(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(s, _)| s.as_str())
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn is_valid_serial(serial: &str) -> bool {
    (1..=64).contains(&serial.len())
        && serial
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_size(bits: usize) -> Result<(), KeyError> {
    if bits < MIN_RSA_BITS {
        return Err(KeyError::TooSmall { bits });
    }
    Ok(())
}

/// The label of the first PEM block, if the text starts with one.
fn pem_label(pem: &str) -> Option<&str> {
    let rest = pem.strip_prefix("-----BEGIN ")?;
    let end = rest.find("-----")?;
    Some(&rest[..end])
}

fn describe_label(label: Option<&str>) -> String {
    match label {
        Some(label) => format!("a `BEGIN {label}` PEM block"),
        None => "no PEM block at the start of the text".to_owned(),
    }
}

fn serial_hex(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn unix(since_epoch: std::time::Duration) -> UnixSeconds {
    UnixSeconds(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{merchant_key, merchant_public_pem, wechatpay_key};

    const PKCS1_PRIVATE: &str = include_str!("../tests/keys/merchant-pkcs1.pem");
    const PKCS1_PUBLIC: &str = include_str!("../tests/keys/merchant-public-pkcs1.pem");
    const RSA1024: &str = include_str!("../tests/keys/rsa1024.pem");
    const RSA1024_PUBLIC: &str = include_str!("../tests/keys/rsa1024-public.pem");
    const EC_P256: &str = include_str!("../tests/keys/ec-p256.pem");
    const GO_SDK: &str = include_str!("../tests/vectors/wechatpay-v3-notify.json");

    fn go_sdk_certificate_pem() -> String {
        let v: serde_json::Value = serde_json::from_str(GO_SDK).expect("json");
        v["platform_certificate_pem"]
            .as_str()
            .expect("pem")
            .to_owned()
    }

    #[test]
    fn private_key_debug_never_shows_key_material() {
        let key = merchant_key();
        assert_eq!(format!("{key:?}"), "PrivateKey(RSA-2048, redacted)");
        assert_eq!(format!("{key:#?}"), "PrivateKey(RSA-2048, redacted)");
    }

    #[test]
    fn pkcs1_pem_loads_to_the_same_keys_as_pkcs8_and_spki() {
        let pkcs1 = PrivateKey::from_pem(PKCS1_PRIVATE).expect("PKCS#1 private key");
        assert_eq!(pkcs1.public_key(), merchant_key().public_key());
        let public = PublicKey::from_pem(PKCS1_PUBLIC).expect("PKCS#1 public key");
        assert_eq!(
            public,
            PublicKey::from_pem(&merchant_public_pem()).expect("SPKI")
        );
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        let padded = format!("\n  {}\n\n", merchant_public_pem());
        assert!(PublicKey::from_pem(&padded).is_ok());
    }

    #[test]
    fn wrong_pem_kinds_are_named() {
        let public = merchant_public_pem();
        assert_eq!(
            PrivateKey::from_pem(&public).map(|_| ()),
            Err(KeyError::WrongPemLabel {
                expected: "a `BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY` PEM block",
                found: "a `BEGIN PUBLIC KEY` PEM block".to_owned(),
            })
        );
        assert!(matches!(
            PublicKey::from_pem(&go_sdk_certificate_pem()),
            Err(KeyError::WrongPemLabel { found, .. }) if found == "a `BEGIN CERTIFICATE` PEM block"
        ));
        assert!(matches!(
            Certificate::from_pem(&public),
            Err(KeyError::WrongPemLabel {
                expected: CERTIFICATE_BLOCK,
                ..
            })
        ));
        assert!(matches!(
            PublicKey::from_pem("/etc/wechatpay/pub_key.pem"),
            Err(KeyError::WrongPemLabel { found, .. }) if found == "no PEM block at the start of the text"
        ));
    }

    #[test]
    fn corrupt_pem_content_is_malformed_without_echoing_it() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAsecret\n-----END PRIVATE KEY-----\n";
        match PrivateKey::from_pem(pem) {
            Err(KeyError::Malformed { label, reason }) => {
                assert_eq!(label, "PRIVATE KEY");
                assert!(!reason.contains("secret"), "{reason}");
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        let truncated: String = merchant_public_pem()
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(matches!(
            PublicKey::from_pem(&truncated),
            Err(KeyError::Malformed {
                label: "PUBLIC KEY",
                ..
            })
        ));
    }

    #[test]
    fn a_non_rsa_key_is_malformed() {
        assert!(matches!(
            PrivateKey::from_pem(EC_P256),
            Err(KeyError::Malformed {
                label: "PRIVATE KEY",
                ..
            })
        ));
    }

    #[test]
    fn keys_under_2048_bits_are_refused() {
        assert_eq!(
            PrivateKey::from_pem(RSA1024).map(|_| ()),
            Err(KeyError::TooSmall { bits: 1024 })
        );
        assert_eq!(
            PublicKey::from_pem(RSA1024_PUBLIC).map(|_| ()),
            Err(KeyError::TooSmall { bits: 1024 })
        );
    }

    #[test]
    fn sign_then_verify_round_trips_and_other_keys_or_messages_fail() {
        let key = merchant_key();
        let signature = key.sign(b"hello\n").expect("signs");
        let public = key.public_key();
        assert_eq!(public.verify(b"hello\n", &signature), Ok(()));
        assert_eq!(
            public.verify(b"hello", &signature),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            wechatpay_key().public_key().verify(b"hello\n", &signature),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            public.verify(b"hello\n", "not base64!"),
            Err(SignatureError::Base64)
        );
        assert_eq!(
            public.verify(b"hello\n", "AAAA"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(public.verify(b"hello\n", ""), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_generated_key_is_rsa_2048_and_signs() {
        let key = PrivateKey::generate().expect("generates");
        assert_eq!(key.bits(), 2048);
        let signature = key.sign(b"m\n").expect("signs");
        assert_eq!(key.public_key().verify(b"m\n", &signature), Ok(()));
        assert_ne!(key.public_key(), merchant_key().public_key());
    }

    #[test]
    fn public_key_pem_round_trips() {
        let public = merchant_key().public_key();
        let pem = public.to_pem().expect("encodes");
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(PublicKey::from_pem(&pem).expect("decodes"), public);
    }

    #[test]
    fn the_go_sdk_certificate_yields_its_serial_validity_and_key() {
        let cert = Certificate::from_pem(&go_sdk_certificate_pem()).expect("certificate");
        assert_eq!(cert.serial(), "D7CE59D1F522D701");
        // notBefore 2021-04-27T08:55:23Z, notAfter 2031-04-25T08:55:23Z.
        assert_eq!(cert.not_before(), UnixSeconds(1_619_513_723));
        assert_eq!(cert.not_after(), UnixSeconds(1_934_873_723));
        assert_eq!(cert.public_key().bits(), 2048);
    }

    #[test]
    fn serial_hex_matches_go_percent_x() {
        assert_eq!(serial_hex(&[0xD7, 0xCE, 0x01]), "D7CE01");
        assert_eq!(serial_hex(&[0x0A, 0xBC]), "ABC");
        assert_eq!(serial_hex(&[0x00, 0x00]), "0");
        assert_eq!(serial_hex(&[]), "0");
    }

    #[test]
    fn keyset_holds_several_keys_for_rotation_and_looks_up_without_case() {
        let mut keys = KeySet::new();
        assert!(keys.is_empty());
        keys.insert(
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            merchant_key().public_key(),
        )
        .expect("hex serial");
        keys.insert(
            "PUB_KEY_ID_01190000010920250101000000000001",
            wechatpay_key().public_key(),
        )
        .expect("public key id");
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys.get("5157f09efdc096de15ebe81a47057a7232f1b8e1"),
            Some(&merchant_key().public_key())
        );
        assert_eq!(
            keys.get("PUB_KEY_ID_01190000010920250101000000000001"),
            Some(&wechatpay_key().public_key())
        );
        assert_eq!(keys.get("PUB_KEY_ID_UNKNOWN"), None);

        // The same serial again replaces its key.
        keys.insert(
            "5157f09efdc096de15ebe81a47057a7232f1b8e1",
            wechatpay_key().public_key(),
        )
        .expect("replace");
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys.get("5157F09EFDC096DE15EBE81A47057A7232F1B8E1"),
            Some(&wechatpay_key().public_key())
        );
        assert_eq!(
            keys.serials().collect::<Vec<_>>(),
            [
                "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
                "PUB_KEY_ID_01190000010920250101000000000001"
            ]
        );
    }

    #[test]
    fn keyset_refuses_serials_that_are_paste_accidents() {
        let mut keys = KeySet::new();
        for bad in [
            "",
            "PUB_KEY_ID_1\n",
            " 5157F0",
            "PUB-KEY",
            "序列号",
            &"A".repeat(65),
        ] {
            assert_eq!(
                keys.insert(bad, merchant_key().public_key()),
                Err(KeyError::InvalidSerial(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(keys.is_empty());
    }
}
