//! The simulator over real HTTP, driven as the payment center's `WechatPayV3` provider would
//! drive WeChat Pay: requests signed with the merchant key by `checkout-guard-wechatpay`, every
//! reply verified with the simulator's public key before it is believed, notifies verified and
//! decrypted by a small receiver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use checkout_guard_wechatpay::{
    open_certificate_download, open_notification, verify_response, ApiError, ApiV3Key,
    Authorization, Disposition, KeySet, Merchant, PrivateKey, PublicKey, RequestParts, UnixSeconds,
    VerifyError,
};
use checkout_guard_wechatpay_sim::{start, Config, MerchantConfig, RunningSim, SigningMode};
use serde_json::{json, Value};

const VECTORS: &str = include_str!("../../wechatpay/tests/vectors/wechatpay-v3.json");

fn vector(name: &str) -> String {
    let v: Value = serde_json::from_str(VECTORS).expect("vector file is JSON");
    v[name].as_str().expect("string field").to_owned()
}

fn now() -> UnixSeconds {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    UnixSeconds::from_millis(i64::try_from(ms).expect("ms"))
}

fn apiv3() -> ApiV3Key {
    ApiV3Key::new(vector("apiv3_key").as_bytes()).expect("APIv3 key")
}

struct Harness {
    sim: RunningSim,
    http: reqwest::Client,
    merchant: Merchant,
    keys: KeySet,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn error(&self) -> ApiError {
        ApiError::from_json(&self.body).expect("error body")
    }
    fn verify(&self, keys: &KeySet) -> Result<UnixSeconds, VerifyError> {
        let lookup = |name: &str| self.headers.get(name).and_then(|v| v.to_str().ok());
        verify_response(keys, lookup, &self.body, now())
    }
}

async fn harness(tune: impl FnOnce(&mut Config)) -> Harness {
    let merchant = Merchant {
        mchid: vector("mchid"),
        serial_no: vector("merchant_serial_no"),
        key: PrivateKey::from_pem(&vector("merchant_private_key_pem")).expect("merchant key"),
    };
    let mut config = Config::new(MerchantConfig {
        mchid: merchant.mchid.clone(),
        serial_no: merchant.serial_no.clone(),
        public_key: PublicKey::from_pem(&vector("merchant_public_key_pem")).expect("public"),
    });
    // The vectors' throwaway WeChat Pay key: generating one in a debug build is slow.
    config.wechatpay_key =
        Some(PrivateKey::from_pem(&vector("wechatpay_private_key_pem")).expect("wechatpay key"));
    config.apiv3_key = Some(apiv3());
    config.notify_time_scale = 0.01;
    tune(&mut config);
    let sim = start(config).await.expect("starts");
    let keys = sim.wechatpay_keys().expect("keys");
    Harness {
        sim,
        http: reqwest::Client::new(),
        merchant,
        keys,
    }
}

