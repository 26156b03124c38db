//! `GET /v3/certificates`: the platform-certificate list, both directions. The provider opens a
//! download ([`open_certificate_download`]); the simulator builds one ([`CertificateEntry::seal`],
//! [`CertificateList::to_json`]).
//!
//! The body is `{"data": [{serial_no, effective_time, expire_time, encrypt_certificate:
//! {algorithm, nonce, associated_data, ciphertext}}]}`; each `ciphertext` is the certificate's
//! PEM sealed with AEAD_AES_256_GCM under the merchant's APIv3 key, exactly like a notify's
//! resource ([`crate::notify`]). Unknown fields are ignored.
//!
//! Why a download is believed: the AEAD tag proves the list was sealed by someone holding the
//! APIv3 key (WeChat Pay and the merchant only), and the reply's `Wechatpay-*` signature must
//! verify with a key already held or with one of the certificates it carries, within the
//! five-minute window, so an old list cannot be replayed. This is what the official SDKs do
//! (wechatpay-go's downloader verifies later downloads with the certificates it holds; the very
//! first one it takes on the AEAD alone); a certificate's own X.509 signature and chain are not
//! checked. An entry whose `serial_no` is not its certificate's serial is refused: the serial is
//! how replies name their key.

use serde::{Deserialize, Serialize};

use crate::keys::{Certificate, KeyError, KeySet};
use crate::notify::{decrypt, encrypt, AeadError, ApiV3Key, ALGORITHM_AEAD_AES_256_GCM};
use crate::response::{VerifyError, WechatpaySignature};
use crate::time::UnixSeconds;

/// The endpoint's path (a signed `GET`, no query, empty body).
pub const PATH: &str = "/v3/certificates";

/// `associated_data` WeChat Pay seals each certificate with.
pub const ASSOCIATED_DATA: &str = "certificate";

/// Why a certificate download is not believed, or an entry cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificatesError {
    /// The body is not a certificate list.
    #[error("the certificate list is not JSON of the documented shape: {0}")]
    Json(String),
    /// `data` is empty: a merchant in certificate mode always has at least one.
    #[error("the certificate list is empty")]
    Empty,
    /// An entry does not decrypt (a wrong APIv3 key, or tampering).
    #[error("platform certificate {serial:?} does not decrypt: {err}")]
    Aead {
        /// The entry's `serial_no`.
        serial: String,
        /// Why.
        err: AeadError,
    },
    /// An entry decrypts to something that is not a usable certificate.
    #[error("platform certificate {serial:?} is not usable: {err}")]
    Certificate {
        /// The entry's `serial_no`.
        serial: String,
        /// Why.
        err: KeyError,
    },
    /// An entry's `serial_no` is not the serial of the certificate inside it.
    #[error("platform certificate listed as {listed:?} has serial {actual:?}")]
    SerialMismatch {
        /// `serial_no` as listed.
        listed: String,
        /// The certificate's own serial.
        actual: String,
    },
    /// The reply's signature does not verify with any key held or downloaded.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// The reply body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateList {
    /// The certificates WeChat Pay currently publishes for the merchant (during a rotation the
    /// old and the new one).
    pub data: Vec<CertificateEntry>,
}

/// One published certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEntry {
    /// The certificate's serial, hex (the `Wechatpay-Serial` of what it signs).
    pub serial_no: String,
    /// Start of validity, RFC 3339 (informative: the certificate's own validity decides).
    pub effective_time: String,
    /// End of validity, RFC 3339 (informative, as above).
    pub expire_time: String,
    /// The certificate's PEM, sealed.
    pub encrypt_certificate: EncryptedCertificate,
}

/// `encrypt_certificate`: a notify resource without `original_type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedCertificate {
    /// `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// The 12-character GCM nonce.
    pub nonce: String,
    /// The AAD (`certificate`; may be empty).
    #[serde(default)]
    pub associated_data: String,
    /// Base64 of the sealed PEM, tag appended.
    pub ciphertext: String,
}

