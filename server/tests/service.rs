//! The service a merchant deploys (issue 12, step 3), over real HTTP: the production profile
//! refuses the test surface, the business API needs its key, the guard-facing create and
//! status need a buyer token for their order, and CORS answers only configured origins.

mod common;

use checkout_guard_server::buyer_token::{self, Claims};
use checkout_guard_server::{Config, Profile, Secret};
use common::{new_key, prepay_id, spawn_with, test_config, Reply, TestServer};
use serde_json::{json, Value};

const API_KEY: &str = "biz-key-0123456789";
const TOKEN_SECRET: &str = "buyer-token-secret-0123456789";
const ADMIN_TOKEN: &str = "admin-token-0123456789";
const SHOP: &str = "https://shop.example";

fn production() -> Config {
    let mut config = Config {
        profile: Profile::Production,
        api_keys: vec![Secret::from("old-key-being-rotated"), Secret::from(API_KEY)],
        buyer_token_secret: Some(TOKEN_SECRET.into()),
        admin_token: Some(ADMIN_TOKEN.into()),
        cors_origins: vec![SHOP.to_owned()],
        ..test_config()
    };
    // On WeChat Pay, production refuses a prepay lifetime WeChat Pay would refuse.
    config.settings.prepay_ttl_ms = 10 * 60 * 1000;
    config
}

/// [`order_terms`] without the order number: the body of a change.
fn change_terms(amount: i64) -> Value {
    let mut terms = order_terms("unused");
    terms["amount"] = json!(amount);
    terms.as_object_mut().expect("object").remove("orderNo");
    terms
}

fn order_terms(order_no: &str) -> Value {
    json!({
        "orderNo": order_no,
        "content": {"items": [{"sku": "tea", "qty": 1}]},
        "amount": 1999,
        "currency": "CNY",
        "description": "Tea",
        "payerId": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    })
}

