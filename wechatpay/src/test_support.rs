//! Keys and helpers shared by the unit tests: the throwaway keys of the vector file.

use crate::keys::{KeySet, PrivateKey, PublicKey};

const V3: &str = include_str!("../tests/vectors/wechatpay-v3.json");

pub const WECHATPAY_SERIAL: &str = "PUB_KEY_ID_01190000010920250101000000000001";
pub const MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

fn field(name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(V3).expect("vector file is JSON");
    v[name]
        .as_str()
        .expect("vector field is a string")
        .to_owned()
}

pub fn merchant_key() -> PrivateKey {
    PrivateKey::from_pem(&field("merchant_private_key_pem")).expect("merchant key")
}

pub fn merchant_public_pem() -> String {
    field("merchant_public_key_pem")
}

pub fn wechatpay_key() -> PrivateKey {
    PrivateKey::from_pem(&field("wechatpay_private_key_pem")).expect("wechatpay key")
}

pub fn keyset(serial: &str, key: PublicKey) -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(serial, key).expect("valid serial");
    keys
}
