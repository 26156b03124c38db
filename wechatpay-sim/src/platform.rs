//! The key WeChat Pay signs with: one WeChat Pay public key (`PUB_KEY_ID_…`, the default mode),
//! or platform certificates, which rotate.
//!
//! A rotation at WeChat Pay goes in three steps, and so it does here: a new certificate is
//! **published** (listed by `GET /v3/certificates`, while replies are still signed with the old
//! one), then signing **switches** to it, and later the old one is **dropped** from the list.
//! A merchant that refreshes its list between the first two steps never sees a serial it does
//! not know. A certificate may also be made *unpublished*: replies signed with it carry a serial
//! no download ever shows, which is how a test shows that the merchant treats such a reply as
//! unknown.
//!
//! No clock and no randomness in here: the HTTP layer passes `now` and the serial's bytes in.

use checkout_guard_wechatpay::{Certificate, KeyError, PrivateKey, UnixSeconds};

/// How long a generated platform certificate is valid (WeChat Pay's are 5 years).
pub const CERTIFICATE_VALIDITY_SECS: i64 = 5 * 365 * 86_400;

/// The subject and issuer CN of the simulator's certificates (recognisably not WeChat's).
pub const COMMON_NAME: &str = "checkout-guard wechatpay-sim platform certificate";

/// Whom replies and notifies are signed by, as the merchant will see it.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The private key.
    pub key: PrivateKey,
    /// `Wechatpay-Serial`: the public key id, or the certificate's hex serial.
    pub serial: String,
}

/// One platform certificate the simulator holds.
#[derive(Debug, Clone)]
pub struct PlatformCertificate {
    /// The certificate (its serial names it).
    pub certificate: Certificate,
    /// Its private key.
    pub key: PrivateKey,
    /// Whether `GET /v3/certificates` lists it.
    pub published: bool,
}

/// Why a rotation step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// The simulator runs in public-key mode: there are no certificates to rotate.
    #[error("the simulator runs in public-key mode (start it with platform certificates)")]
    PublicKeyMode,
    /// No certificate has that serial.
    #[error("no platform certificate has serial {0:?}")]
    Unknown(String),
    /// The certificate signing now cannot be dropped: switch signing first.
    #[error("platform certificate {0:?} is signing: switch to another one first")]
    Signing(String),
    /// Issuing the certificate failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The signing state: one of the two modes.
#[derive(Debug)]
pub enum Platform {
    /// One WeChat Pay public key and its id (boxed: the key is large, the other variant a
    /// `Vec`).
    PublicKey(Box<Signer>),
    /// Platform certificates, oldest first, and the serial of the one signing.
    Certificates {
        /// Every certificate held, published or not.
        certificates: Vec<PlatformCertificate>,
        /// The one signing.
        signing: String,
    },
}

impl Platform {
    /// Certificate mode with one published certificate over `key`, signing.
    pub fn with_certificate(
        key: PrivateKey,
        serial: &[u8],
        now: UnixSeconds,
    ) -> Result<Self, KeyError> {
        let certificate = issue(&key, serial, now)?;
        let signing = certificate.serial().to_owned();
        Ok(Self::Certificates {
            certificates: vec![PlatformCertificate {
                certificate,
                key,
                published: true,
            }],
            signing,
        })
    }

    /// The key and serial replies and notifies are signed with now.
    pub fn signer(&self) -> Option<Signer> {
        match self {
            Self::PublicKey(signer) => Some(Signer::clone(signer)),
            Self::Certificates {
                certificates,
                signing,
            } => certificates
                .iter()
                .find(|c| c.certificate.serial() == signing)
                .map(|c| Signer {
                    key: c.key.clone(),
                    serial: signing.clone(),
                }),
        }
    }

    /// Whether replies are signed with platform certificates.
    pub fn is_certificate_mode(&self) -> bool {
        matches!(self, Self::Certificates { .. })
    }

    /// The certificates `GET /v3/certificates` lists (none in public-key mode).
    pub fn published(&self) -> Vec<Certificate> {
        match self {
            Self::PublicKey(_) => Vec::new(),
            Self::Certificates { certificates, .. } => certificates
                .iter()
                .filter(|c| c.published)
                .map(|c| c.certificate.clone())
                .collect(),
        }
    }

    /// Every certificate held (for the admin listing).
    pub fn certificates(&self) -> &[PlatformCertificate] {
        match self {
            Self::PublicKey(_) => &[],
            Self::Certificates { certificates, .. } => certificates,
        }
    }

    /// Step 1: a new certificate over `key`, valid from `now`, listed if `published`; signing
    /// does not change. Its serial.
    pub fn add(
        &mut self,
        key: PrivateKey,
        serial: &[u8],
        now: UnixSeconds,
        published: bool,
    ) -> Result<String, RotationError> {
        let Self::Certificates { certificates, .. } = self else {
            return Err(RotationError::PublicKeyMode);
        };
        let certificate = issue(&key, serial, now)?;
        let serial = certificate.serial().to_owned();
        certificates.push(PlatformCertificate {
            certificate,
            key,
            published,
        });
        Ok(serial)
    }

    /// Step 2: replies and notifies are signed with `serial` from now on.
    pub fn sign_with(&mut self, serial: &str) -> Result<(), RotationError> {
        let Self::Certificates {
            certificates,
            signing,
        } = self
        else {
            return Err(RotationError::PublicKeyMode);
        };
        let found = certificates
            .iter()
            .find(|c| c.certificate.serial().eq_ignore_ascii_case(serial))
            .ok_or_else(|| RotationError::Unknown(serial.to_owned()))?;
        *signing = found.certificate.serial().to_owned();
        Ok(())
    }

