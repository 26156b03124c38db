//! The `WechatPayV3` provider over real HTTP against the WeChat Pay v3 simulator
//! (`checkout-guard-wechatpay-sim`), with the throwaway keys of the crate's vectors: every
//! request signed, every reply verified, every error mapped to the provider-neutral contract.

mod common;

use checkout_guard_server::clock::Clock;
use checkout_guard_server::provider::wechatpay::{
    WechatPayConfig, WechatPayConfigError, WechatPayV3,
};
use checkout_guard_server::provider::{
    PaymentState, PrepayRequest, Provider, ProviderError, Scene,
};
use checkout_guard_server::Secret;
use checkout_guard_wechatpay::{JsapiPayParams, PublicKey};
use checkout_guard_wechatpay_sim::{start, Config, RunningSim};
use serde_json::{json, Value};

const VECTORS: &str = include_str!("../../wechatpay/tests/vectors/wechatpay-v3.json");
const APPID: &str = "wxd678efh567hg6787";

fn vector(name: &str) -> String {
    let v: Value = serde_json::from_str(VECTORS).expect("vector file is JSON");
    v[name].as_str().expect("string field").to_owned()
}

async fn sim() -> RunningSim {
    // The test vectors' throwaway keys, as the payment center here is configured.
    let mut config = Config::from_test_vectors().expect("the test vectors");
    config.notify_time_scale = 0.01;
    start(config).await.expect("the simulator starts")
}

fn config(sim: &RunningSim) -> WechatPayConfig {
    WechatPayConfig {
        base_url: sim.base_url().to_owned(),
        mchid: vector("mchid"),
        appid: APPID.to_owned(),
        merchant_serial: vector("merchant_serial_no"),
        merchant_private_key: Secret::new(vector("merchant_private_key_pem")),
        wechatpay_public_key: vector("wechatpay_public_key_pem"),
        wechatpay_public_key_id: vector("wechatpay_public_key_id"),
        apiv3_key: Secret::new(vector("apiv3_key")),
        // Nothing listens there: the notify is not what these tests look at.
        notify_url: "http://127.0.0.1:9/wechatpay/notify".to_owned(),
        ..WechatPayConfig::default()
    }
}

fn request(no: &str, scene: Scene) -> PrepayRequest {
    PrepayRequest {
        attempt_id: no.to_owned(),
        order_no: format!("O{no}"),
        amount: 100,
        scene,
        ttl_ms: 2 * 60 * 60 * 1000,
    }
}

fn mini() -> Scene {
    Scene::MiniProgram {
        openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned(),
    }
}

async fn wallet(sim: &RunningSim, wallet_id: &str, action: &str) -> u16 {
    reqwest::Client::new()
        .post(format!(
            "{}/sim/wallet/{wallet_id}/{action}",
            sim.base_url()
        ))
        .header("accept", "application/json")
        .send()
        .await
        .expect("wallet reply")
        .status()
        .as_u16()
}

async fn fault(sim: &RunningSim, spec: &str) {
    let reply = reqwest::Client::new()
        .post(format!("{}/sim/admin/faults", sim.base_url()))
        .json(&json!({"spec": spec, "pathPrefix": "/v3/", "times": 1}))
        .send()
        .await
        .expect("admin");
    assert_eq!(reply.status(), 201);
}

fn prepay_id(params: &serde_json::Map<String, Value>) -> String {
    let launch: JsapiPayParams =
        serde_json::from_value(Value::Object(params.clone())).expect("JSAPI params");
    launch.prepay_id().expect("prepay_id=").to_owned()
}

