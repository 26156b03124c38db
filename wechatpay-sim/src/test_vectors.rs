//! The simulator set up with the throwaway keys of the WeChat Pay test vectors
//! (`wechatpay/tests/vectors/wechatpay-v3.json`): the merchant, the WeChat Pay public key and
//! the APIv3 key that the tests and the conformance kit configure their payment center with.
//! Keys anyone can read: for tests and demos only, never for a merchant.

use crate::{Config, MerchantConfig};
use checkout_guard_wechatpay::{ApiV3Key, PrivateKey, PublicKey};

const VECTORS: &str = include_str!("../../wechatpay/tests/vectors/wechatpay-v3.json");

/// Why the vector file could not give a configuration (it is compiled in: a broken checkout).
#[derive(Debug, thiserror::Error)]
#[error("the WeChat Pay test vectors: {0}")]
pub struct VectorError(String);

/// A string field of the vector file.
pub fn vector(name: &str) -> Result<String, VectorError> {
    let all: serde_json::Value =
        serde_json::from_str(VECTORS).map_err(|e| VectorError(e.to_string()))?;
    all[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| VectorError(["no string field ", name].concat()))
}

impl Config {
    /// [`Config::new`] for the vectors' merchant, signing with the vectors' WeChat Pay key
    /// (public-key mode) and encrypting notifies with their APIv3 key. Callers change what
    /// their test needs (the notify time scale, certificate mode, …).
    pub fn from_test_vectors() -> Result<Config, VectorError> {
        let key = |e: &dyn std::fmt::Display| VectorError(e.to_string());
        let mut config = Config::new(MerchantConfig {
            mchid: vector("mchid")?,
            serial_no: vector("merchant_serial_no")?,
            public_key: PublicKey::from_pem(&vector("merchant_public_key_pem")?)
                .map_err(|e| key(&e))?,
        });
        config.wechatpay_key =
            Some(PrivateKey::from_pem(&vector("wechatpay_private_key_pem")?).map_err(|e| key(&e))?);
        config.wechatpay_serial = vector("wechatpay_public_key_id")?;
        config.apiv3_key =
            Some(ApiV3Key::new(vector("apiv3_key")?.as_bytes()).map_err(|e| key(&e))?);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vectors_configure_a_merchant_and_both_keys() {
        let config = Config::from_test_vectors().expect("the vector file");
        assert_eq!(config.merchant.mchid, vector("mchid").expect("mchid"));
        assert!(config.wechatpay_key.is_some() && config.apiv3_key.is_some());
        assert!(config.wechatpay_serial.starts_with("PUB_KEY_ID_"));
    }
}