impl CertificateEntry {
    /// Seals `certificate` for the list (the simulator's side); `nonce` is 12 characters the
    /// caller chose at random, the times are what the entry shows.
    pub fn seal(
        key: &ApiV3Key,
        certificate: &Certificate,
        nonce: &str,
        effective_time: String,
        expire_time: String,
    ) -> Result<Self, AeadError> {
        Ok(Self {
            serial_no: certificate.serial().to_owned(),
            effective_time,
            expire_time,
            encrypt_certificate: EncryptedCertificate {
                algorithm: ALGORITHM_AEAD_AES_256_GCM.to_owned(),
                nonce: nonce.to_owned(),
                associated_data: ASSOCIATED_DATA.to_owned(),
                ciphertext: encrypt(key, nonce, ASSOCIATED_DATA, certificate.to_pem().as_bytes())?,
            },
        })
    }

    /// Decrypts and parses the certificate, and checks that it is the one `serial_no` names.
    pub fn open(&self, key: &ApiV3Key) -> Result<Certificate, CertificatesError> {
        let sealed = &self.encrypt_certificate;
        let aead = |err| CertificatesError::Aead {
            serial: self.serial_no.clone(),
            err,
        };
        if sealed.algorithm != ALGORITHM_AEAD_AES_256_GCM {
            return Err(aead(AeadError::UnsupportedAlgorithm(
                sealed.algorithm.clone(),
            )));
        }
        let pem = decrypt(
            key,
            &sealed.nonce,
            &sealed.associated_data,
            &sealed.ciphertext,
        )
        .map_err(aead)?;
        let unusable = |err| CertificatesError::Certificate {
            serial: self.serial_no.clone(),
            err,
        };
        let pem = String::from_utf8(pem).map_err(|_| {
            unusable(KeyError::Malformed {
                label: "CERTIFICATE",
                reason: "the decrypted certificate is not UTF-8".to_owned(),
            })
        })?;
        let certificate = Certificate::from_pem(&pem).map_err(unusable)?;
        if !certificate
            .serial()
            .eq_ignore_ascii_case(self.serial_no.trim())
        {
            return Err(CertificatesError::SerialMismatch {
                listed: self.serial_no.clone(),
                actual: certificate.serial().to_owned(),
            });
        }
        Ok(certificate)
    }
}

impl CertificateList {
    /// Parses a reply body.
    pub fn from_json(body: &[u8]) -> Result<Self, CertificatesError> {
        serde_json::from_slice(body).map_err(|e| CertificatesError::Json(e.to_string()))
    }

    /// The body to send (then sign, over exactly these bytes).
    pub fn to_json(&self) -> Result<String, CertificatesError> {
        serde_json::to_string(self).map_err(|e| CertificatesError::Json(e.to_string()))
    }

    /// Every entry opened ([`CertificateEntry::open`]), in order; an empty list is refused.
    pub fn open(&self, key: &ApiV3Key) -> Result<Vec<Certificate>, CertificatesError> {
        if self.data.is_empty() {
            return Err(CertificatesError::Empty);
        }
        self.data.iter().map(|entry| entry.open(key)).collect()
    }
}