impl Harness {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        fault: Option<&str>,
    ) -> Reply {
        let body = body.map(Value::to_string).unwrap_or_default();
        let parts = RequestParts {
            method,
            path_and_query: path,
            body: body.as_bytes(),
        };
        let auth = Authorization::sign(
            &self.merchant,
            &parts,
            now(),
            "593BEC0C930BF1AFEB40B4A08C8FB242",
        )
        .expect("signs");
        self.raw(method, path, body, Some(auth.header_value()), fault)
            .await
            .expect("a reply")
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: String,
        authorization: Option<String>,
        fault: Option<&str>,
    ) -> Result<Reply, reqwest::Error> {
        let url = format!("{}{path}", self.sim.base_url());
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, url)
            .header("accept", "application/json")
            .timeout(Duration::from_secs(10));
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        if let Some(auth) = authorization {
            request = request.header("authorization", auth);
        }
        if let Some(fault) = fault {
            request = request.header("x-fault", fault);
        }
        let reply = request.send().await?;
        Ok(Reply {
            status: reply.status().as_u16(),
            headers: reply.headers().clone(),
            body: reply.bytes().await?.to_vec(),
        })
    }

    /// A verified reply: every test believes only what verifies.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let reply = self.send(method, path, body, None).await;
        reply.verify(&self.keys).expect("the reply verifies");
        reply
    }

    async fn create(&self, scene: &str, body: &Value) -> Reply {
        self.call("POST", &format!("/v3/pay/transactions/{scene}"), Some(body))
            .await
    }

    async fn query(&self, no: &str) -> Reply {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{no}?mchid={}",
            self.merchant.mchid
        );
        self.call("GET", &path, None).await
    }

    async fn close(&self, no: &str) -> Reply {
        let path = format!("/v3/pay/transactions/out-trade-no/{no}/close");
        self.call("POST", &path, Some(&json!({"mchid": self.merchant.mchid})))
            .await
    }

    async fn wallet(&self, id: &str, action: &str, fault: Option<&str>) -> (u16, Value) {
        let url = format!("{}/sim/wallet/{id}/{action}", self.sim.base_url());
        let mut request = self.http.post(url).header("accept", "application/json");
        if let Some(fault) = fault {
            request = request.header("x-fault", fault);
        }
        let reply = request.send().await.expect("wallet reply");
        (reply.status().as_u16(), reply.json().await.expect("JSON"))
    }

    async fn stats(&self, attach: &str) -> Value {
        let url = format!("{}/sim/admin/stats/{attach}", self.sim.base_url());
        self.http
            .get(url)
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("JSON")
    }

    fn order(&self, scene: &str, no: &str, notify_url: &str) -> Value {
        let mut body = json!({
            "appid": "wxd678efh567hg6787",
            "mchid": self.merchant.mchid,
            "description": "Image形象店-深圳腾大-QQ公仔",
            "out_trade_no": no,
            "notify_url": notify_url,
            "amount": {"total": 100, "currency": "CNY"},
            "attach": format!("O-{no}"),
        });
        match scene {
            "jsapi" => body["payer"] = json!({"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}),
            "h5" => {
                body["scene_info"] =
                    json!({"payer_client_ip": "14.23.150.211", "h5_info": {"type": "Wap"}})
            }
            _ => {}
        }
        body
    }
}

/// The wallet id of a create reply: the prepay id, or the `pr` token of a `code_url`.
fn wallet_id(reply: &Value) -> String {
    if let Some(id) = reply["prepay_id"].as_str() {
        return id.to_owned();
    }
    if let Some(url) = reply["code_url"].as_str() {
        return url.rsplit("pr=").next().expect("pr").to_owned();
    }
    let url = reply["h5_url"].as_str().expect("h5_url");
    let query = url.split_once("prepay_id=").expect("prepay_id").1;
    query.split('&').next().expect("id").to_owned()
}

/// A merchant notify endpoint that verifies and decrypts with the crate, answering 500 to the
/// first `failures` well-formed notifies.
#[derive(Clone)]
struct Receiver {
    url: String,
    opened: Arc<Mutex<Vec<(String, Value)>>>,
    tries: Arc<Mutex<u32>>,
}

async fn receiver(keys: KeySet, failures: u32) -> Receiver {
    let opened = Arc::new(Mutex::new(Vec::new()));
    let tries = Arc::new(Mutex::new(0u32));
    let (opened2, tries2) = (opened.clone(), tries.clone());
    let keys = Arc::new(keys);
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (opened, tries, keys) = (opened2.clone(), tries2.clone(), keys.clone());
            async move {
                let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                let Ok(notify) = open_notification(&keys, &apiv3(), lookup, &body, now()) else {
                    return StatusCode::UNAUTHORIZED;
                };
                let mut tries = tries.lock().expect("lock");
                *tries += 1;
                if *tries <= failures {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let tx: Value = serde_json::from_slice(&notify.plaintext).expect("transaction");
                opened
                    .lock()
                    .expect("lock")
                    .push((notify.notification.id, tx));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/notify", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, opened, tries }
}

impl Receiver {
    async fn wait_for(&self, count: usize) -> Vec<(String, Value)> {
        for _ in 0..200 {
            if self.opened.lock().expect("lock").len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.opened.lock().expect("lock").clone()
    }
}

#[tokio::test]
async fn create_query_and_close_in_every_scene() {
    let h = harness(|_| {}).await;
    for (scene, field, trade_type) in [
        ("jsapi", "prepay_id", "JSAPI"),
        ("native", "code_url", "NATIVE"),
        ("h5", "h5_url", "MWEB"),
    ] {
        let no = format!("{scene}-1234");
        let created = h
            .create(scene, &h.order(scene, &no, "https://m.example/n"))
            .await;
        assert_eq!(created.status, 200, "{scene}");
        let reply = created.json();
        assert!(reply[field].is_string(), "{scene}: {reply}");
        let query = h.query(&no).await;
        assert_eq!(query.status, 200);
        let tx = query.json();
        assert_eq!(tx["trade_state"], "NOTPAY");
        assert_eq!(tx["trade_type"], trade_type);
        assert_eq!(tx["attach"], format!("O-{no}"));
        assert_eq!(tx["amount"]["total"], 100);
        assert!(tx.get("transaction_id").is_none());
        let closed = h.close(&no).await;
        assert_eq!((closed.status, closed.body.len()), (204, 0));
        assert_eq!(h.close(&no).await.status, 204, "re-entrant");
        assert_eq!(h.query(&no).await.json()["trade_state"], "CLOSED");
        let stats = h.stats(&format!("O-{no}")).await;
        assert_eq!(
            (stats["closes"].as_u64(), stats["queries"].as_u64()),
            (Some(2), Some(2))
        );
    }
    assert!(
        h.create(
            "native",
            &h.order("native", "native-1234", "https://m.example/n")
        )
        .await
        .status
            == 403
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn same_parameters_give_the_same_prepay_and_changed_ones_the_duplicate_error() {
    let h = harness(|_| {}).await;
    let body = h.order("jsapi", "dup-0001", "https://m.example/n");
    let first = h.create("jsapi", &body).await.json();
    let second = h.create("jsapi", &body).await.json();
    assert_eq!(first["prepay_id"], second["prepay_id"]);
    let mut changed = body.clone();
    changed["amount"]["total"] = json!(101);
    let refused = h.create("jsapi", &changed).await;
    assert_eq!(refused.status, 400);
    let error = refused.error();
    assert_eq!(error.code, "INVALID_REQUEST");
    assert_eq!(error.disposition(refused.status), Disposition::NotUsable);
    let native = h.create("native", &body).await;
    assert_eq!(
        native.error().disposition(native.status),
        Disposition::NotUsable,
        "another scene is another parameter"
    );
    let stats = h.stats("O-dup-0001").await;
    assert_eq!(stats["prepayCalls"], 4);
    assert_eq!(stats["duplicatesRefused"], 2);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn malformed_input_is_param_error() {
    let h = harness(|_| {}).await;
    let good = h.order("jsapi", "param-001", "https://m.example/n");
    let mut cases = Vec::new();
    let mut short = good.clone();
    short["out_trade_no"] = json!("12345");
    cases.push(("jsapi", short));
    let mut no_payer = good.clone();
    no_payer.as_object_mut().expect("object").remove("payer");
    cases.push(("jsapi", no_payer));
    cases.push(("h5", h.order("native", "param-002", "https://m.example/n")));
    let mut bad_expire = good.clone();
    bad_expire["time_expire"] = json!("tomorrow");
    cases.push(("jsapi", bad_expire));
    let mut no_amount = good.clone();
    no_amount.as_object_mut().expect("object").remove("amount");
    cases.push(("jsapi", no_amount));
    for (scene, body) in cases {
        let reply = h.create(scene, &body).await;
        assert_eq!(
            (reply.status, reply.error().code.as_str()),
            (400, "PARAM_ERROR"),
            "{body}"
        );
        assert_eq!(reply.error().disposition(400), Disposition::Operator);
    }
    let unknown = h.query("never-created").await;
    assert_eq!(
        (unknown.status, unknown.error().code.as_str()),
        (404, "ORDER_NOT_EXIST")
    );
    assert_eq!(unknown.error().disposition(404), Disposition::NotFound);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_401_sign_error() {
    let h = harness(|_| {}).await;
    let body = h
        .order("native", "sign-0001", "https://m.example/n")
        .to_string();
    let path = "/v3/pay/transactions/native";
    let parts = RequestParts {
        method: "POST",
        path_and_query: path,
        body: body.as_bytes(),
    };
    let impostor = Merchant {
        key: PrivateKey::from_pem(&vector("wechatpay_private_key_pem")).expect("other key"),
        ..h.merchant.clone()
    };
    let forged = Authorization::sign(&impostor, &parts, now(), "n1")
        .expect("signs")
        .header_value();
    let genuine = Authorization::sign(&h.merchant, &parts, now(), "n2")
        .expect("signs")
        .header_value();
    let stale = Authorization::sign(&h.merchant, &parts, UnixSeconds(now().0 - 400), "n3")
        .expect("signs")
        .header_value();
    let tampered_body = body.replace("100", "1");
    for (auth, body) in [
        (Some(forged), body.clone()),
        (None, body.clone()),
        (Some(stale), body.clone()),
        (Some(genuine), tampered_body),
    ] {
        let reply = h.raw("POST", path, body, auth, None).await.expect("reply");
        assert_eq!(reply.status, 401);
        assert_eq!(reply.error().code, "SIGN_ERROR");
        reply.verify(&h.keys).expect("even a 401 is signed");
    }
    assert_eq!(
        h.query("sign-0001").await.status,
        404,
        "nothing was created"
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn replies_verify_with_the_simulators_key_and_tampered_ones_do_not() {
    let h = harness(|_| {}).await;
    let mut reply = h
        .create(
            "native",
            &h.order("native", "verify-01", "https://m.example/n"),
        )
        .await;
    assert_eq!(
        reply
            .headers
            .get("wechatpay-serial")
            .and_then(|v| v.to_str().ok()),
        Some(h.sim.wechatpay_serial())
    );
    assert!(h.sim.wechatpay_serial().starts_with("PUB_KEY_ID_"));
    reply.body.push(b' ');
    assert!(matches!(
        reply.verify(&h.keys),
        Err(VerifyError::Signature(_))
    ));
    let mut other = KeySet::new();
    other
        .insert(h.sim.wechatpay_serial(), h.merchant.key.public_key())
        .expect("serial");
    let fresh = h.query("verify-01").await;
    assert!(matches!(
        fresh.verify(&other),
        Err(VerifyError::Signature(_))
    ));
    let forged = h
        .send(
            "GET",
            "/v3/pay/transactions/out-trade-no/verify-01?mchid=1900000109",
            None,
            Some("bad-signature"),
        )
        .await;
    assert_eq!(forged.status, 200);
    assert!(matches!(
        forged.verify(&h.keys),
        Err(VerifyError::Signature(_))
    ));
    let unsigned = h
        .send(
            "GET",
            "/v3/pay/transactions/out-trade-no/verify-01?mchid=1900000109",
            None,
            Some("unsigned"),
        )
        .await;
    assert!(matches!(
        unsigned.verify(&h.keys),
        Err(VerifyError::MissingHeader(_))
    ));
    // The key a merchant would configure is served too.
    let pem = h
        .http
        .get(format!("{}/sim/wechatpay-public-key", h.sim.base_url()))
        .send()
        .await
        .expect("pem")
        .text()
        .await
        .expect("text");
    assert_eq!(
        &PublicKey::from_pem(&pem).expect("PEM"),
        h.sim.wechatpay_public_key()
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_confirmed_payment_succeeds_and_sends_one_encrypted_notify() {
    let h = harness(|_| {}).await;
    let rx = receiver(h.keys.clone(), 0).await;
    let created = h
        .create("jsapi", &h.order("jsapi", "pay-00001", &rx.url))
        .await
        .json();
    let id = wallet_id(&created);
    let (status, started) = h.wallet(&id, "start", None).await;
    assert_eq!(
        (status, started["tradeState"].as_str()),
        (200, Some("USERPAYING"))
    );
    assert_eq!(
        h.query("pay-00001").await.json()["trade_state"],
        "USERPAYING"
    );
    let (status, paid) = h.wallet(&id, "confirm", None).await;
    assert_eq!(
        (status, paid["tradeState"].as_str()),
        (200, Some("SUCCESS"))
    );
    let tx = h.query("pay-00001").await.json();
    assert_eq!(tx["trade_state"], "SUCCESS");
    assert_eq!(tx["transaction_id"], paid["transactionId"]);
    assert_eq!(tx["amount"]["payer_total"], 100);
    let notifies = rx.wait_for(1).await;
    assert_eq!(notifies.len(), 1);
    assert_eq!(
        notifies[0].1, tx,
        "the notify carries the transaction a query shows"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rx.opened.lock().expect("lock").len(),
        1,
        "acknowledged: not sent again"
    );
    let (status, again) = h.wallet(&id, "confirm", None).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (409, Some("already_paid"))
    );
    let stats = h.stats("O-pay-00001").await;
    assert_eq!(
        (stats["charges"].as_u64(), stats["paymentsRefused"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(stats["notifiesAcknowledged"], 1);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_notify_is_retried_until_acknowledged() {
    let h = harness(|_| {}).await;
    let rx = receiver(h.keys.clone(), 2).await;
    let created = h
        .create("native", &h.order("native", "retry-001", &rx.url))
        .await
        .json();
    let (status, _) = h.wallet(&wallet_id(&created), "confirm", None).await;
    assert_eq!(status, 200);
    // Scaled by 0.01: tries at 0, 150 ms and 300 ms.
    let notifies = rx.wait_for(1).await;
    assert_eq!(notifies.len(), 1);
    assert_eq!(*rx.tries.lock().expect("lock"), 3);
    let stats = h.stats("O-retry-001").await;
    assert_eq!(
        (
            stats["notifyAttempts"].as_u64(),
            stats["notifiesAcknowledged"].as_u64()
        ),
        (Some(3), Some(1))
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn an_expired_or_closed_prepay_cannot_be_charged_and_a_paid_order_refuses_close() {
    let h = harness(|config| config.prepay_ttl_ms = 300).await;
    let expired = h
        .create(
            "native",
            &h.order("native", "expire-01", "https://m.example/n"),
        )
        .await
        .json();
    let closed = h
        .create(
            "native",
            &h.order("native", "closed-01", "https://m.example/n"),
        )
        .await
        .json();
    let paid = h
        .create(
            "native",
            &h.order("native", "paid-0001", "https://m.example/n"),
        )
        .await
        .json();
    assert_eq!(h.wallet(&wallet_id(&paid), "confirm", None).await.0, 200);
    assert_eq!(h.close("closed-01").await.status, 204);
    let (status, refused) = h.wallet(&wallet_id(&closed), "confirm", None).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("prepay_closed"))
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, refused) = h.wallet(&wallet_id(&expired), "confirm", None).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("prepay_expired"))
    );
    assert_eq!(h.query("expire-01").await.json()["trade_state"], "NOTPAY");
    let refused = h.close("paid-0001").await;
    assert_eq!(
        (refused.status, refused.error().code.as_str()),
        (400, "ORDER_PAID")
    );
    assert_eq!(refused.error().disposition(400), Disposition::AlreadyPaid);
    let again = h
        .create(
            "native",
            &h.order("native", "paid-0001", "https://m.example/n"),
        )
        .await;
    assert_eq!(
        again.error().disposition(again.status),
        Disposition::AlreadyPaid
    );
    for attach in ["O-expire-01", "O-closed-01"] {
        let stats = h.stats(attach).await;
        assert_eq!(
            (stats["charges"].as_u64(), stats["paymentsRefused"].as_u64()),
            (Some(0), Some(1))
        );
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults() {
    let h = harness(|_| {}).await;
    let rx = receiver(h.keys.clone(), 0).await;
    let path = "/v3/pay/transactions/native";

    // status=503: a signed SYSTEM_ERROR, nothing done.
    let body = h.order("native", "fault-001", &rx.url);
    let reply = h.send("POST", path, Some(&body), Some("status=503")).await;
    assert_eq!(reply.status, 503);
    reply.verify(&h.keys).expect("signed");
    assert_eq!(reply.error().disposition(503), Disposition::Retry);
    assert_eq!(
        reply
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(h.query("fault-001").await.status, 404);

    // drop-reply: the order exists, the reply is lost; the same parameters then give it back.
    let text = body.to_string();
    let parts = RequestParts {
        method: "POST",
        path_and_query: path,
        body: text.as_bytes(),
    };
    let auth = Authorization::sign(&h.merchant, &parts, now(), "n")
        .expect("signs")
        .header_value();
    assert!(h
        .raw(
            "POST",
            path,
            body.to_string(),
            Some(auth),
            Some("drop-reply")
        )
        .await
        .is_err());
    assert_eq!(h.query("fault-001").await.json()["trade_state"], "NOTPAY");
    let created = h.create("native", &body).await.json();

    // latency, and a global rule applied once.
    let started = std::time::Instant::now();
    assert_eq!(
        h.send(
            "GET",
            "/v3/pay/transactions/out-trade-no/fault-001?mchid=1900000109",
            None,
            Some("latency=200")
        )
        .await
        .status,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    let admin = format!("{}/sim/admin/faults", h.sim.base_url());
    let added = h
        .http
        .post(&admin)
        .json(&json!({"spec": "status=429", "pathPrefix": "/v3/", "times": 1}))
        .send()
        .await
        .expect("admin");
    assert_eq!(added.status(), 201);
    assert_eq!(h.query("fault-001").await.status, 429);
    assert_eq!(h.query("fault-001").await.status, 200);
    let bad = h
        .http
        .post(&admin)
        .json(&json!({"spec": "explode"}))
        .send()
        .await
        .expect("admin");
    assert_eq!(bad.status(), 400);

    // notify=dup: the same notify (one id) delivered twice.
    assert_eq!(
        h.wallet(&wallet_id(&created), "confirm", Some("notify=dup"))
            .await
            .0,
        200
    );
    let notifies = rx.wait_for(2).await;
    assert_eq!(notifies.len(), 2);
    assert_eq!(notifies[0].0, notifies[1].0);

    // notify=lost, as a global rule on the wallet: paid, never notified.
    h.http
        .post(&admin)
        .json(&json!({"spec": "notify=lost", "pathPrefix": "/sim/wallet/"}))
        .send()
        .await
        .expect("admin");
    let lost = h
        .create("native", &h.order("native", "fault-002", &rx.url))
        .await
        .json();
    assert_eq!(h.wallet(&wallet_id(&lost), "confirm", None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.opened.lock().expect("lock").len(), 2);
    assert_eq!(
        h.query("fault-002").await.json()["trade_state"],
        "SUCCESS",
        "query tells the truth"
    );
    assert_eq!(
        h.http.delete(&admin).send().await.expect("admin").status(),
        204
    );
    assert_eq!(h.stats("O-fault-002").await["notifyAttempts"], 0);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn the_wallet_pages_for_a_prepay_a_code_url_and_an_h5_url() {
    let h = harness(|_| {}).await;
    let native = h
        .create(
            "native",
            &h.order("native", "page-0001", "https://m.example/n"),
        )
        .await
        .json();
    let h5 = h
        .create("h5", &h.order("h5", "page-0002", "https://m.example/n"))
        .await
        .json();
    let scan = format!(
        "{}/sim/scan?code_url={}",
        h.sim.base_url(),
        native["code_url"]
            .as_str()
            .expect("code_url")
            .replace('?', "%3F")
            .replace('=', "%3D")
    );
    let page = h
        .http
        .get(scan)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("page-0001") && page.contains("id=\"confirm\""),
        "{page}"
    );
    let url = format!(
        "{}&redirect_url=https%3A%2F%2Fm.example%2Fback",
        h5["h5_url"].as_str().expect("h5_url")
    );
    let page = h
        .http
        .get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("page-0002") && page.contains("https://m.example/back"),
        "{page}"
    );
    let form = h
        .http
        .post(format!(
            "{}/sim/wallet/{}/fail",
            h.sim.base_url(),
            wallet_id(&h5)
        ))
        .header("accept", "text/html")
        .send()
        .await
        .expect("form");
    assert!(form.text().await.expect("html").contains("PAYERROR"));
    assert_eq!(h.query("page-0002").await.json()["trade_state"], "PAYERROR");
    h.sim.shutdown().await;
}

// ---- certificate mode ----------------------------------------------------------------------

fn platform_key(name: &str) -> PrivateKey {
    let pem = match name {
        "b" => include_str!("../../wechatpay/tests/keys/platform-b.pem"),
        _ => include_str!("../../wechatpay/tests/keys/platform-c.pem"),
    };
    PrivateKey::from_pem(pem).expect("test key")
}

async fn certificate_harness() -> Harness {
    harness(|c| {
        c.signing = SigningMode::Certificates;
        c.spare_keys = vec![platform_key("b"), platform_key("c")];
    })
    .await
}

impl Harness {
    /// `GET /v3/certificates` opened as a merchant would: decrypted, then verified with
    /// `known` plus what it carries. The serials listed, and the serial that signed.
    async fn download(&self, known: &KeySet) -> (Vec<String>, String) {
        let reply = self.send("GET", "/v3/certificates", None, None).await;
        assert_eq!(
            reply.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&reply.body)
        );
        let lookup = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
        let certificates = open_certificate_download(known, &apiv3(), lookup, &reply.body, now())
            .expect("the download opens and verifies");
        let signed_by = reply.headers["wechatpay-serial"]
            .to_str()
            .expect("serial")
            .to_owned();
        (
            certificates.iter().map(|c| c.serial().to_owned()).collect(),
            signed_by,
        )
    }

    async fn admin(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let reply = self
            .http
            .request(method, format!("{}{path}", self.sim.base_url()))
            .send()
            .await
            .expect("admin reply");
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn certificate_mode_lists_its_certificate_encrypted_and_signs_with_it() {
    let h = certificate_harness().await;
    let first = h.sim.wechatpay_serial().to_owned();
    assert_eq!(first.len(), 40, "{first}");
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    // A merchant with no key yet learns the certificate from the download itself.
    let (listed, signed_by) = h.download(&KeySet::new()).await;
    assert_eq!(listed, std::slice::from_ref(&first));
    assert_eq!(signed_by, first);
    // Replies are signed with it: they verify with the listed certificate only.
    let certs = h.sim.platform_certificates();
    let mut keys = KeySet::new();
    keys.insert_certificate(&certs[0]).expect("serial");
    let reply = h
        .send(
            "POST",
            "/v3/pay/transactions/native",
            Some(&h.order("native", "cert-0001", "http://127.0.0.1:9/n")),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.verify(&keys).map(|_| ()), Ok(()));
    assert_eq!(certs[0].public_key(), h.sim.wechatpay_public_key());
    // A notify is signed with the certificate too.
    let rx = receiver(keys, 0).await;
    let created = h
        .create("jsapi", &h.order("jsapi", "cert-0002", &rx.url))
        .await
        .json();
    assert_eq!(h.wallet(&wallet_id(&created), "confirm", None).await.0, 200);
    assert_eq!(rx.wait_for(1).await.len(), 1);
    // An unsigned request is still 401.
    let unsigned = h
        .raw("GET", "/v3/certificates", String::new(), None, None)
        .await
        .expect("reply");
    assert_eq!(unsigned.status, 401);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_rotation_publishes_then_switches_then_drops_over_the_admin_endpoints() {
    let h = certificate_harness().await;
    let old = h.sim.wechatpay_serial().to_owned();
    let post = reqwest::Method::POST;
    let (status, added) = h.admin(post.clone(), "/sim/admin/certificates").await;
    assert_eq!(status, 201, "{added}");
    let new = added["serial"].as_str().expect("serial").to_owned();
    assert_ne!(new, old);

    // Published, not yet signing: a merchant that downloads now learns it in advance.
    let (listed, signed_by) = h.download(&KeySet::new()).await;
    assert_eq!(listed, [old.clone(), new.clone()]);
    assert_eq!(signed_by, old);
    assert_eq!(h.sim.signing_serial(), Some(old.clone()));

    let (status, _) = h
        .admin(post.clone(), &format!("/sim/admin/certificates/{new}/sign"))
        .await;
    assert_eq!(status, 204);
    let (_, signed_by) = h.download(&KeySet::new()).await;
    assert_eq!(signed_by, new);
    let reply = h.send("GET", "/v3/certificates", None, None).await;
    let old_only = {
        let mut keys = KeySet::new();
        let certs = h.sim.platform_certificates();
        keys.insert_certificate(certs.iter().find(|c| c.serial() == old).expect("old"))
            .expect("serial");
        keys
    };
    assert_eq!(
        reply.verify(&old_only).map(|_| ()),
        Err(VerifyError::UnknownSerial(new.clone())),
        "a merchant that never refreshed does not know the new serial"
    );

    // The signing certificate cannot be dropped; the old one can.
    let delete = reqwest::Method::DELETE;
    let (status, refused) = h
        .admin(delete.clone(), &format!("/sim/admin/certificates/{new}"))
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("certificate_signing"))
    );
    let (status, _) = h
        .admin(delete.clone(), &format!("/sim/admin/certificates/{old}"))
        .await;
    assert_eq!(status, 204);
    let (listed, _) = h.download(&KeySet::new()).await;
    assert_eq!(listed, std::slice::from_ref(&new));
    let (status, _) = h
        .admin(delete, &format!("/sim/admin/certificates/{old}"))
        .await;
    assert_eq!(status, 404);

    // An unpublished certificate signs, and no download ever names it.
    let hidden = h.sim.publish_certificate(false).await.expect("adds");
    h.sim.sign_with(&hidden).expect("switch");
    let reply = h.send("GET", "/v3/certificates", None, None).await;
    let lookup = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
    assert!(
        open_certificate_download(&KeySet::new(), &apiv3(), lookup, &reply.body, now()).is_err(),
        "signed by a serial the list does not carry"
    );
    let (_, listing) = h
        .admin(reqwest::Method::GET, "/sim/admin/certificates")
        .await;
    assert_eq!(listing["signing"], hidden.as_str());
    assert_eq!(listing["certificates"].as_array().map(Vec::len), Some(2));
    h.sim.shutdown().await;
}

#[tokio::test]
async fn public_key_mode_refuses_the_certificate_download_and_rotation() {
    let h = harness(|_| {}).await;
    let reply = h.call("GET", "/v3/certificates", None).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error().code, "NO_AUTH");
    let (status, body) = h
        .admin(reqwest::Method::POST, "/sim/admin/certificates")
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("public_key_mode"))
    );
    assert!(h.sim.platform_certificates().is_empty());
    h.sim.shutdown().await;

    let mut config = Config::new(MerchantConfig {
        mchid: vector("mchid"),
        serial_no: vector("merchant_serial_no"),
        public_key: PublicKey::from_pem(&vector("merchant_public_key_pem")).expect("public"),
    });
    config.wechatpay_key = Some(platform_key("b"));
    config.signing = SigningMode::Certificates;
    assert!(
        start(config).await.is_err(),
        "certificate mode without an APIv3 key cannot encrypt the list"
    );
}
