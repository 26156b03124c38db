//! Every case of the two vector files in `tests/vectors/` (see its README): request
//! signatures, response verification verdicts, notify decryption (AES-256 and the Go SDK's
//! AES-128), and the paySign.

use checkout_guard_wechatpay::{
    decrypt, open_notification, verify_response, ApiV3Key, Authorization, Certificate, JsapiClient,
    JsapiPayParams, KeySet, Merchant, Notification, PrivateKey, PublicKey, RequestParts,
    SignatureError, UnixSeconds, VerifyError, WechatpaySignature,
};
use serde_json::Value;

const V3: &str = include_str!("vectors/wechatpay-v3.json");
const GO_SDK: &str = include_str!("vectors/wechatpay-v3-notify.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("vector file is JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key} is a string"))
}

/// A case-insensitive lookup over a vector's `headers` object, as `http::HeaderMap` would be.
fn lookup<'a>(headers: &'a Value) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |name: &str| {
        headers
            .as_object()
            .expect("headers is an object")
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }
}

fn merchant(v: &Value) -> Merchant {
    Merchant {
        mchid: s(v, "mchid").to_owned(),
        serial_no: s(v, "merchant_serial_no").to_owned(),
        key: PrivateKey::from_pem(s(v, "merchant_private_key_pem")).expect("merchant key loads"),
    }
}

fn wechatpay_keys(v: &Value) -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(
        s(v, "wechatpay_public_key_id"),
        PublicKey::from_pem(s(v, "wechatpay_public_key_pem")).expect("wechatpay key loads"),
    )
    .expect("serial is valid");
    keys
}

fn merchant_keys(v: &Value) -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(
        s(v, "merchant_serial_no"),
        PublicKey::from_pem(s(v, "merchant_public_key_pem")).expect("merchant public key loads"),
    )
    .expect("serial is valid");
    keys
}

#[test]
fn request_signatures_match_every_vector() {
    let v = json(V3);
    let merchant = merchant(&v);
    let cases = v["request_signing"].as_array().expect("cases");
    assert_eq!(cases.len(), 4);
    for case in cases {
        let request = RequestParts {
            method: s(case, "method"),
            path_and_query: s(case, "url"),
            body: s(case, "body").as_bytes(),
        };
        let timestamp = UnixSeconds::parse(s(case, "timestamp")).expect("timestamp");
        let nonce = s(case, "nonce_str");
        assert_eq!(
            request.message(timestamp, nonce),
            s(case, "message").as_bytes(),
            "message of {}",
            request.path_and_query
        );
        let auth = Authorization::sign(&merchant, &request, timestamp, nonce).expect("signs");
        assert_eq!(
            auth.signature,
            s(case, "signature"),
            "{}",
            request.path_and_query
        );
        assert_eq!(auth.header_value(), s(case, "authorization"));
    }
}

#[test]
fn vector_authorization_headers_parse_and_verify_as_the_simulator_would() {
    let v = json(V3);
    let keys = merchant_keys(&v);
    for case in v["request_signing"].as_array().expect("cases") {
        let request = RequestParts {
            method: s(case, "method"),
            path_and_query: s(case, "url"),
            body: s(case, "body").as_bytes(),
        };
        let auth = Authorization::parse(s(case, "authorization")).expect("parses");
        assert_eq!(auth.mchid, s(&v, "mchid"));
        assert_eq!(auth.serial_no, s(&v, "merchant_serial_no"));
        assert_eq!(auth.nonce_str, s(case, "nonce_str"));
        assert_eq!(auth.signature, s(case, "signature"));
        let now = auth.timestamp;
        auth.verify(&keys, &request, now).expect("verifies");

        let tampered = RequestParts {
            body: b"{}",
            ..request
        };
        assert_eq!(
            auth.verify(&keys, &tampered, now),
            Err(SignatureError::Mismatch.into())
        );
    }
}

