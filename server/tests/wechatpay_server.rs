//! The whole payment center on `provider = wechatpay`, against the WeChat Pay v3 simulator
//! over HTTP (issue 14): orders registered through the business API in each scene get the
//! prepay their client launches (JSAPI `wx.requestPayment` parameters with a `paySign` that
//! verifies, a Native `codeUrl`, an H5 `h5Url` made with the buyer's IP), a payment in the
//! simulator's wallet reaches the payment center through the signed, encrypted notify, and a
//! change of scene closes the old scene's attempt at WeChat Pay before a new one exists.

mod common;

use checkout_guard_server::provider::wechatpay::WechatPayConfig;
use checkout_guard_server::{ProviderKind, Secret};
use checkout_guard_wechatpay::{JsapiPayParams, PublicKey};
use checkout_guard_wechatpay_sim::{start, Config, RunningSim};
use common::{new_key, spawn_with, test_config, Reply, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const VECTORS: &str = include_str!("../../wechatpay/tests/vectors/wechatpay-v3.json");
const APPID: &str = "wxd678efh567hg6787";
const API_KEY: &str = "business-key-wechatpay-0001";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";

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

/// The payment center on WeChat Pay (the simulator), its notify URL its own.
async fn server(sim: &RunningSim) -> TestServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut config = test_config();
    config.listen = format!("127.0.0.1:{port}").parse().expect("address");
    config.provider = ProviderKind::WechatPay;
    // WeChat Pay refuses a `time_expire` less than a minute away.
    config.settings.prepay_ttl_ms = 10 * 60 * 1000;
    config.api_keys = vec![Secret::new(API_KEY)];
    config.wechatpay = Some(WechatPayConfig {
        base_url: sim.base_url().to_owned(),
        mchid: vector("mchid"),
        appid: APPID.to_owned(),
        merchant_serial: vector("merchant_serial_no"),
        merchant_private_key: Secret::new(vector("merchant_private_key_pem")),
        wechatpay_public_key: vector("wechatpay_public_key_pem"),
        wechatpay_public_key_id: vector("wechatpay_public_key_id"),
        apiv3_key: Secret::new(vector("apiv3_key")),
        notify_url: format!("http://127.0.0.1:{port}/api/wechatpay/notify"),
        ..WechatPayConfig::default()
    });
    spawn_with(config).await
}