impl TestServer {
    async fn business(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.at(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    /// Registers `order_no`; returns (fingerprint, buyer token).
    async fn register(&self, order_no: &str) -> (String, String) {
        let reply = self
            .business(
                reqwest::Method::POST,
                "/v1/business/orders",
                Some(API_KEY),
                Some(order_terms(order_no)),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        (
            reply.body["fingerprint"]
                .as_str()
                .expect("fingerprint")
                .to_owned(),
            reply.body["buyerToken"].as_str().expect("token").to_owned(),
        )
    }

    async fn pay_as(
        &self,
        order_no: &str,
        fp: &str,
        token: Option<&str>,
        fault: Option<&str>,
    ) -> Reply {
        let mut req = self
            .client
            .post(self.at(&format!("/api/orders/{order_no}/payments")))
            .header("Idempotency-Key", format!("\"{}\"", new_key()))
            .json(&json!({ "fingerprint": fp }));
        if let Some(token) = token {
            req = req.header("X-Buyer-Token", token);
        }
        if let Some(fault) = fault {
            req = req.header("X-Fault", fault);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    async fn status_as(&self, order_no: &str, token: Option<&str>) -> Reply {
        let mut req = self
            .client
            .get(self.at(&format!("/api/orders/{order_no}/payment")));
        if let Some(token) = token {
            req = req.header("X-Buyer-Token", token);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    async fn raw(&self, method: reqwest::Method, path: &str, bearer: Option<&str>) -> Reply {
        let mut req = self
            .client
            .request(method, self.at(path))
            .header("X-Fault", "status=500");
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        Reply::from(req.send().await.expect("send")).await
    }
}

#[tokio::test]
async fn production_has_no_test_surface() {
    let t = spawn_with(production()).await;
    let (fp, token) = t.register("ORD-PROD-1").await;
    // `X-Fault` is ignored: a `status=500` fault changes nothing.
    let created = t
        .pay_as(
            "ORD-PROD-1",
            &fp,
            Some(&token),
            Some("status=500,drop-reply"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let prepay = prepay_id(&created.body);
    let status = Reply::from(
        t.client
            .get(t.at("/api/orders/ORD-PROD-1/payment"))
            .header("X-Buyer-Token", &token)
            .header("X-Fault", "status=503")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["status"], "unpaid");

    use reqwest::Method;
    // The in-process simulated provider's endpoints and wallet: 404.
    for (method, path) in [
        (Method::GET, format!("/sim/wallet/{prepay}")),
        (Method::POST, format!("/sim/wallet/{prepay}/confirm")),
        (Method::POST, "/sim/transactions".to_owned()),
        (Method::GET, "/sim/transactions/ORD-PROD-1x1".to_owned()),
    ] {
        t.raw(method, &path, None)
            .await
            .assert_error(404, "not_found");
    }
    // Admin from loopback needs the token; fault rules do not exist even with it.
    t.raw(Method::GET, "/admin/stats", None)
        .await
        .assert_error(403, "forbidden");
    t.raw(Method::GET, "/admin/stats", Some("wrong"))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(
        t.raw(Method::GET, "/admin/stats", Some(ADMIN_TOKEN))
            .await
            .status,
        200
    );
    for method in [Method::GET, Method::POST, Method::DELETE] {
        t.raw(method.clone(), "/admin/faults", None)
            .await
            .assert_error(403, "forbidden");
        t.raw(method, "/admin/faults", Some(ADMIN_TOKEN))
            .await
            .assert_error(404, "not_found");
    }
    // Page-submitted orders are off: the business API registers them.
    Reply::from(
        t.client
            .post(t.at("/api/orders"))
            .json(&json!({"content": {"amount": 1}}))
            .send()
            .await
            .expect("send"),
    )
    .await
    .assert_error(404, "not_found");
    Reply::from(
        t.client
            .put(t.at("/api/orders/ORD-PROD-1"))
            .header("X-Buyer-Token", &token)
            .json(&json!({"content": {"amount": 1}}))
            .send()
            .await
            .expect("send"),
    )
    .await
    .assert_error(405, "method_not_allowed");
    // Nothing was charged, nothing was dropped.
    let dump = t
        .raw(Method::GET, "/admin/orders/ORD-PROD-1", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(dump.body["stats"]["charges"], 0, "{}", dump.body);
    let provider = t.sim_stats("ORD-PROD-1").await;
    assert_eq!(provider["prepayCalls"], 1, "{provider}");
    assert_eq!(provider["charges"], 0, "{provider}");
    t.server.shutdown().await;
}

#[tokio::test]
async fn the_business_api_needs_its_key() {
    use reqwest::Method;
    let t = spawn_with(production()).await;
    let path = "/v1/business/orders";
    let missing = t
        .business(Method::POST, path, None, Some(order_terms("ORD-BIZ-1")))
        .await;
    missing.assert_error(401, "unauthorized");
    assert_eq!(
        missing.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"business\"")
    );
    t.business(
        Method::POST,
        path,
        Some("biz-key-012345678"),
        Some(order_terms("ORD-BIZ-1")),
    )
    .await
    .assert_error(401, "unauthorized");
    t.business(
        Method::GET,
        "/v1/business/orders/ORD-BIZ-1",
        Some(ADMIN_TOKEN),
        None,
    )
    .await
    .assert_error(401, "unauthorized");
    t.business(Method::GET, "/v1/nothing-here", None, None)
        .await
        .assert_error(401, "unauthorized");

    // Right key (either of the configured ones): registered, with a token; a retry is 200.
    let (fp, token) = t.register("ORD-BIZ-1").await;
    let again = t
        .business(
            Method::POST,
            path,
            Some("old-key-being-rotated"),
            Some(order_terms("ORD-BIZ-1")),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["fingerprint"], fp.as_str());
    assert_eq!(
        again.body["content"]["payerId"],
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    );
    assert_eq!(again.body["buyer"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    let mut other = order_terms("ORD-BIZ-1");
    other["amount"] = json!(2999);
    t.business(Method::POST, path, Some(API_KEY), Some(other))
        .await
        .assert_error(409, "order_exists");
    let mut bad = order_terms("ORD-BIZ-2");
    bad["content"]["amount"] = json!(1);
    t.business(Method::POST, path, Some(API_KEY), Some(bad))
        .await
        .assert_error(400, "invalid_body");

    // Pay attempt, then a change closes it first; the payments are listed.
    let created = t.pay_as("ORD-BIZ-1", &fp, Some(&token), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let cheaper = change_terms(999);
    let changed = t
        .business(
            Method::PUT,
            "/v1/business/orders/ORD-BIZ-1",
            Some(API_KEY),
            Some(cheaper),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["amount"], 999);
    let read = t
        .business(
            Method::GET,
            "/v1/business/orders/ORD-BIZ-1",
            Some(API_KEY),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["payments"][0]["state"], "closed", "{}", read.body);
    assert_eq!(read.body["cancelled"], false);

    // Cancel: the order cannot be paid any more, whatever fingerprint is sent.
    let cancelled = t
        .business(
            Method::POST,
            "/v1/business/orders/ORD-BIZ-1/cancel",
            Some(API_KEY),
            None,
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["cancelled"], true);
    let new_fp = cancelled.body["fingerprint"]
        .as_str()
        .expect("fp")
        .to_owned();
    for print in [&fp, &new_fp] {
        t.pay_as("ORD-BIZ-1", print, Some(&token), None)
            .await
            .assert_error(409, "order_cancelled");
    }
    t.business(
        Method::PUT,
        "/v1/business/orders/ORD-BIZ-1",
        Some(API_KEY),
        Some(change_terms(1999)),
    )
    .await
    .assert_error(409, "order_cancelled");
    t.business(
        Method::GET,
        "/v1/business/orders/ORD-NOPE-1",
        Some(API_KEY),
        None,
    )
    .await
    .assert_error(404, "unknown_order");
    t.server.shutdown().await;
}

#[tokio::test]
async fn create_and_status_need_a_valid_buyer_token_for_the_order() {
    let t = spawn_with(production()).await;
    let (fp, token) = t.register("ORD-TOK-1").await;
    let (_, other_token) = t.register("ORD-TOK-2").await;
    let secret = Secret::from(TOKEN_SECRET);
    let claims = |order_no: &str, buyer: &str, expires_at: i64| Claims {
        order_no: order_no.to_owned(),
        buyer: buyer.to_owned(),
        expires_at,
    };
    let buyer = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
    let far = i64::MAX / 2;
    let expired = buyer_token::issue(&secret, &claims("ORD-TOK-1", buyer, 1_000));
    let another_buyer = buyer_token::issue(&secret, &claims("ORD-TOK-1", "someone-else", far));
    let forged = buyer_token::issue(&Secret::from("guessed"), &claims("ORD-TOK-1", buyer, far));
    // The same token with a later expiry written in: the signature no longer matches.
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}.{}.{}",
        parts[0], parts[1], parts[2], far, parts[4]
    );
    let refused = [
        ("missing", None),
        ("another order's", Some(other_token.as_str())),
        ("expired", Some(expired.as_str())),
        ("tampered", Some(tampered.as_str())),
        ("forged", Some(forged.as_str())),
        ("another buyer's", Some(another_buyer.as_str())),
        ("garbage", Some("Bearer nonsense")),
    ];
    for (what, bad) in refused {
        let create = t.pay_as("ORD-TOK-1", &fp, bad, None).await;
        create.assert_error(401, "invalid_buyer_token");
        assert!(create.body["message"].is_string(), "{what}");
        t.status_as("ORD-TOK-1", bad)
            .await
            .assert_error(401, "invalid_buyer_token");
    }
    // Nothing was created by the refused requests.
    let read = t
        .business(
            reqwest::Method::GET,
            "/v1/business/orders/ORD-TOK-1",
            Some(API_KEY),
            None,
        )
        .await;
    assert_eq!(read.body["payments"], json!([]), "{}", read.body);
    // Valid: create and status answer as the contract says.
    let created = t.pay_as("ORD-TOK-1", &fp, Some(&token), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let status = t.status_as("ORD-TOK-1", Some(&token)).await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["status"], "unpaid");
    // A fresh token from the business API works too.
    let fresh = t
        .business(
            reqwest::Method::POST,
            "/v1/business/orders/ORD-TOK-1/buyer-token",
            Some(API_KEY),
            None,
        )
        .await;
    let fresh = fresh.body["buyerToken"].as_str().expect("token").to_owned();
    assert_eq!(t.status_as("ORD-TOK-1", Some(&fresh)).await.status, 200);
    t.server.shutdown().await;
}

#[tokio::test]
async fn the_demo_profile_takes_no_token_but_checks_one_that_is_sent() {
    let t = spawn_with(Config {
        api_keys: vec![API_KEY.into()],
        ..test_config()
    })
    .await;
    let (order, fp) = t.simple_order().await;
    assert_eq!(t.pay_as(&order, &fp, None, None).await.status, 201);
    assert_eq!(t.status_as(&order, None).await.status, 200);
    t.status_as(&order, Some("cgb1.x.y.1.00"))
        .await
        .assert_error(401, "invalid_buyer_token");
    // The demo's surface is all there.
    let (fp2, token) = t.register("ORD-DEMO-1").await;
    let created = t.pay_as("ORD-DEMO-1", &fp2, Some(&token), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let paid = t.wallet(&prepay_id(&created.body), "confirm", None).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    t.server.shutdown().await;
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let t = spawn_with(production()).await;
    let preflight = |origin: &'static str| {
        t.client
            .request(
                reqwest::Method::OPTIONS,
                t.at("/api/orders/ORD-CORS-1/payments"),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,idempotency-key,prefer,x-buyer-token",
            )
            .send()
    };
    let allowed = preflight(SHOP).await.expect("send");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], SHOP);
    let allow_headers = headers["access-control-allow-headers"]
        .to_str()
        .expect("ascii");
    for name in ["content-type", "idempotency-key", "prefer", "x-buyer-token"] {
        assert!(allow_headers.contains(name), "{allow_headers}");
    }
    assert!(headers["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .contains("POST"));

    let refused = preflight("https://evil.example").await.expect("send");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        refused.headers()
    );

    // A real request from the shop sees the headers the guard reads.
    let (_, token) = t.register("ORD-CORS-1").await;
    let status = t
        .client
        .get(t.at("/api/orders/ORD-CORS-1/payment"))
        .header("Origin", SHOP)
        .header("X-Buyer-Token", token)
        .send()
        .await
        .expect("send");
    assert_eq!(status.status(), 200);
    assert_eq!(status.headers()["access-control-allow-origin"], SHOP);
    let exposed = status.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(
        exposed.contains("preference-applied") && exposed.contains("retry-after"),
        "{exposed}"
    );
    t.server.shutdown().await;
}