/// The whole check of a download reply, in order: the body parsed and every certificate
/// decrypted with `apiv3`, then the reply's signature verified at `now` with `known` plus the
/// downloaded certificates that have not expired. Returns those certificates (expired ones
/// are left out: WeChat Pay no longer signs with them).
pub fn open_certificate_download<'h>(
    known: &KeySet,
    apiv3: &ApiV3Key,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now: UnixSeconds,
) -> Result<Vec<Certificate>, CertificatesError> {
    let signature = WechatpaySignature::from_headers(header)?;
    let certificates: Vec<Certificate> = CertificateList::from_json(body)?
        .open(apiv3)?
        .into_iter()
        .filter(|c| !c.is_expired_at(now))
        .collect();
    let mut keys = known.clone();
    for certificate in &certificates {
        keys.insert_certificate(certificate)
            .map_err(|err| CertificatesError::Certificate {
                serial: certificate.serial().to_owned(),
                err,
            })?;
    }
    signature.verify(&keys, body, now)?;
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::test_support::{keyset, merchant_key, wechatpay_key, WECHATPAY_SERIAL};

    const KEY: &[u8] = b"Kq3sT9vWx2Yz5Ab8Cd1Ef4Gh7Jk0Mn6P";
    const NOW: UnixSeconds = UnixSeconds(1_795_431_300);
    const GO_SDK: &str = include_str!("../tests/vectors/wechatpay-v3-notify.json");
    const PLATFORM_A: &str = include_str!("../tests/keys/platform-a.pem");

    fn apiv3() -> ApiV3Key {
        ApiV3Key::new(KEY).expect("32 bytes")
    }

    fn go_sdk_certificate() -> Certificate {
        let v: serde_json::Value = serde_json::from_str(GO_SDK).expect("json");
        Certificate::from_pem(v["platform_certificate_pem"].as_str().expect("pem"))
            .expect("certificate")
    }

    fn entry(cert: &Certificate, nonce: &str) -> CertificateEntry {
        CertificateEntry::seal(
            &apiv3(),
            cert,
            nonce,
            "2021-04-27T16:55:23+08:00".to_owned(),
            "2031-04-25T16:55:23+08:00".to_owned(),
        )
        .expect("seals")
    }

    /// A reply as WeChat Pay would send it: the list, signed by `key` as `serial`.
    fn reply(
        list: &CertificateList,
        key: &PrivateKey,
        serial: &str,
    ) -> (String, Vec<(&'static str, String)>) {
        let body = list.to_json().expect("json");
        let headers = WechatpaySignature::sign(key, serial, NOW, "n0nce", body.as_bytes())
            .expect("signs")
            .headers();
        (body, headers)
    }

    fn lookup<'a>(headers: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    #[test]
    fn an_entry_seals_and_opens_to_the_same_certificate() {
        let cert = go_sdk_certificate();
        let sealed = entry(&cert, "0123456789ab");
        assert_eq!(sealed.serial_no, "D7CE59D1F522D701");
        assert_eq!(sealed.encrypt_certificate.associated_data, "certificate");
        let opened = sealed.open(&apiv3()).expect("opens");
        assert_eq!(opened.serial(), cert.serial());
        assert_eq!(opened.public_key(), cert.public_key());
        assert_eq!(opened.to_pem(), cert.to_pem());
    }

    #[test]
    fn the_documented_shape_parses_and_unknown_fields_are_ignored() {
        let cert = go_sdk_certificate();
        let sealed = entry(&cert, "0123456789ab").encrypt_certificate;
        let body = serde_json::json!({"data": [{
            "serial_no": "d7ce59d1f522d701",
            "effective_time": "2021-04-27T16:55:23+08:00",
            "expire_time": "2031-04-25T16:55:23+08:00",
            "encrypt_certificate": {
                "algorithm": "AEAD_AES_256_GCM",
                "nonce": sealed.nonce,
                "associated_data": "certificate",
                "ciphertext": sealed.ciphertext,
            },
            "something_new": 1,
        }]});
        let list = CertificateList::from_json(body.to_string().as_bytes()).expect("parses");
        let opened = list.open(&apiv3()).expect("opens");
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].serial(), "D7CE59D1F522D701");
    }

    #[test]
    fn a_wrong_key_a_wrong_serial_or_an_empty_list_is_refused() {
        let cert = go_sdk_certificate();
        let sealed = entry(&cert, "0123456789ab");
        let other = ApiV3Key::new(b"00000000000000000000000000000000").expect("key");
        assert!(matches!(
            sealed.open(&other),
            Err(CertificatesError::Aead {
                err: AeadError::Tag,
                ..
            })
        ));
        let renamed = CertificateEntry {
            serial_no: "ABCDEF".to_owned(),
            ..sealed.clone()
        };
        assert_eq!(
            renamed.open(&apiv3()).map(|c| c.serial().to_owned()),
            Err(CertificatesError::SerialMismatch {
                listed: "ABCDEF".to_owned(),
                actual: "D7CE59D1F522D701".to_owned()
            })
        );
        let mut md5 = sealed;
        md5.encrypt_certificate.algorithm = "AEAD_SM4_GCM".to_owned();
        assert!(matches!(
            md5.open(&apiv3()),
            Err(CertificatesError::Aead {
                err: AeadError::UnsupportedAlgorithm(_),
                ..
            })
        ));
        assert_eq!(
            CertificateList { data: Vec::new() }
                .open(&apiv3())
                .map(|_| ()),
            Err(CertificatesError::Empty)
        );
        assert!(matches!(
            CertificateList::from_json(b"{\"code\":\"NO_AUTH\"}"),
            Err(CertificatesError::Json(_))
        ));
    }

    #[test]
    fn a_download_signed_by_a_certificate_it_carries_is_believed() {
        let key = PrivateKey::from_pem(PLATFORM_A).expect("key");
        let cert = Certificate::issue_self_signed(
            &key,
            &[0x5A, 0x01, 0x02],
            "Test Platform",
            UnixSeconds(NOW.0 - 60),
            UnixSeconds(NOW.0 + 86_400),
        )
        .expect("issues");
        let list = CertificateList {
            data: vec![entry(&cert, "0123456789ab")],
        };
        let (body, headers) = reply(&list, &key, cert.serial());
        let opened = open_certificate_download(
            &KeySet::new(),
            &apiv3(),
            lookup(&headers),
            body.as_bytes(),
            NOW,
        )
        .expect("verifies with the certificate it carries");
        assert_eq!(opened[0].serial(), "5A0102");

        // Signed by a key the merchant already holds (a public key, or the old certificate).
        let (body, headers) = reply(&list, &wechatpay_key(), WECHATPAY_SERIAL);
        let known = keyset(WECHATPAY_SERIAL, wechatpay_key().public_key());
        assert!(open_certificate_download(
            &known,
            &apiv3(),
            lookup(&headers),
            body.as_bytes(),
            NOW
        )
        .is_ok());
        // Signed by a key nobody holds: unknown, however well the list decrypts.
        let (body, headers) = reply(&list, &merchant_key(), "0BADC0DE");
        assert_eq!(
            open_certificate_download(&known, &apiv3(), lookup(&headers), body.as_bytes(), NOW)
                .map(|_| ()),
            Err(CertificatesError::Verify(VerifyError::UnknownSerial(
                "0BADC0DE".to_owned()
            )))
        );
        // Replayed ten minutes later: stale.
        let (body, headers) = reply(&list, &key, cert.serial());
        assert!(matches!(
            open_certificate_download(
                &KeySet::new(),
                &apiv3(),
                lookup(&headers),
                body.as_bytes(),
                UnixSeconds(NOW.0 + 600)
            ),
            Err(CertificatesError::Verify(VerifyError::Stale { .. }))
        ));
        // Unsigned.
        assert_eq!(
            open_certificate_download(&KeySet::new(), &apiv3(), |_| None, body.as_bytes(), NOW)
                .map(|_| ()),
            Err(CertificatesError::Verify(VerifyError::MissingHeader(
                "Wechatpay-Timestamp"
            )))
        );
    }

    #[test]
    fn expired_certificates_are_left_out_and_cannot_vouch_for_the_download() {
        let key = PrivateKey::from_pem(PLATFORM_A).expect("key");
        let expired = Certificate::issue_self_signed(
            &key,
            &[0x11],
            "Old Platform",
            UnixSeconds(NOW.0 - 86_400 * 30),
            UnixSeconds(NOW.0 - 86_400),
        )
        .expect("issues");
        let current = go_sdk_certificate();
        let list = CertificateList {
            data: vec![
                entry(&expired, "0123456789ab"),
                entry(&current, "ba9876543210"),
            ],
        };
        // Signed by the expired one: nothing held vouches for it.
        let (body, headers) = reply(&list, &key, expired.serial());
        assert_eq!(
            open_certificate_download(
                &KeySet::new(),
                &apiv3(),
                lookup(&headers),
                body.as_bytes(),
                NOW
            )
            .map(|_| ()),
            Err(CertificatesError::Verify(VerifyError::UnknownSerial(
                "11".to_owned()
            )))
        );
        // Signed by a held key: the expired entry is dropped, the current one returned.
        let (body, headers) = reply(&list, &wechatpay_key(), WECHATPAY_SERIAL);
        let known = keyset(WECHATPAY_SERIAL, wechatpay_key().public_key());
        let opened =
            open_certificate_download(&known, &apiv3(), lookup(&headers), body.as_bytes(), NOW)
                .expect("verifies");
        assert_eq!(
            opened.iter().map(Certificate::serial).collect::<Vec<_>>(),
            ["D7CE59D1F522D701"]
        );
    }
}