/// Registers (or, with `change`, changes) a business order; its reply.
async fn terms(server: &TestServer, order: &str, extra: Value, change: bool) -> Reply {
    let mut body = json!({"amount": 1999, "currency": "CNY", "description": "Tea"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let req = if change {
        server
            .client
            .put(server.at(&format!("/v1/business/orders/{order}")))
    } else {
        body["orderNo"] = json!(order);
        server.client.post(server.at("/v1/business/orders"))
    };
    Reply::from(
        req.bearer_auth(API_KEY)
            .json(&body)
            .send()
            .await
            .expect("send"),
    )
    .await
}

async fn pay(server: &TestServer, order: &str, fp: &str) -> Value {
    let reply = server.pay(order, &new_key(), fp).await;
    assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
    reply.body
}

async fn sim_json(sim: &RunningSim, path: &str) -> Value {
    reqwest::get(format!("{}{path}", sim.base_url()))
        .await
        .expect("sim")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn each_scene_gets_the_prepay_its_client_launches_and_a_payment_arrives_by_notify() {
    let sim = sim().await;
    let server = server(&sim).await;
    let merchant_public = PublicKey::from_pem(&vector("merchant_public_key_pem")).expect("pk");

    // A mini-program order: the full `wx.requestPayment` set, no appId, paySign verifying.
    let mini = terms(
        &server,
        "WXMINI-0001",
        json!({"scene": "miniprogram", "payerId": OPENID}),
        false,
    )
    .await;
    assert_eq!(mini.status.as_u16(), 201, "{:?}", mini.body);
    let fp = mini.body["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    let created = pay(&server, "WXMINI-0001", &fp).await;
    let launch: JsapiPayParams =
        serde_json::from_value(created["prepay"].clone()).expect("JSAPI parameters");
    launch
        .verify(&merchant_public, APPID)
        .expect("paySign verifies");
    assert!(created["prepay"].get("appId").is_none(), "{created}");
    let prepay_id = launch.prepay_id().expect("package=prepay_id=…").to_owned();

    // Official account: the same set with appId.
    let oa = terms(
        &server,
        "WXJSAPI-001",
        json!({"scene": "jsapi", "payerId": OPENID}),
        false,
    )
    .await;
    let oa = pay(
        &server,
        "WXJSAPI-001",
        oa.body["fingerprint"].as_str().expect("fp"),
    )
    .await;
    assert_eq!(oa["prepay"]["appId"], APPID, "{oa}");

    // Native: a code URL to draw as a QR code; H5: a URL made with the buyer's address.
    let native = terms(&server, "WXNATIVE-01", json!({}), false).await;
    let native = pay(
        &server,
        "WXNATIVE-01",
        native.body["fingerprint"].as_str().expect("fp"),
    )
    .await;
    assert!(
        native["prepay"]["codeUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("weixin://")),
        "{native}"
    );
    let h5 = terms(&server, "WXH5-000001", json!({"scene": "h5"}), false).await;
    let h5 = pay(
        &server,
        "WXH5-000001",
        h5.body["fingerprint"].as_str().expect("fp"),
    )
    .await;
    assert!(
        h5["prepay"]["h5Url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        "{h5}"
    );

    // A JSAPI scene without its payer is refused at registration, with the setting named.
    let no_payer = terms(
        &server,
        "WXMINI-0002",
        json!({"scene": "miniprogram"}),
        false,
    )
    .await;
    no_payer.assert_error(400, "invalid_body");
    assert!(no_payer.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("payerId")));

    // The buyer pays in the wallet; the notify (signed, encrypted) marks the order paid.
    let confirm = reqwest::Client::new()
        .post(format!("{}/sim/wallet/{prepay_id}/confirm", sim.base_url()))
        .header("accept", "application/json")
        .send()
        .await
        .expect("wallet");
    assert_eq!(confirm.status(), 200);
    let mut dump = Value::Null;
    for _ in 0..200 {
        dump = server.dump("WXMINI-0001").await;
        // The dump reads its parts one after another: wait for the paid mark itself.
        if dump["order"]["paidAttempt"].is_string()
            && dump["stats"]["notifiesReceived"].as_i64() >= Some(1)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(dump["stats"]["notifiesReceived"], 1, "{dump}");
    assert_eq!(dump["order"]["paidAttempt"], created["attemptId"], "{dump}");
    assert_eq!(dump["order"]["paidAmount"], 1999);
    let charges = sim_json(&sim, "/sim/admin/stats/WXMINI-0001").await;
    assert_eq!(charges["charges"], 1, "{charges}");
    server.server.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_change_of_scene_closes_the_old_scenes_attempt_at_wechat_pay_first() {
    let sim = sim().await;
    let server = server(&sim).await;
    let native = terms(&server, "WXSWITCH-01", json!({}), false).await;
    let first = pay(
        &server,
        "WXSWITCH-01",
        native.body["fingerprint"].as_str().expect("fp"),
    )
    .await;
    let old = first["attemptId"].as_str().expect("attemptId").to_owned();
    // The buyer opens the page in WeChat instead: the business system changes the scene.
    let changed = terms(
        &server,
        "WXSWITCH-01",
        json!({"scene": "miniprogram", "payerId": OPENID}),
        true,
    )
    .await;
    assert_eq!(changed.status.as_u16(), 200, "{:?}", changed.body);
    let closed = sim_json(&sim, &format!("/sim/admin/stats/out-trade-no/{old}")).await;
    assert_eq!(
        closed["closes"], 1,
        "closed at WeChat Pay before the change: {closed}"
    );
    let second = pay(
        &server,
        "WXSWITCH-01",
        changed.body["fingerprint"].as_str().expect("fp"),
    )
    .await;
    assert_ne!(second["attemptId"], first["attemptId"]);
    assert!(second["prepay"]["paySign"].is_string(), "{second}");
    server.server.shutdown().await;
    sim.shutdown().await;
}

#[test]
fn production_refuses_a_prepay_lifetime_wechat_pay_would_refuse() {
    let mut config = test_config();
    config.profile = checkout_guard_server::Profile::Production;
    config.api_keys = vec![Secret::new(API_KEY)];
    config.buyer_token_secret = Some(Secret::new("buyer-token-secret-0001"));
    config.provider = ProviderKind::WechatPay;
    config.settings.prepay_ttl_ms = 60_000;
    assert_eq!(
        config.validate().expect_err("too short").setting,
        "prepay_ttl_ms"
    );
    config.settings.prepay_ttl_ms = 2 * 60 * 60 * 1000;
    assert!(config.validate().is_ok());
}