#[tokio::test]
async fn create_per_scene_then_query_notpay() {
    let sim = sim().await;
    let provider = WechatPayV3::new(&config(&sim), Clock::system()).expect("self-check passes");
    let merchant_public = PublicKey::from_pem(&vector("merchant_public_key_pem")).expect("pk");

    let mp = provider
        .create(&request("T1mini01", mini()))
        .await
        .expect("jsapi");
    assert!(
        !mp.params.contains_key("appId"),
        "a mini-program passes no appId"
    );
    let launch: JsapiPayParams =
        serde_json::from_value(Value::Object(mp.params.clone())).expect("JSAPI params");
    launch
        .verify(&merchant_public, APPID)
        .expect("paySign verifies with the merchant public key");
    assert_eq!(launch.sign_type, "RSA");

    let oa = Scene::OfficialAccount {
        openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned(),
    };
    let oa = provider
        .create(&request("T1offi01", oa))
        .await
        .expect("jsapi oa");
    assert_eq!(oa.params["appId"], APPID);
    let launch: JsapiPayParams =
        serde_json::from_value(Value::Object(oa.params.clone())).expect("JSAPI params");
    launch.verify(&merchant_public, APPID).expect("paySign");

    let native = provider
        .create(&request("T1nati01", Scene::Native))
        .await
        .expect("native");
    assert!(native.params["codeUrl"]
        .as_str()
        .expect("codeUrl")
        .starts_with("weixin://"));
    assert_eq!(native.params.len(), 1);

    let h5 = Scene::H5 {
        client_ip: "14.23.150.211".to_owned(),
    };
    let h5 = provider.create(&request("T1h5no01", h5)).await.expect("h5");
    assert!(h5.params["h5Url"]
        .as_str()
        .expect("h5Url")
        .starts_with("http"));

    for no in ["T1mini01", "T1offi01", "T1nati01", "T1h5no01"] {
        let payment = provider.query(no).await.expect("query");
        assert_eq!(payment.state, PaymentState::NotPaid, "{no}");
        assert_eq!(payment.amount, 100);
    }
    assert_eq!(
        provider.query("T1never1").await,
        Err(ProviderError::NotFound)
    );
    assert_eq!(
        provider.close("T1never1").await,
        Err(ProviderError::NotFound)
    );

    // The same parameters again: the same order (a retry after a lost reply is safe).
    let again = provider
        .create(&request("T1mini01", mini()))
        .await
        .expect("again");
    assert_eq!(prepay_id(&again.params), prepay_id(&mp.params));
    sim.shutdown().await;
}

