//! The JSAPI launch parameters (`wx.requestPayment` in a mini-program, `WeixinJSBridge`'s
//! `getBrandWCPayRequest` in an official account) and their `paySign`.
//!
//! `paySign` is base64 SHA256withRSA with the merchant API key over
//! `APPID\nTIMESTAMP\nNONCESTR\nPACKAGE\n`, where `PACKAGE` is `prepay_id=…`. The app id is
//! always signed, but only the official account passes it as `appId`: a mini-program's
//! `wx.requestPayment` takes no `appId` (it is the mini-program's own). These parameters are what
//! the guard hands the client, and hold nothing secret.

use serde::{Deserialize, Serialize};

use crate::keys::{PrivateKey, PublicKey, SignError, SignatureError};
use crate::time::UnixSeconds;

/// `signType` for API v3.
pub const SIGN_TYPE_RSA: &str = "RSA";

/// Which client launches the payment: decides whether `appId` is in the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsapiClient {
    /// `wx.requestPayment` in a mini-program: no `appId`.
    MiniProgram,
    /// `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` in an official account: with `appId`.
    OfficialAccount,
}

/// Building or checking launch parameters failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaySignError {
    /// A value holds a newline (it would change the signed lines) or is empty.
    #[error("{field} {value:?} cannot go into a paySign")]
    InvalidField {
        /// Which input.
        field: &'static str,
        /// The value refused.
        value: String,
    },
    /// `signType` is not `RSA`.
    #[error("signType {0:?} is not RSA")]
    SignType(String),
    /// The RSA operation failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The signature does not check out.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// The parameter set, serialised with the client's field names (`appId`, `timeStamp`,
/// `nonceStr`, `package`, `signType`, `paySign`; `appId` left out when absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsapiPayParams {
    /// `appId`: present for [`JsapiClient::OfficialAccount`] only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// `timeStamp`: seconds, as a string.
    pub time_stamp: String,
    /// `nonceStr`.
    pub nonce_str: String,
    /// `package`: `prepay_id=…`.
    pub package: String,
    /// `signType`: `RSA`.
    pub sign_type: String,
    /// `paySign`: base64 SHA256withRSA.
    pub pay_sign: String,
}

impl JsapiPayParams {
    /// Signs the launch of `prepay_id` for `app_id` with the merchant API key, at `timestamp`
    /// with `nonce` (the caller's clock and randomness).
    pub fn sign(
        key: &PrivateKey,
        app_id: &str,
        prepay_id: &str,
        timestamp: UnixSeconds,
        nonce: &str,
        client: JsapiClient,
    ) -> Result<Self, PaySignError> {
        check_line("app_id", app_id)?;
        check_line("prepay_id", prepay_id)?;
        check_line("nonce", nonce)?;
        let time_stamp = timestamp.to_string();
        let package = format!("prepay_id={prepay_id}");
        let pay_sign = key.sign(&message(app_id, &time_stamp, nonce, &package))?;
        Ok(Self {
            app_id: match client {
                JsapiClient::MiniProgram => None,
                JsapiClient::OfficialAccount => Some(app_id.to_owned()),
            },
            time_stamp,
            nonce_str: nonce.to_owned(),
            package,
            sign_type: SIGN_TYPE_RSA.to_owned(),
            pay_sign,
        })
    }

    /// The prepay id inside `package`, if it has the `prepay_id=` form.
    pub fn prepay_id(&self) -> Option<&str> {
        self.package.strip_prefix("prepay_id=")
    }

    /// Checks `paySign` as WeChat's client would (the simulator's wallet page): over `app_id`
    /// (the mini-program's, or `appId` when present, which must then equal it) with the
    /// merchant's public key. (A paySign names no serial: the wallet knows the merchant.)
    pub fn verify(&self, key: &PublicKey, app_id: &str) -> Result<(), PaySignError> {
        if self.sign_type != SIGN_TYPE_RSA {
            return Err(PaySignError::SignType(self.sign_type.clone()));
        }
        if let Some(given) = &self.app_id {
            if given != app_id {
                return Err(PaySignError::Signature(SignatureError::Mismatch));
            }
        }
        key.verify(
            &message(app_id, &self.time_stamp, &self.nonce_str, &self.package),
            &self.pay_sign,
        )?;
        Ok(())
    }
}

/// `APPID\nTIMESTAMP\nNONCESTR\nPACKAGE\n`, the message `paySign` signs.
pub fn message(app_id: &str, time_stamp: &str, nonce_str: &str, package: &str) -> Vec<u8> {
    format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n").into_bytes()
}

