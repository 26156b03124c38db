//! The platform-certificate verification mode (issue 14) against the WeChat Pay v3 simulator
//! in certificate mode: certificates configured as files or downloaded from
//! `GET /v3/certificates`, a rotation mid-run (published, learned by the periodic refresh,
//! then signing), a serial nobody published (never a fact), both modes at once, and the
//! start-up self-check naming the wrong setting.

mod common;

use checkout_guard_server::clock::Clock;
use checkout_guard_server::provider::wechatpay::{
    NotifyRefusal, WechatPayConfig, WechatPayConfigError, WechatPayV3,
};
use checkout_guard_server::provider::{
    PaymentState, PrepayRequest, Provider, ProviderError, Scene,
};
use checkout_guard_server::{ProviderKind, Secret};
use checkout_guard_wechatpay::{
    Certificate, JsapiPayParams, NotifyError, PrivateKey, UnixSeconds, VerifyError,
};
use checkout_guard_wechatpay_sim::{start, Config, RunningSim, SigningMode};
use common::{new_key, spawn_with, test_config, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const VECTORS: &str = include_str!("../../wechatpay/tests/vectors/wechatpay-v3.json");
const GO_SDK: &str = include_str!("../../wechatpay/tests/vectors/wechatpay-v3-notify.json");
const APPID: &str = "wxd678efh567hg6787";
const API_KEY: &str = "business-key-wechatpay-0001";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";

fn vector(name: &str) -> String {
    let v: Value = serde_json::from_str(VECTORS).expect("vector file is JSON");
    v[name].as_str().expect("string field").to_owned()
}

fn go_sdk() -> Value {
    serde_json::from_str(GO_SDK).expect("vector file is JSON")
}

fn platform_key(name: &str) -> PrivateKey {
    let pem = match name {
        "a" => include_str!("../../wechatpay/tests/keys/platform-a.pem"),
        "b" => include_str!("../../wechatpay/tests/keys/platform-b.pem"),
        _ => include_str!("../../wechatpay/tests/keys/platform-c.pem"),
    };
    PrivateKey::from_pem(pem).expect("test key")
}

/// The simulator in certificate mode: the first certificate over key `a`, rotations take
/// `b` then `c` (no key generation in a debug build).
async fn sim() -> RunningSim {
    let mut config = Config::from_test_vectors().expect("the test vectors");
    config.wechatpay_key = Some(platform_key("a"));
    config.signing = SigningMode::Certificates;
    config.spare_keys = vec![platform_key("b"), platform_key("c")];
    config.notify_time_scale = 0.01;
    start(config).await.expect("the simulator starts")
}

/// A merchant in certificate mode, with no public key: `files` configured, downloading when
/// `refresh_secs` is given.
fn config(
    base_url: &str,
    files: Vec<(String, String)>,
    refresh_secs: Option<u64>,
) -> WechatPayConfig {
    WechatPayConfig {
        base_url: base_url.to_owned(),
        mchid: vector("mchid"),
        appid: APPID.to_owned(),
        merchant_serial: vector("merchant_serial_no"),
        merchant_private_key: Secret::new(vector("merchant_private_key_pem")),
        wechatpay_public_key: String::new(),
        wechatpay_public_key_id: String::new(),
        platform_certificates: files,
        download_certificates: refresh_secs.is_some(),
        certificates_refresh_secs: refresh_secs.unwrap_or(3600),
        apiv3_key: Secret::new(vector("apiv3_key")),
        notify_url: "http://127.0.0.1:9/wechatpay/notify".to_owned(),
        ..WechatPayConfig::default()
    }
}

fn request(no: &str) -> PrepayRequest {
    PrepayRequest {
        attempt_id: no.to_owned(),
        order_no: format!("O{no}"),
        amount: 100,
        scene: Scene::MiniProgram {
            openid: OPENID.to_owned(),
        },
        ttl_ms: 2 * 60 * 60 * 1000,
    }
}

fn prepay_id(params: &serde_json::Map<String, Value>) -> String {
    let launch: JsapiPayParams =
        serde_json::from_value(Value::Object(params.clone())).expect("JSAPI params");
    launch.prepay_id().expect("prepay_id=").to_owned()
}

async fn confirm(sim: &RunningSim, prepay_id: &str) {
    let reply = reqwest::Client::new()
        .post(format!("{}/sim/wallet/{prepay_id}/confirm", sim.base_url()))
        .header("accept", "application/json")
        .send()
        .await
        .expect("wallet");
    assert_eq!(reply.status(), 200);
}

fn first_certificate(sim: &RunningSim) -> (String, String) {
    let certs = sim.platform_certificates();
    ("sim.pem".to_owned(), certs[0].to_pem().to_owned())
}

#[tokio::test]
async fn a_configured_certificate_file_verifies_and_an_unknown_serial_stays_unknown() {
    let sim = sim().await;
    let provider = WechatPayV3::new(
        &config(sim.base_url(), vec![first_certificate(&sim)], None),
        Clock::system(),
    )
    .expect("self-check passes");
    let created = provider.create(&request("C1file01")).await.expect("create");
    assert_eq!(
        provider.query("C1file01").await.map(|p| p.state),
        Ok(PaymentState::NotPaid)
    );
    // WeChat Pay rotates; this merchant neither downloads nor updated its file.
    let next = sim.publish_certificate(true).await.expect("publish");
    sim.sign_with(&next).expect("switch");
    confirm(&sim, &prepay_id(&created.params)).await;
    assert!(
        matches!(provider.query("C1file01").await, Err(ProviderError::Unavailable(m)) if m.contains(&next)),
        "a paid order's query signed by an unknown serial is unknown, never Paid"
    );
    assert!(matches!(
        provider.close("C1file01").await,
        Err(ProviderError::Unavailable(_))
    ));
    assert!(
        matches!(
            provider.query("C1none01").await,
            Err(ProviderError::Unavailable(_))
        ),
        "ORDER_NOT_EXIST signed by an unknown serial is not NotFound"
    );
    // The file updated (old and new certificate in one file): the truth is back.
    let both: String = sim
        .platform_certificates()
        .iter()
        .map(|c| c.to_pem().to_owned())
        .collect();
    let updated = WechatPayV3::new(
        &config(sim.base_url(), vec![("both.pem".to_owned(), both)], None),
        Clock::system(),
    )
    .expect("self-check passes");
    assert_eq!(
        updated.query("C1file01").await.map(|p| p.state),
        Ok(PaymentState::Paid)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_rotation_is_learned_by_the_periodic_refresh_before_the_switch() {
    let sim = sim().await;
    // Nothing configured: the first download bootstraps (trusted by the APIv3 key's AEAD and
    // the list's own signature); refreshed every second.
    let provider = WechatPayV3::new(
        &config(sim.base_url(), Vec::new(), Some(1)),
        Clock::system(),
    )
    .expect("self-check passes");
    let created = provider.create(&request("C2rota01")).await.expect("create");
    let first = sim.wechatpay_serial().to_owned();
    assert!(provider.keys().get(&first).is_some());

    // Step 1: published, not yet signing. The background refresh learns it without any call.
    let next = sim.publish_certificate(true).await.expect("publish");
    let mut learned = false;
    for _ in 0..60 {
        if provider.keys().get(&next).is_some() {
            learned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        learned,
        "the refresh learned {next} before WeChat Pay signs with it"
    );

    // Step 2: the switch. The reply signed by the new certificate is accepted.
    sim.sign_with(&next).expect("switch");
    confirm(&sim, &prepay_id(&created.params)).await;
    assert_eq!(
        provider.query("C2rota01").await.map(|p| p.state),
        Ok(PaymentState::Paid)
    );
    // Step 3: the old one dropped; the next download forgets it too.
    sim.drop_certificate(&first).expect("drop");
    for _ in 0..60 {
        if provider.keys().get(&first).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(provider.keys().get(&first).is_none());

    // A certificate nobody published signs: a download is tried, and it stays unknown.
    provider.create(&request("C2hide01")).await.expect("create");
    let hidden = sim.publish_certificate(false).await.expect("add");
    sim.sign_with(&hidden).expect("switch");
    assert!(
        matches!(
            provider.close("C2hide01").await,
            Err(ProviderError::Unavailable(_))
        ),
        "a close signed by an unpublished serial is not a close"
    );
    assert!(
        matches!(
            provider.query("C2rota01").await,
            Err(ProviderError::Unavailable(_))
        ),
        "nor is a paid order's query a payment"
    );
    sim.sign_with(&next).expect("back");
    assert_eq!(
        provider.query("C2hide01").await.map(|p| p.state),
        Ok(PaymentState::Closed),
        "the close did happen: only its reply was unbelievable"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_serial_makes_one_download_and_is_then_verified() {
    let sim = sim().await;
    // Downloads hourly: only the unknown serial can make it download again in this test.
    let provider = WechatPayV3::new(
        &config(sim.base_url(), Vec::new(), Some(3600)),
        Clock::system(),
    )
    .expect("self-check passes");
    provider.refresh_certificates().await;
    provider.create(&request("C3once01")).await.expect("create");
    let next = sim.publish_certificate(true).await.expect("publish");
    sim.sign_with(&next).expect("switch at once, no notice");
    assert_eq!(
        provider.query("C3once01").await.map(|p| p.state),
        Ok(PaymentState::NotPaid),
        "verified after the one download the unknown serial triggered"
    );
    sim.shutdown().await;
}

#[test]
fn the_go_sdk_notify_verifies_with_its_platform_certificate_as_a_file() {
    let go = go_sdk();
    let at: i64 = go["now_unix"].as_i64().expect("now_unix");
    let headers: Vec<(String, String)> = go["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("header").to_owned()))
        .collect();
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let body = go["body"].as_str().expect("body").to_owned();
    let file = (
        "wechatpay_D7CE59D1F522D701.pem".to_owned(),
        go["platform_certificate_pem"]
            .as_str()
            .expect("pem")
            .to_owned(),
    );
    let mut both = config("https://api.mch.weixin.qq.com", vec![file], None);
    // Both modes at once, as during WeChat Pay's migration.
    both.wechatpay_public_key = vector("wechatpay_public_key_pem");
    both.wechatpay_public_key_id = vector("wechatpay_public_key_id");
    let provider = WechatPayV3::new(&both, Clock::manual(at * 1000)).expect("self-check passes");
    let serials: Vec<String> = provider.keys().serials().map(str::to_owned).collect();
    assert!(
        serials.contains(&"D7CE59D1F522D701".to_owned()),
        "{serials:?}"
    );
    assert!(
        serials.contains(&vector("wechatpay_public_key_id")),
        "{serials:?}"
    );
    // The signature verifies with the certificate; only the decryption fails, because the
    // vector's APIv3 key (16 bytes) is not a merchant's (the self-check requires 32).
    match provider.open_notify(lookup, body.as_bytes()) {
        Err(NotifyRefusal::Open(NotifyError::Aead(_))) => {}
        other => panic!("expected the signature to pass and the AEAD to fail, got {other:?}"),
    }
    // Without the certificate, the same notify names an unknown serial.
    let mut public_only = both.clone();
    public_only.platform_certificates.clear();
    let provider = WechatPayV3::new(&public_only, Clock::manual(at * 1000)).expect("ok");
    match provider.open_notify(lookup, body.as_bytes()) {
        Err(NotifyRefusal::Open(NotifyError::Verify(VerifyError::UnknownSerial(s)))) => {
            assert_eq!(s, "D7CE59D1F522D701")
        }
        other => panic!("expected an unknown serial, got {other:?}"),
    }
}

#[test]
fn the_self_check_names_the_certificate_setting_that_is_wrong() {
    let base = "https://api.mch.weixin.qq.com";
    let now = Clock::manual(1_795_431_300_000);
    let check = |cfg: WechatPayConfig| WechatPayV3::new(&cfg, now.clone()).map(|_| ());
    assert!(matches!(
        check(config(base, Vec::new(), None)),
        Err(WechatPayConfigError::NoVerificationKey)
    ));
    assert!(
        check(config(base, Vec::new(), Some(3600))).is_ok(),
        "download alone is enough"
    );
    assert!(matches!(
        check(config(base, Vec::new(), Some(0))),
        Err(WechatPayConfigError::CertificatesRefresh)
    ));
    let bad = vec![(
        "/etc/wechatpay/cert.pem".to_owned(),
        vector("wechatpay_public_key_pem"),
    )];
    match check(config(base, bad, None)) {
        Err(err @ WechatPayConfigError::PlatformCertificate { .. }) => {
            let text = err.to_string();
            assert!(text.contains("/etc/wechatpay/cert.pem"), "{text}");
            assert!(text.contains("BEGIN PUBLIC KEY"), "{text}");
        }
        other => panic!("expected a bad certificate, got {other:?}"),
    }
    let expired = Certificate::issue_self_signed(
        &platform_key("c"),
        &[0x0E, 0x0D],
        "Expired",
        UnixSeconds(1_600_000_000),
        UnixSeconds(1_700_000_000),
    )
    .expect("issues");
    let files = vec![("old.pem".to_owned(), expired.to_pem().to_owned())];
    match check(config(base, files, None)) {
        Err(WechatPayConfigError::PlatformCertificateExpired { origin, serial, .. }) => {
            assert_eq!((origin.as_str(), serial.as_str()), ("old.pem", "E0D"));
        }
        other => panic!("expected an expired certificate, got {other:?}"),
    }
    let mut no_id = config(base, Vec::new(), Some(3600));
    no_id.wechatpay_public_key_id = "PUB_KEY_ID_0119000001092025".to_owned();
    assert!(matches!(
        check(no_id),
        Err(WechatPayConfigError::WechatPayPublicKeyMissing)
    ));
}

#[test]
fn the_settings_load_certificate_files_folders_and_a_second_public_key() {
    use checkout_guard_server::config::load::{from_sources, LoadError};
    use std::collections::HashMap;

    let dir = common::temp_dir("wechatpay-certs");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let key = write("apiclient_key.pem", &vector("merchant_private_key_pem"));
    let apiv3 = write("apiv3.key", &vector("apiv3_key"));
    let go_pem = go_sdk()["platform_certificate_pem"]
        .as_str()
        .expect("pem")
        .to_owned();
    let next = Certificate::issue_self_signed(
        &platform_key("b"),
        &[0x4E, 0x58],
        "Next",
        UnixSeconds(1_700_000_000),
        UnixSeconds(4_000_000_000),
    )
    .expect("issues");
    std::fs::create_dir_all(dir.join("certs")).expect("folder");
    write("certs/wechatpay_D7CE59D1F522D701.pem", &go_pem);
    write("certs/wechatpay_4E58.pem", next.to_pem());
    write("certs/README.txt", "not a certificate: skipped");
    let pub_key = write("pub_key.pem", &vector("wechatpay_public_key_pem"));
    let pub_key_2 = write("pub_key_2.pem", &vector("merchant_public_key_pem"));
    let toml = |extra: &str| {
        format!(
            "profile = \"demo\"\nprovider = \"wechatpay\"\nwechatpay_mchid = \"{}\"\n\
             wechatpay_appid = \"{APPID}\"\nwechatpay_merchant_serial = \"{}\"\n\
             wechatpay_merchant_private_key_file = \"{key}\"\n\
             wechatpay_apiv3_key_file = \"{apiv3}\"\n\
             wechatpay_notify_url = \"https://merchant.example/wechatpay/notify\"\n{extra}",
            vector("mchid"),
            vector("merchant_serial_no"),
        )
    };
    let load = |name: &str, extra: &str| {
        let file = write(name, &toml(extra));
        from_sources(["server", "--config", &file], &HashMap::new())
    };
    let folder = dir.join("certs").display().to_string();

    // A folder of certificates, a second public key, downloading on: all at once.
    let config = load(
        "all.toml",
        &format!(
            "wechatpay_platform_certificates_file = [\"{folder}\"]\n\
             wechatpay_public_key_file = \"{pub_key}\"\n\
             wechatpay_public_key_id = \"PUB_KEY_ID_0119000001092025010100000000000\"\n\
             wechatpay_extra_public_key_file = \"{pub_key_2}\"\n\
             wechatpay_extra_public_key_id = \"PUB_KEY_ID_0119000001092026010100000000000\"\n\
             wechatpay_download_certificates = true\n\
             wechatpay_certificates_refresh_secs = 600\n"
        ),
    )
    .expect("loads");
    let wechatpay = config.wechatpay.expect("wechatpay settings");
    assert_eq!(wechatpay.platform_certificates.len(), 2);
    assert!(wechatpay.download_certificates);
    assert_eq!(wechatpay.certificates_refresh_secs, 600);
    let provider = WechatPayV3::new(&wechatpay, Clock::system()).expect("builds");
    let serials: Vec<String> = provider.keys().serials().map(str::to_owned).collect();
    for serial in [
        "D7CE59D1F522D701",
        "4E58",
        "PUB_KEY_ID_0119000001092025010100000000000",
        "PUB_KEY_ID_0119000001092026010100000000000",
    ] {
        assert!(
            serials.contains(&serial.to_owned()),
            "{serial} in {serials:?}"
        );
    }
    drop(provider);

    // The certificates as text in the environment.
    let env = HashMap::from([(
        "CG_WECHATPAY_PLATFORM_CERTIFICATES".to_owned(),
        go_pem.clone(),
    )]);
    let file = write("env.toml", &toml(""));
    let config = from_sources(["server", "--config", &file], &env).expect("loads");
    assert_eq!(
        config
            .wechatpay
            .expect("wechatpay")
            .platform_certificates
            .len(),
        1
    );

    let refused = |name: &str, extra: &str| match load(name, extra) {
        Err(LoadError::Config(err)) => (err.setting.to_string(), err.why),
        other => panic!("expected a refusal for {name}, got {other:?}"),
    };
    let (setting, why) = refused("none.toml", "");
    assert_eq!(setting, "wechatpay");
    assert!(why.contains("no key to verify"), "{why}");
    let (setting, why) = refused(
        "missing.toml",
        &format!("wechatpay_platform_certificates_file = \"{folder}/nope.pem\"\n"),
    );
    assert_eq!(setting, "wechatpay_platform_certificates_file");
    assert!(why.contains("nope.pem"), "{why}");
    let (setting, why) = refused(
        "notcert.toml",
        &format!("wechatpay_platform_certificates_file = \"{pub_key}\"\n"),
    );
    assert_eq!(setting, "wechatpay");
    assert!(
        why.contains("pub_key.pem") && why.contains("not usable"),
        "{why}"
    );
    let (setting, _) = refused(
        "noid.toml",
        &format!("wechatpay_extra_public_key_file = \"{pub_key_2}\"\nwechatpay_download_certificates = true\n"),
    );
    assert_eq!(setting, "wechatpay_extra_public_key_id");
    let (setting, _) = refused(
        "twice.toml",
        &format!(
            "wechatpay_platform_certificates_file = \"{folder}\"\n\
             wechatpay_platform_certificates = \"{}\"\n",
            go_pem.replace('\n', "\\n")
        ),
    );
    assert_eq!(setting, "wechatpay_platform_certificates");
    let (setting, _) = refused("bool.toml", "wechatpay_download_certificates = \"often\"\n");
    assert_eq!(setting, "wechatpay_download_certificates");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- the whole payment center ----------------------------------------------------------------

/// The payment center on the simulator in certificate mode: the first certificate as a file,
/// downloading every second.
async fn server(sim: &RunningSim) -> TestServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut config = test_config();
    config.listen = format!("127.0.0.1:{port}").parse().expect("address");
    config.provider = ProviderKind::WechatPay;
    config.settings.prepay_ttl_ms = 10 * 60 * 1000;
    config.api_keys = vec![Secret::new(API_KEY)];
    let mut wechatpay = self::config(sim.base_url(), vec![first_certificate(sim)], Some(1));
    wechatpay.notify_url = format!("http://127.0.0.1:{port}/api/wechatpay/notify");
    config.wechatpay = Some(wechatpay);
    spawn_with(config).await
}

async fn register(server: &TestServer, order: &str) -> String {
    let reply = server
        .client
        .post(server.at("/v1/business/orders"))
        .bearer_auth(API_KEY)
        .json(&json!({"orderNo": order, "amount": 1999, "currency": "CNY",
            "description": "Tea", "scene": "miniprogram", "payerId": OPENID}))
        .send()
        .await
        .expect("send");
    assert_eq!(reply.status(), 201);
    let body: Value = reply.json().await.expect("json");
    body["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned()
}

async fn wait_paid(server: &TestServer, order: &str, tries: u32) -> Value {
    let mut dump = Value::Null;
    for _ in 0..tries {
        dump = server.dump(order).await;
        if dump["order"]["paidAttempt"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    dump
}

#[tokio::test]
async fn the_whole_payment_on_certificates_with_a_rotation_mid_run() {
    let sim = sim().await;
    let server = server(&sim).await;

    // Created while the first certificate signs.
    let fp = register(&server, "WXCERT-0001").await;
    let created = server.pay("WXCERT-0001", &new_key(), &fp).await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    let launch: JsapiPayParams =
        serde_json::from_value(created.body["prepay"].clone()).expect("JSAPI parameters");
    let first_prepay = launch.prepay_id().expect("prepay_id").to_owned();

    // WeChat Pay publishes the next certificate; the server's refresh learns it; then WeChat
    // Pay signs with it. The notify of the payment is signed by the new certificate.
    let next = sim.publish_certificate(true).await.expect("publish");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    sim.sign_with(&next).expect("switch");
    confirm(&sim, &first_prepay).await;
    let dump = wait_paid(&server, "WXCERT-0001", 100).await;
    assert_eq!(
        dump["order"]["paidAttempt"], created.body["attemptId"],
        "{dump}"
    );
    assert_eq!(dump["stats"]["notifiesReceived"], 1, "{dump}");

    // A certificate WeChat Pay never published signs the next payment's notify and queries:
    // the order is never taken as paid (nor as dead) on its word.
    let fp = register(&server, "WXCERT-0002").await;
    let created = server.pay("WXCERT-0002", &new_key(), &fp).await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    let launch: JsapiPayParams =
        serde_json::from_value(created.body["prepay"].clone()).expect("JSAPI parameters");
    let hidden = sim.publish_certificate(false).await.expect("add");
    sim.sign_with(&hidden).expect("switch");
    confirm(&sim, launch.prepay_id().expect("prepay_id")).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let status = server.status("WXCERT-0002").await;
    assert_ne!(status.body["status"], "paid", "{:?}", status.body);
    assert_ne!(status.body["status"], "closed", "{:?}", status.body);
    let dump = server.dump("WXCERT-0002").await;
    assert!(dump["order"]["paidAttempt"].is_null(), "{dump}");
    assert_eq!(dump["stats"]["notifiesReceived"], 0, "{dump}");

    // Signed by a known certificate again: WeChat Pay's retry of the notify is believed.
    sim.sign_with(&next).expect("back");
    let dump = wait_paid(&server, "WXCERT-0002", 200).await;
    assert_eq!(
        dump["order"]["paidAttempt"], created.body["attemptId"],
        "{dump}"
    );
    let charges: Value = reqwest::get(format!("{}/sim/admin/stats/WXCERT-0002", sim.base_url()))
        .await
        .expect("sim")
        .json()
        .await
        .expect("json");
    assert_eq!(charges["charges"], 1, "{charges}");
    server.server.shutdown().await;
    sim.shutdown().await;
}
