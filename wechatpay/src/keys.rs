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
    pem: String,
}

impl Certificate {
    /// Reads a `BEGIN CERTIFICATE` PEM block with an RSA subject key (one block: for a file
    /// holding several, [`Certificate::all_from_pem`]).
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
            pem: format!("{pem}\n"),
        })
    }

    /// Reads every `BEGIN CERTIFICATE` block of `text`, in order: a merchant keeps the old and
    /// the new platform certificate in one file during a rotation, or concatenates what
    /// WeChat's certificate tool wrote. Text between blocks is ignored; no block at all is
    /// [`KeyError::WrongPemLabel`], and the first block that does not read is its error.
    pub fn all_from_pem(text: &str) -> Result<Vec<Self>, KeyError> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let mut certificates = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(BEGIN) {
            let block = &rest[start..];
            let Some(end) = block.find(END) else {
                return Err(KeyError::Malformed {
                    label: "CERTIFICATE",
                    reason: "a `BEGIN CERTIFICATE` block has no `END CERTIFICATE` line".to_owned(),
                });
            };
            certificates.push(Self::from_pem(&block[..end + END.len()])?);
            rest = &block[end + END.len()..];
        }
        if certificates.is_empty() {
            return Err(KeyError::WrongPemLabel {
                expected: CERTIFICATE_BLOCK,
                found: describe_label(pem_label(text.trim())),
            });
        }
        Ok(certificates)
    }

    /// The certificate as one PEM block (LF line ends, a final newline): what the simulator
    /// encrypts into `/v3/certificates`, or a merchant writes to a file.
    pub fn to_pem(&self) -> &str {
        &self.pem
    }

    /// Whether `now` lies within the certificate's validity (both ends included, as X.509
    /// says). WeChat Pay stops signing with a platform certificate before it expires, so an
    /// expired one can only verify a replay: the provider drops it.
    pub fn is_valid_at(&self, now: UnixSeconds) -> bool {
        self.not_before <= now && !self.is_expired_at(now)
    }

    /// Whether the certificate's validity ended before `now`. A certificate not valid *yet*
    /// is not expired: a merchant may install the next one before WeChat Pay switches to it.
    pub fn is_expired_at(&self, now: UnixSeconds) -> bool {
        now > self.not_after
    }

    /// A self-signed X.509 v3 certificate over `key` (SHA256withRSA), subject and issuer
    /// `CN=<common_name>`: the simulator's stand-in for a WeChat Pay platform certificate. The
    /// validity is passed in, like every time in this crate; `serial` is the big-endian serial
    /// (1-20 bytes, the first below 0x80 so it stays positive), named as [`Certificate::serial`]
    /// shows it.
    #[cfg(any(test, feature = "issue"))]
    pub fn issue_self_signed(
        key: &PrivateKey,
        serial: &[u8],
        common_name: &str,
        not_before: UnixSeconds,
        not_after: UnixSeconds,
    ) -> Result<Self, KeyError> {
        issue::self_signed(key, serial, common_name, not_before, not_after)
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

    /// Removes the key under `serial` (without regard to ASCII case); whether one was there.
    pub fn remove(&mut self, serial: &str) -> bool {
        let before = self.keys.len();
        self.keys.retain(|(s, _)| !s.eq_ignore_ascii_case(serial));
        self.keys.len() != before
    }

    /// Adds every key of `other`, replacing keys of the same serial: configured keys merged
    /// with downloaded ones.
    pub fn extend(&mut self, other: &KeySet) {
        for (serial, key) in &other.keys {
            match self
                .keys
                .iter_mut()
                .find(|(s, _)| s.eq_ignore_ascii_case(serial))
            {
                Some(slot) => slot.1 = key.clone(),
                None => self.keys.push((serial.clone(), key.clone())),
            }
        }
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

/// Issuing certificates: only the simulator needs it (feature `issue`), so the merchant's
/// build does not carry the builder.
#[cfg(any(test, feature = "issue"))]
mod issue {
    use std::str::FromStr as _;
    use std::time::Duration;

    use rsa::pkcs1v15::SigningKey;
    use sha2::Sha256;
    use x509_cert::builder::profile::BuilderProfile;
    use x509_cert::builder::{Builder as _, CertificateBuilder};
    use x509_cert::der::{DateTime, EncodePem as _};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
    use x509_cert::time::{Time, Validity};
    use x509_cert::TbsCertificate;

    use super::{Certificate, KeyError, LineEnding, PrivateKey};
    use crate::time::UnixSeconds;

    /// Subject = issuer, no extensions: a platform certificate is trusted because it was
    /// configured or arrived encrypted under the APIv3 key, never through a chain.
    struct SelfSigned(Name);

    impl BuilderProfile for SelfSigned {
        fn get_issuer(&self, _subject: &Name) -> Name {
            self.0.clone()
        }

        fn get_subject(&self) -> Name {
            self.0.clone()
        }

        fn build_extensions(
            &self,
            _spk: SubjectPublicKeyInfoRef<'_>,
            _issuer_spk: SubjectPublicKeyInfoRef<'_>,
            _tbs: &TbsCertificate,
        ) -> x509_cert::builder::Result<Vec<x509_cert::ext::Extension>> {
            Ok(Vec::new())
        }
    }

    fn time(at: UnixSeconds) -> Result<Time, KeyError> {
        let secs = u64::try_from(at.0).map_err(|_| bad(format!("time {at} is before 1970")))?;
        DateTime::from_unix_duration(Duration::from_secs(secs))
            .map(Time::from)
            .map_err(|e| bad(format!("time {at}: {e}")))
    }

    fn bad(reason: String) -> KeyError {
        KeyError::Encode(reason)
    }

    pub(super) fn self_signed(
        key: &PrivateKey,
        serial: &[u8],
        common_name: &str,
        not_before: UnixSeconds,
        not_after: UnixSeconds,
    ) -> Result<Certificate, KeyError> {
        if serial.is_empty() || serial.len() > 20 || serial[0] >= 0x80 {
            return Err(bad(
                "a certificate serial is 1-20 bytes, the first below 0x80".to_owned(),
            ));
        }
        let name = Name::from_str(&format!("CN={common_name}"))
            .map_err(|e| bad(format!("subject CN={common_name:?}: {e}")))?;
        let serial = SerialNumber::new(serial).map_err(|e| bad(e.to_string()))?;
        let validity = Validity::new(time(not_before)?, time(not_after)?);
        let spki = SubjectPublicKeyInfoOwned::from_key(&key.inner.to_public_key())
            .map_err(|e| bad(e.to_string()))?;
        let signer = SigningKey::<Sha256>::new(key.inner.clone());
        let pem = CertificateBuilder::new(SelfSigned(name), serial, validity, spki)
            .and_then(|builder| builder.build(&signer))
            .map_err(|e| bad(e.to_string()))?
            .to_pem(LineEnding::LF)
            .map_err(|e| bad(e.to_string()))?;
        Certificate::from_pem(&pem)
    }
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
    fn a_self_signed_certificate_carries_its_serial_validity_and_key() {
        let key = PrivateKey::from_pem(include_str!("../tests/keys/platform-b.pem")).expect("key");
        let serial = [0x3F, 0x00, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18];
        let cert = Certificate::issue_self_signed(
            &key,
            &serial,
            "Simulated WeChat Pay Platform",
            UnixSeconds(1_795_000_000),
            UnixSeconds(1_795_000_000 + 5 * 365 * 86_400),
        )
        .expect("issues");
        assert_eq!(cert.serial(), "3F00A1B2C3D4E5F60718");
        assert_eq!(cert.not_before(), UnixSeconds(1_795_000_000));
        assert_eq!(
            cert.not_after(),
            UnixSeconds(1_795_000_000 + 5 * 365 * 86_400)
        );
        assert_eq!(cert.public_key(), &key.public_key());
        // Its PEM reads back to the same certificate.
        assert!(cert.to_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(cert.to_pem().ends_with("-----END CERTIFICATE-----\n"));
        let again = Certificate::from_pem(cert.to_pem()).expect("parses");
        assert_eq!(again.serial(), cert.serial());
        // A negative or oversized serial is refused rather than encoded wrongly.
        for bad in [&[][..], &[0x80][..], &[1u8; 21][..]] {
            assert!(matches!(
                Certificate::issue_self_signed(&key, bad, "x", UnixSeconds(0), UnixSeconds(1)),
                Err(KeyError::Encode(_))
            ));
        }
    }

    #[test]
    fn validity_ends_are_inclusive_and_not_yet_valid_is_not_expired() {
        let cert = Certificate::from_pem(&go_sdk_certificate_pem()).expect("certificate");
        assert!(!cert.is_valid_at(UnixSeconds(1_619_513_722)));
        assert!(!cert.is_expired_at(UnixSeconds(1_619_513_722)));
        assert!(cert.is_valid_at(UnixSeconds(1_619_513_723)));
        assert!(cert.is_valid_at(UnixSeconds(1_934_873_723)));
        assert!(cert.is_expired_at(UnixSeconds(1_934_873_724)));
        assert!(!cert.is_valid_at(UnixSeconds(1_934_873_724)));
    }

    #[test]
    fn a_bundle_reads_every_certificate_in_order() {
        let go = go_sdk_certificate_pem();
        let key = PrivateKey::from_pem(include_str!("../tests/keys/platform-c.pem")).expect("key");
        let other = Certificate::issue_self_signed(
            &key,
            &[0x42],
            "Next",
            UnixSeconds(0),
            UnixSeconds(2_000_000_000),
        )
        .expect("issues");
        let bundle = format!("# old\n{go}\n\n# new\n{}", other.to_pem());
        let all = Certificate::all_from_pem(&bundle).expect("bundle");
        assert_eq!(
            all.iter().map(Certificate::serial).collect::<Vec<_>>(),
            ["D7CE59D1F522D701", "42"]
        );
        assert!(matches!(
            Certificate::all_from_pem(&merchant_public_pem()),
            Err(KeyError::WrongPemLabel { found, .. }) if found == "a `BEGIN PUBLIC KEY` PEM block"
        ));
        assert!(matches!(
            Certificate::all_from_pem(""),
            Err(KeyError::WrongPemLabel { .. })
        ));
        let cut = &go[..go.len() / 2];
        assert!(matches!(
            Certificate::all_from_pem(&format!("{go}\n{cut}")),
            Err(KeyError::Malformed {
                label: "CERTIFICATE",
                ..
            })
        ));
    }

    #[test]
    fn keyset_removes_and_merges_by_serial() {
        let mut keys = KeySet::new();
        keys.insert("AA01", merchant_key().public_key())
            .expect("serial");
        keys.insert("PUB_KEY_ID_1", wechatpay_key().public_key())
            .expect("serial");
        let mut downloaded = KeySet::new();
        downloaded
            .insert("aa01", wechatpay_key().public_key())
            .expect("serial");
        downloaded
            .insert("BB02", merchant_key().public_key())
            .expect("serial");
        keys.extend(&downloaded);
        assert_eq!(
            keys.serials().collect::<Vec<_>>(),
            ["AA01", "PUB_KEY_ID_1", "BB02"]
        );
        assert_eq!(keys.get("AA01"), Some(&wechatpay_key().public_key()));
        assert!(keys.remove("aa01"));
        assert!(!keys.remove("AA01"));
        assert_eq!(keys.len(), 2);
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