#[tokio::test]
async fn pay_close_and_duplicates() {
    let sim = sim().await;
    let provider = WechatPayV3::new(&config(&sim), Clock::system()).expect("self-check passes");

    let paid = provider
        .create(&request("T2paid01", mini()))
        .await
        .expect("create");
    assert_eq!(wallet(&sim, &prepay_id(&paid.params), "confirm").await, 200);
    let payment = provider.query("T2paid01").await.expect("query");
    assert_eq!(payment.state, PaymentState::Paid);
    assert_eq!(payment.amount, 100);
    assert_eq!(
        provider.close("T2paid01").await,
        Err(ProviderError::AlreadyPaid)
    );

    provider
        .create(&request("T2clos01", mini()))
        .await
        .expect("create");
    provider.close("T2clos01").await.expect("close: 204");
    provider
        .close("T2clos01")
        .await
        .expect("close is re-entrant");
    assert_eq!(
        provider.query("T2clos01").await.map(|p| p.state),
        Ok(PaymentState::Closed)
    );
    // A closed order's number cannot be created again.
    assert_eq!(
        provider.create(&request("T2clos01", mini())).await,
        Err(ProviderError::DuplicateNumber)
    );

    // The same number with other parameters: not usable.
    provider
        .create(&request("T2dupl01", mini()))
        .await
        .expect("create");
    let mut other = request("T2dupl01", mini());
    other.amount = 200;
    assert_eq!(
        provider.create(&other).await,
        Err(ProviderError::DuplicateNumber)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unverifiable_and_failing_replies_are_unknown() {
    let sim = sim().await;
    let provider = WechatPayV3::new(&config(&sim), Clock::system()).expect("self-check passes");
    let paid = provider
        .create(&request("T3paid01", mini()))
        .await
        .expect("create");
    assert_eq!(wallet(&sim, &prepay_id(&paid.params), "confirm").await, 200);
    provider
        .create(&request("T3open01", mini()))
        .await
        .expect("create");

    for spec in ["bad-signature", "unsigned"] {
        fault(&sim, spec).await;
        assert!(
            matches!(
                provider.query("T3paid01").await,
                Err(ProviderError::Unavailable(_))
            ),
            "{spec}: a paid order's query is unknown, never Paid"
        );
        fault(&sim, spec).await;
        assert!(
            matches!(
                provider.close("T3open01").await,
                Err(ProviderError::Unavailable(_))
            ),
            "{spec}: a close is unknown, never Closed"
        );
        fault(&sim, spec).await;
        assert!(
            matches!(
                provider.query("T3none01").await,
                Err(ProviderError::Unavailable(_))
            ),
            "{spec}: ORDER_NOT_EXIST unverified is unknown, never NotFound"
        );
    }
    fault(&sim, "status=500").await;
    assert!(matches!(
        provider.query("T3paid01").await,
        Err(ProviderError::Unavailable(_))
    ));
    fault(&sim, "status=429").await;
    assert!(matches!(
        provider.create(&request("T3late01", mini())).await,
        Err(ProviderError::Unavailable(_))
    ));
    // The faults were one-shot: the truth is back.
    assert_eq!(
        provider.query("T3paid01").await.map(|p| p.state),
        Ok(PaymentState::Paid)
    );
    // The close did take effect: only its reply was unbelievable, which is why it was
    // "unknown" and not "not closed".
    assert_eq!(
        provider.query("T3open01").await.map(|p| p.state),
        Ok(PaymentState::Closed)
    );

    // Replies signed by another key (a WeChat Pay key the merchant does not hold).
    let mut wrong = config(&sim);
    wrong.wechatpay_public_key = vector("merchant_public_key_pem");
    let wrong = WechatPayV3::new(&wrong, Clock::system()).expect("parses");
    assert!(matches!(
        wrong.query("T3paid01").await,
        Err(ProviderError::Unavailable(_))
    ));
    // A server clock 10 minutes off: every reply is stale.
    let skewed = WechatPayV3::new(
        &config(&sim),
        Clock::manual(checkout_guard_server::clock::now_ms() + 600_000),
    )
    .expect("parses");
    assert!(matches!(
        skewed.query("T3paid01").await,
        Err(ProviderError::Unavailable(_))
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn operator_errors_are_rejected_with_the_code() {
    let sim = sim().await;
    // A merchant serial WeChat Pay does not know: 401 SIGN_ERROR, never a retry.
    let mut cfg = config(&sim);
    cfg.merchant_serial = "0123456789ABCDEF".to_owned();
    let provider = WechatPayV3::new(&cfg, Clock::system()).expect("parses");
    match provider.create(&request("T4sign01", mini())).await {
        Err(ProviderError::Rejected(code)) => assert!(code.starts_with("SIGN_ERROR"), "{code}"),
        other => panic!("expected SIGN_ERROR, got {other:?}"),
    }
    let provider = WechatPayV3::new(&config(&sim), Clock::system()).expect("parses");
    let mut zero = request("T4zero01", mini());
    zero.amount = 0;
    match provider.create(&zero).await {
        Err(ProviderError::Rejected(code)) => assert!(code.starts_with("PARAM_ERROR"), "{code}"),
        other => panic!("expected PARAM_ERROR, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let mut cfg = WechatPayConfig {
        base_url: "http://127.0.0.1:9".to_owned(),
        ..config_without_sim()
    };
    cfg.timeout_ms = 2_000;
    let provider = WechatPayV3::new(&cfg, Clock::system()).expect("parses");
    assert!(matches!(
        provider.query("T5none01").await,
        Err(ProviderError::Unavailable(_))
    ));
}

fn config_without_sim() -> WechatPayConfig {
    WechatPayConfig {
        mchid: vector("mchid"),
        appid: APPID.to_owned(),
        merchant_serial: vector("merchant_serial_no"),
        merchant_private_key: Secret::new(vector("merchant_private_key_pem")),
        wechatpay_public_key: vector("wechatpay_public_key_pem"),
        wechatpay_public_key_id: vector("wechatpay_public_key_id"),
        apiv3_key: Secret::new(vector("apiv3_key")),
        notify_url: "https://merchant.example/wechatpay/notify".to_owned(),
        ..WechatPayConfig::default()
    }
}

#[test]
fn the_self_check_names_the_wrong_part() {
    let check = |tune: fn(&mut WechatPayConfig)| {
        let mut cfg = config_without_sim();
        tune(&mut cfg);
        WechatPayV3::new(&cfg, Clock::system()).map(|_| ())
    };
    assert!(check(|_| {}).is_ok());
    assert!(matches!(
        check(|c| c.merchant_private_key = Secret::new("-----BEGIN PRIVATE KEY-----\nnope\n")),
        Err(WechatPayConfigError::MerchantPrivateKey(_))
    ));
    assert!(matches!(
        check(|c| c.merchant_serial = String::new()),
        Err(WechatPayConfigError::MerchantSerialMissing)
    ));
    assert!(matches!(
        check(|c| c.apiv3_key = Secret::new("too-short")),
        Err(WechatPayConfigError::ApiV3Key(_))
    ));
    assert!(matches!(
        check(|c| c.apiv3_key = Secret::new(format!("{}\n", vector("apiv3_key")))),
        Err(WechatPayConfigError::ApiV3Key(_))
    ));
    assert!(matches!(
        check(|c| c.wechatpay_public_key = "not a key".to_owned()),
        Err(WechatPayConfigError::WechatPayPublicKey(_))
    ));
    assert!(matches!(
        check(|c| c.wechatpay_public_key_id = String::new()),
        Err(WechatPayConfigError::WechatPayPublicKeyIdMissing)
    ));
    assert!(matches!(
        check(|c| c.mchid = "abc".to_owned()),
        Err(WechatPayConfigError::Mchid(_))
    ));
    assert!(matches!(
        check(|c| c.notify_url = "merchant.example/notify".to_owned()),
        Err(WechatPayConfigError::NotifyUrl(_))
    ));
    // Secrets never show in Debug, nor in an error message.
    let cfg = config_without_sim();
    let shown = format!("{cfg:?}");
    assert!(!shown.contains(&vector("apiv3_key")));
    assert!(!shown.contains("MIIEv"));
    let provider = WechatPayV3::new(&cfg, Clock::system()).expect("parses");
    let shown = format!("{provider:?}");
    assert!(!shown.contains(&vector("apiv3_key")));
    assert!(!shown.contains("MIIEv"));
}

#[test]
fn the_settings_choose_wechatpay_with_file_secrets() {
    use checkout_guard_server::config::load::{from_sources, LoadError};
    use checkout_guard_server::ProviderKind;
    use std::collections::HashMap;

    let dir = std::env::temp_dir().join(format!(
        "cg-wechatpay-settings-{}-{}",
        std::process::id(),
        checkout_guard_server::ids::random_token(8)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let key = write("apiclient_key.pem", &vector("merchant_private_key_pem"));
    let public = write("pub_key.pem", &vector("wechatpay_public_key_pem"));
    // One trailing newline, as an editor leaves it: dropped by the `_file` loader.
    let apiv3 = write("apiv3.key", &format!("{}\n", vector("apiv3_key")));
    let toml = |apiv3: &str| {
        format!(
            "profile = \"demo\"\nprovider = \"wechatpay\"\nwechatpay_mchid = \"{}\"\n\
             wechatpay_appid = \"{APPID}\"\nwechatpay_merchant_serial = \"{}\"\n\
             wechatpay_merchant_private_key_file = \"{key}\"\nwechatpay_public_key_file = \"{public}\"\n\
             wechatpay_public_key_id = \"{}\"\nwechatpay_apiv3_key_file = \"{apiv3}\"\n\
             wechatpay_notify_url = \"https://merchant.example/wechatpay/notify\"\n",
            vector("mchid"),
            vector("merchant_serial_no"),
            vector("wechatpay_public_key_id"),
        )
    };
    let file = write("server.toml", &toml(&apiv3));
    let config = from_sources(["server", "--config", &file], &HashMap::new()).expect("loads");
    assert_eq!(config.provider, ProviderKind::WechatPay);
    let wechatpay = config.wechatpay.expect("wechatpay settings");
    assert_eq!(wechatpay.base_url, "https://api.mch.weixin.qq.com");
    assert_eq!(wechatpay.mchid, vector("mchid"));
    assert_eq!(wechatpay.apiv3_key.expose(), vector("apiv3_key"));

    let short = write("short.key", "0123456789");
    let file = write("bad.toml", &toml(&short));
    match from_sources(["server", "--config", &file], &HashMap::new()) {
        Err(LoadError::Config(err)) => {
            assert_eq!(err.setting, "wechatpay");
            assert!(err.why.contains("apiv3_key"), "{}", err.why);
            assert!(
                !err.why.contains("0123456789"),
                "the secret stays out: {}",
                err.why
            );
        }
        other => panic!("expected the APIv3 key to be named, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn notify_vector() -> (Vec<(String, String)>, String, i64) {
    let v: Value = serde_json::from_str(VECTORS).expect("vector file is JSON");
    let n = &v["notify"];
    let headers: Vec<(String, String)> = n["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("header").to_owned()))
        .collect();
    let at: i64 = n["headers"]["Wechatpay-Timestamp"]
        .as_str()
        .expect("timestamp")
        .parse()
        .expect("seconds");
    (headers, n["body"].as_str().expect("body").to_owned(), at)
}

#[test]
fn a_notify_opens_only_when_signed_fresh_and_intact() {
    let (headers, body, at) = notify_vector();
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let provider = WechatPayV3::new(&config_without_sim(), Clock::manual(at * 1000)).expect("ok");
    let notified = provider
        .open_notify(lookup, body.as_bytes())
        .expect("opens");
    assert_eq!(notified.attempt_id, "A20261201001x3f9c2");
    assert_eq!(notified.payment.state, PaymentState::Paid);
    assert_eq!(notified.notify_id, "EV-2026120117051200001");

    let tampered = body.replace("EV-2026120117051200001", "EV-2026120117051200002");
    assert!(provider.open_notify(lookup, tampered.as_bytes()).is_err());
    // Replayed an hour later: stale.
    let later =
        WechatPayV3::new(&config_without_sim(), Clock::manual((at + 3600) * 1000)).expect("ok");
    assert!(later.open_notify(lookup, body.as_bytes()).is_err());
    // Unsigned, and a probe.
    assert!(provider.open_notify(|_| None, body.as_bytes()).is_err());
    let probe = |name: &str| {
        if name.eq_ignore_ascii_case("Wechatpay-Signature") {
            Some("WECHATPAY/SIGNTEST/abc")
        } else {
            lookup(name)
        }
    };
    assert!(provider.open_notify(probe, body.as_bytes()).is_err());
}

#[tokio::test]
async fn the_notify_endpoint_refuses_what_does_not_open() {
    let (headers, body, _) = notify_vector();
    let mut config = common::test_config();
    config.provider = checkout_guard_server::ProviderKind::WechatPay;
    config.wechatpay = Some(config_without_sim());
    config.settings.prepay_ttl_ms = 10 * 60 * 1000;
    let server = common::spawn_with(config).await;
    let url = format!("{}/api/wechatpay/notify", server.url);
    // The vector's notify is from 2026-12-01T09:05:13Z: stale on the system clock (or, on the
    // day itself, valid for an attempt this server never made). Either way nothing is paid.
    let mut replayed = server.client.post(&url).body(body.clone());
    for (k, v) in &headers {
        replayed = replayed.header(k.as_str(), v.as_str());
    }
    let status = replayed.send().await.expect("reply").status().as_u16();
    assert_ne!(
        status, 204,
        "a replayed notify is not acknowledged as applied"
    );
    let unsigned = server
        .client
        .post(&url)
        .body(body)
        .send()
        .await
        .expect("reply");
    assert_eq!(unsigned.status(), 401);

    // On the in-process provider, there is no WeChat Pay notify endpoint.
    let sim_server = common::spawn_in_process(common::test_config()).await;
    let reply = sim_server
        .client
        .post(format!("{}/api/wechatpay/notify", sim_server.url))
        .body("{}")
        .send()
        .await
        .expect("reply");
    assert_eq!(reply.status(), 404);
}