#[test]
fn response_verification_gives_each_vector_its_verdict() {
    let v = json(V3);
    let keys = wechatpay_keys(&v);
    // The clock the vectors were made at: the valid case's timestamp.
    let now = UnixSeconds(1_795_431_300);
    let cases = v["response_verification"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    for case in cases {
        let verdict = verify_response(
            &keys,
            lookup(&case["headers"]),
            s(case, "body").as_bytes(),
            now,
        );
        let expected_valid = case["valid"].as_bool().expect("valid");
        match case["tamper"].as_str() {
            None => {
                assert!(expected_valid);
                assert_eq!(verdict, Ok(now));
            }
            Some(tamper) => {
                assert!(!expected_valid);
                let expected = match tamper {
                    "body" | "timestamp" => VerifyError::Signature(SignatureError::Mismatch),
                    "serial" => VerifyError::UnknownSerial("PUB_KEY_ID_UNKNOWN".to_owned()),
                    "probe" => VerifyError::Probe,
                    other => panic!("unexpected tamper kind {other}"),
                };
                assert_eq!(verdict, Err(expected), "tamper {tamper}");
            }
        }
    }
}

#[test]
fn the_valid_response_is_refused_once_five_minutes_old() {
    let v = json(V3);
    let keys = wechatpay_keys(&v);
    let case = &v["response_verification"][0];
    let body = s(case, "body").as_bytes();
    let headers = lookup(&case["headers"]);
    assert!(verify_response(&keys, &headers, body, UnixSeconds(1_795_431_300 + 299)).is_ok());
    assert_eq!(
        verify_response(&keys, &headers, body, UnixSeconds(1_795_431_300 + 300)),
        Err(VerifyError::Stale {
            timestamp: UnixSeconds(1_795_431_300),
            now: UnixSeconds(1_795_431_600),
        })
    );
}

#[test]
fn the_encrypted_notify_verifies_and_decrypts_to_its_plaintext() {
    let v = json(V3);
    let keys = wechatpay_keys(&v);
    let notify = &v["notify"];
    let apiv3 = ApiV3Key::new(s(&v, "apiv3_key")).expect("32-byte key");
    assert_eq!(apiv3.cipher_name(), "AES-256-GCM");
    let now = UnixSeconds::parse(s(&notify["headers"], "Wechatpay-Timestamp")).expect("ts");
    let opened = open_notification(
        &keys,
        &apiv3,
        lookup(&notify["headers"]),
        s(notify, "body").as_bytes(),
        now,
    )
    .expect("notify opens");
    assert_eq!(opened.plaintext, s(notify, "resource_plaintext").as_bytes());
    assert_eq!(opened.notification.event_type, "TRANSACTION.SUCCESS");
    assert_eq!(opened.notification.id, "EV-2026120117051200001");
    assert_eq!(opened.notification.resource.original_type, "transaction");
}

#[test]
fn the_go_sdk_notify_verifies_with_its_certificate_and_decrypts_with_aes_128() {
    let v = json(GO_SDK);
    let cert = Certificate::from_pem(s(&v, "platform_certificate_pem")).expect("certificate");
    assert_eq!(cert.serial(), s(&v["headers"], "Wechatpay-Serial"));
    assert_eq!(cert.serial(), "D7CE59D1F522D701");
    assert_eq!(cert.public_key().bits(), 2048);
    assert!(cert.not_before() < UnixSeconds(1_624_523_846));
    assert!(cert.not_after() > UnixSeconds(1_624_523_846));
    let mut keys = KeySet::new();
    keys.insert_certificate(&cert).expect("serial is valid");

    let apiv3 = ApiV3Key::new(s(&v, "apiv3_key")).expect("16-byte key");
    assert_eq!(apiv3.cipher_name(), "AES-128-GCM");
    let now = UnixSeconds(v["now_unix"].as_i64().expect("now_unix"));
    let body = s(&v, "body").as_bytes();
    let opened = open_notification(&keys, &apiv3, lookup(&v["headers"]), body, now)
        .expect("Go SDK notify opens");
    assert_eq!(opened.plaintext, s(&v, "resource_plaintext").as_bytes());
    assert_eq!(opened.notification.event_type, "PAYSCORE.USER_OPEN_SERVICE");

    // The same decryption through the lower-level function.
    let resource = Notification::from_json(body).expect("body parses").resource;
    assert_eq!(
        decrypt(
            &apiv3,
            &resource.nonce,
            &resource.associated_data,
            &resource.ciphertext
        ),
        Ok(s(&v, "resource_plaintext").as_bytes().to_vec())
    );

    // Five minutes later it is a replay.
    assert!(matches!(
        open_notification(
            &keys,
            &apiv3,
            lookup(&v["headers"]),
            body,
            UnixSeconds(now.0 + 300)
        ),
        Err(checkout_guard_wechatpay::NotifyError::Verify(
            VerifyError::Stale { .. }
        ))
    ));
}

#[test]
fn the_simulator_reproduces_the_vector_notify_signature() {
    let v = json(V3);
    let notify = &v["notify"];
    let headers = &notify["headers"];
    let key = PrivateKey::from_pem(s(&v, "wechatpay_private_key_pem")).expect("key");
    let signed = WechatpaySignature::sign(
        &key,
        s(headers, "Wechatpay-Serial"),
        UnixSeconds::parse(s(headers, "Wechatpay-Timestamp")).expect("ts"),
        s(headers, "Wechatpay-Nonce"),
        s(notify, "body").as_bytes(),
    )
    .expect("signs");
    for (name, value) in signed.headers() {
        assert_eq!(value, s(headers, name), "{name}");
    }
}

#[test]
fn pay_sign_matches_the_vector_for_both_clients() {
    let v = json(V3);
    let rp = &v["request_payment"];
    let key = PrivateKey::from_pem(s(&v, "merchant_private_key_pem")).expect("key");
    let app_id = s(rp, "appId");
    let prepay_id = s(rp, "package")
        .strip_prefix("prepay_id=")
        .expect("package form");
    let timestamp = UnixSeconds::parse(s(rp, "timeStamp")).expect("ts");
    let nonce = s(rp, "nonceStr");
    assert_eq!(
        checkout_guard_wechatpay::pay_sign::message(
            app_id,
            s(rp, "timeStamp"),
            nonce,
            s(rp, "package")
        ),
        s(rp, "message").as_bytes()
    );

    let official = JsapiPayParams::sign(
        &key,
        app_id,
        prepay_id,
        timestamp,
        nonce,
        JsapiClient::OfficialAccount,
    )
    .expect("signs");
    assert_eq!(official.pay_sign, s(rp, "paySign"));
    let as_json = serde_json::to_value(&official).expect("serialises");
    for field in [
        "appId",
        "timeStamp",
        "nonceStr",
        "package",
        "signType",
        "paySign",
    ] {
        assert_eq!(as_json[field], rp[field], "{field}");
    }
    assert_eq!(as_json.as_object().expect("object").len(), 6);

    let mini = JsapiPayParams::sign(
        &key,
        app_id,
        prepay_id,
        timestamp,
        nonce,
        JsapiClient::MiniProgram,
    )
    .expect("signs");
    assert_eq!(
        mini.pay_sign,
        s(rp, "paySign"),
        "appId is signed even when not passed"
    );
    let as_json = serde_json::to_value(&mini).expect("serialises");
    assert!(as_json.get("appId").is_none());
    assert_eq!(as_json.as_object().expect("object").len(), 5);

    let public = PublicKey::from_pem(s(&v, "merchant_public_key_pem")).expect("public key");
    official
        .verify(&public, app_id)
        .expect("official account params verify");
    mini.verify(&public, app_id)
        .expect("mini-program params verify");
    assert_eq!(official.prepay_id(), Some(prepay_id));
}

#[test]
fn the_vector_key_pairs_match() {
    let v = json(V3);
    let merchant = PrivateKey::from_pem(s(&v, "merchant_private_key_pem")).expect("key");
    assert_eq!(
        merchant.public_key(),
        PublicKey::from_pem(s(&v, "merchant_public_key_pem")).expect("public")
    );
    let wechatpay = PrivateKey::from_pem(s(&v, "wechatpay_private_key_pem")).expect("key");
    let public = wechatpay.public_key();
    assert_eq!(
        public,
        PublicKey::from_pem(s(&v, "wechatpay_public_key_pem")).expect("public")
    );
    assert_eq!(
        public.to_pem().expect("encodes").trim(),
        s(&v, "wechatpay_public_key_pem").trim()
    );
}