fn check_line(field: &'static str, value: &str) -> Result<(), PaySignError> {
    if value.is_empty() || value.contains(['\n', '\r']) {
        return Err(PaySignError::InvalidField {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{merchant_key, wechatpay_key};

    const APP_ID: &str = "wxd678efh567hg6787";
    const PREPAY: &str = "wx201410272009395522657a690389285100";
    const NOW: UnixSeconds = UnixSeconds(1_795_431_235);

    fn params(client: JsapiClient) -> JsapiPayParams {
        JsapiPayParams::sign(
            &merchant_key(),
            APP_ID,
            PREPAY,
            NOW,
            "5K8264ILTKCH16CQ",
            client,
        )
        .expect("signs")
    }

    #[test]
    fn sign_then_verify_round_trips_for_both_clients() {
        let public = merchant_key().public_key();
        for client in [JsapiClient::MiniProgram, JsapiClient::OfficialAccount] {
            let p = params(client);
            assert_eq!(p.package, format!("prepay_id={PREPAY}"));
            assert_eq!(p.sign_type, "RSA");
            assert_eq!(p.time_stamp, "1795431235");
            assert_eq!(p.verify(&public, APP_ID), Ok(()));
        }
    }

    #[test]
    fn the_client_json_round_trips() {
        let p = params(JsapiClient::OfficialAccount);
        let text = serde_json::to_string(&p).expect("serialises");
        assert!(text
            .starts_with(r#"{"appId":"wxd678efh567hg6787","timeStamp":"1795431235","nonceStr":"#));
        assert_eq!(
            serde_json::from_str::<JsapiPayParams>(&text).expect("parses"),
            p
        );
        let mini = params(JsapiClient::MiniProgram);
        let text = serde_json::to_string(&mini).expect("serialises");
        assert!(text.starts_with(r#"{"timeStamp":"#), "{text}");
        assert_eq!(
            serde_json::from_str::<JsapiPayParams>(&text).expect("parses"),
            mini
        );
    }

    #[test]
    fn verify_refuses_changed_fields_another_app_or_key_and_other_sign_types() {
        let public = merchant_key().public_key();
        let p = params(JsapiClient::OfficialAccount);
        let mismatch = Err(PaySignError::Signature(SignatureError::Mismatch));
        assert_eq!(p.verify(&public, "wx0000000000000000"), mismatch);
        assert_eq!(p.verify(&wechatpay_key().public_key(), APP_ID), mismatch);
        let mini = params(JsapiClient::MiniProgram);
        assert_eq!(mini.verify(&public, "wx0000000000000000"), mismatch);
        for changed in [
            JsapiPayParams {
                package: "prepay_id=wx2".to_owned(),
                ..p.clone()
            },
            JsapiPayParams {
                time_stamp: "1795431236".to_owned(),
                ..p.clone()
            },
            JsapiPayParams {
                nonce_str: "other".to_owned(),
                ..p.clone()
            },
        ] {
            assert_eq!(changed.verify(&public, APP_ID), mismatch);
        }
        let md5 = JsapiPayParams {
            sign_type: "MD5".to_owned(),
            ..p.clone()
        };
        assert_eq!(
            md5.verify(&public, APP_ID),
            Err(PaySignError::SignType("MD5".to_owned()))
        );
        let garbled = JsapiPayParams {
            pay_sign: "!!".to_owned(),
            ..p
        };
        assert_eq!(
            garbled.verify(&public, APP_ID),
            Err(PaySignError::Signature(SignatureError::Base64))
        );
    }

    #[test]
    fn sign_refuses_empty_values_and_line_breaks() {
        let key = merchant_key();
        let cases = [
            ("app_id", "", PREPAY, "n"),
            ("app_id", "wx1\n", PREPAY, "n"),
            ("prepay_id", APP_ID, "", "n"),
            ("prepay_id", APP_ID, "wx1\r", "n"),
            ("nonce", APP_ID, PREPAY, ""),
            ("nonce", APP_ID, PREPAY, "a\nb"),
        ];
        for (field, app_id, prepay, nonce) in cases {
            assert!(
                matches!(
                    JsapiPayParams::sign(&key, app_id, prepay, NOW, nonce, JsapiClient::MiniProgram),
                    Err(PaySignError::InvalidField { field: f, .. }) if f == field
                ),
                "{field}"
            );
        }
    }

    #[test]
    fn prepay_id_reads_the_package() {
        assert_eq!(params(JsapiClient::MiniProgram).prepay_id(), Some(PREPAY));
        let odd = JsapiPayParams {
            package: "Sign=WXPay".to_owned(),
            ..params(JsapiClient::MiniProgram)
        };
        assert_eq!(odd.prepay_id(), None);
    }
}