    /// Step 3: the certificate is no longer held nor listed (never the one signing).
    pub fn remove(&mut self, serial: &str) -> Result<(), RotationError> {
        let Self::Certificates {
            certificates,
            signing,
        } = self
        else {
            return Err(RotationError::PublicKeyMode);
        };
        if signing.eq_ignore_ascii_case(serial) {
            return Err(RotationError::Signing(signing.clone()));
        }
        let before = certificates.len();
        certificates.retain(|c| !c.certificate.serial().eq_ignore_ascii_case(serial));
        if certificates.len() == before {
            return Err(RotationError::Unknown(serial.to_owned()));
        }
        Ok(())
    }
}

/// A certificate over `key`, valid from a minute before `now` (so a merchant's clock a little
/// behind still sees it valid) for [`CERTIFICATE_VALIDITY_SECS`].
fn issue(key: &PrivateKey, serial: &[u8], now: UnixSeconds) -> Result<Certificate, KeyError> {
    Certificate::issue_self_signed(
        key,
        serial,
        COMMON_NAME,
        UnixSeconds(now.0 - 60),
        UnixSeconds(now.0 + CERTIFICATE_VALIDITY_SECS),
    )
}

/// Serial bytes from `random`: 20 bytes, the first in `0x10..0x80`, so the hex serial is 40
/// characters with no leading zero, like WeChat Pay's.
pub fn serial_bytes(mut random: [u8; 20]) -> [u8; 20] {
    random[0] = 0x10 + random[0] % 0x70;
    random
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixSeconds = UnixSeconds(1_795_431_300);

    fn key(name: &str) -> PrivateKey {
        let pem = match name {
            "a" => include_str!("../../wechatpay/tests/keys/platform-a.pem"),
            "b" => include_str!("../../wechatpay/tests/keys/platform-b.pem"),
            _ => include_str!("../../wechatpay/tests/keys/platform-c.pem"),
        };
        PrivateKey::from_pem(pem).expect("test key")
    }

    #[test]
    fn a_rotation_publishes_first_then_switches_then_drops() {
        let mut platform = Platform::with_certificate(key("a"), &serial_bytes([1; 20]), NOW)
            .expect("certificate mode");
        let old = platform.signer().expect("signer").serial;
        assert_eq!(old.len(), 40);
        assert_eq!(platform.published().len(), 1);

        let new = platform
            .add(key("b"), &serial_bytes([2; 20]), NOW, true)
            .expect("publish");
        // Published, not yet signing.
        assert_eq!(platform.signer().expect("signer").serial, old);
        assert_eq!(
            platform
                .published()
                .iter()
                .map(|c| c.serial().to_owned())
                .collect::<Vec<_>>(),
            [old.clone(), new.clone()]
        );
        assert_eq!(
            platform.remove(&old),
            Err(RotationError::Signing(old.clone()))
        );
        platform
            .sign_with(&new.to_ascii_lowercase())
            .expect("switch");
        assert_eq!(platform.signer().expect("signer").serial, new);
        assert_eq!(
            platform.signer().expect("signer").key.public_key(),
            key("b").public_key()
        );
        platform.remove(&old).expect("drop the old one");
        assert_eq!(platform.published().len(), 1);
        assert_eq!(
            platform.remove(&old),
            Err(RotationError::Unknown(old.clone()))
        );
        assert_eq!(
            platform.sign_with("ABC"),
            Err(RotationError::Unknown("ABC".to_owned()))
        );
    }

    #[test]
    fn an_unpublished_certificate_signs_but_is_never_listed() {
        let mut platform = Platform::with_certificate(key("a"), &serial_bytes([1; 20]), NOW)
            .expect("certificate mode");
        let hidden = platform
            .add(key("c"), &serial_bytes([3; 20]), NOW, false)
            .expect("add");
        platform.sign_with(&hidden).expect("switch");
        assert_eq!(platform.signer().expect("signer").serial, hidden);
        assert!(platform.published().iter().all(|c| c.serial() != hidden));
        assert_eq!(platform.certificates().len(), 2);
    }

    #[test]
    fn public_key_mode_has_nothing_to_rotate() {
        let mut platform = Platform::PublicKey(Box::new(Signer {
            key: key("a"),
            serial: "PUB_KEY_ID_1".to_owned(),
        }));
        assert!(!platform.is_certificate_mode());
        assert!(platform.published().is_empty());
        assert_eq!(
            platform.add(key("b"), &[1], NOW, true),
            Err(RotationError::PublicKeyMode)
        );
        assert_eq!(platform.sign_with("x"), Err(RotationError::PublicKeyMode));
        assert_eq!(platform.remove("x"), Err(RotationError::PublicKeyMode));
        assert_eq!(
            platform.signer().map(|s| s.serial),
            Some("PUB_KEY_ID_1".to_owned())
        );
    }

    #[test]
    fn serials_are_forty_hex_characters_without_a_leading_zero() {
        for first in [0u8, 0x0F, 0x7F, 0x80, 0xFF] {
            let mut random = [0xAB; 20];
            random[0] = first;
            let bytes = serial_bytes(random);
            assert!((0x10..0x80).contains(&bytes[0]), "{first:#x}");
        }
    }
}
