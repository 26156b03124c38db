//! The provider seen through the payment center (WeChat Pay's simulator: its notifies,
//! duplicated, delayed or lost; provider calls that fail or lose their reply), fault
//! injection, the admin endpoints, and the in-process simulated provider's own endpoints, wallet
//! page and notify (those tests start the server with `spawn_in_process`).

mod common;

use checkout_guard_server::clock::now_ms;
use checkout_guard_server::signing;
use checkout_guard_server::Config;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn signed_notify(
    t: &TestServer,
    secret: &[u8],
    body: &serde_json::Value,
    timestamp: i64,
) -> reqwest::RequestBuilder {
    let body = serde_json::to_vec(body).expect("json");
    let ts = timestamp.to_string();
    let sig = signing::sign(secret, &ts, "nonce1", &body).expect("signature");
    t.client
        .post(t.at("/api/notify"))
        .header(signing::TIMESTAMP_HEADER, ts)
        .header(signing::NONCE_HEADER, "nonce1")
        .header(signing::SIGNATURE_HEADER, sig)
        .body(body)
}

/// The test configuration with a notify secret for the in-process provider's HMAC notify (and
/// the background status queries slowed down, so only the notify can pay): the secret, the
/// configuration.
fn with_notify_secret() -> (Vec<u8>, Config) {
    let secret = b"test-notify-secret".to_vec();
    let mut config = test_config();
    config.notify_secret = Some(
        String::from_utf8(secret.clone())
            .expect("ASCII secret")
            .into(),
    );
    config.settings.query_interval_ms = 60_000;
    (secret, config)
}

#[tokio::test]
async fn on_wechat_pay_the_in_process_notify_is_not_a_way_to_mark_paid() {
    // A payment center on WeChat Pay (`spawn`: the simulator over HTTP) with a notify secret
    // configured: a notify correctly signed with it must pay nothing, since only WeChat Pay's
    // signed and encrypted notify may.
    let (secret, config) = with_notify_secret();
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let notify = json!({
        "id": "n-forged", "eventType": "TRANSACTION.SUCCESS",
        "outTradeNo": created.body["attemptId"], "transactionId": "42x",
        "tradeState": "SUCCESS", "amount": 1999, "attach": order, "successTime": now_ms()
    });
    Reply::from(
        signed_notify(&t, &secret, &notify, now_ms())
            .send()
            .await
            .expect("send"),
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(t.status(&order).await.body["status"], "unpaid");
    assert_eq!(t.stats(&order).await["charges"], 0);
}

#[tokio::test]
async fn notify_needs_a_valid_signature_and_repeats_change_nothing() {
    // The in-process provider's notify (`/api/notify`, signed with the notify secret): WeChat
    // Pay's (`/api/wechatpay/notify`) is refused unsigned or stale in `wechatpay_provider.rs`
    // and arrives signed and encrypted in the other tests.
    let (secret, config) = with_notify_secret();
    let t = spawn_in_process(config).await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(t.status(&order).await.body["status"], "unpaid");
    let notify = json!({
        "id": "n-1", "eventType": "TRANSACTION.SUCCESS",
        "outTradeNo": created.body["attemptId"], "transactionId": "42x",
        "tradeState": "SUCCESS", "amount": 1999, "attach": order, "successTime": now_ms()
    });
    for (secret, ts) in [
        (b"wrong".to_vec(), now_ms()),
        (secret.clone(), now_ms() - 10 * 60 * 1000),
    ] {
        Reply::from(
            signed_notify(&t, &secret, &notify, ts)
                .send()
                .await
                .expect("send"),
        )
        .await
        .assert_error(401, "invalid_signature");
    }
    // A body altered after signing.
    let mut tampered = signed_notify(&t, &secret, &notify, now_ms())
        .build()
        .expect("request");
    *tampered.body_mut() = Some(
        serde_json::to_vec(&json!({"id": "n-1", "outTradeNo": "other", "tradeState": "SUCCESS"}))
            .expect("json")
            .into(),
    );
    Reply::from(t.client.execute(tampered).await.expect("send"))
        .await
        .assert_error(401, "invalid_signature");
    assert_eq!(t.status(&order).await.body["status"], "unpaid");
    assert_eq!(t.stats(&order).await["notifiesReceived"], 0);

    for _ in 0..3 {
        let ok = Reply::from(
            signed_notify(&t, &secret, &notify, now_ms())
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.body["code"], "SUCCESS");
    }
    let status = t.status(&order).await;
    assert_eq!(status.body["status"], "paid");
    assert_eq!(status.body["attemptId"], created.body["attemptId"]);
    let stats = t.stats(&order).await;
    assert_eq!(stats["notifiesReceived"], 3);
    assert_eq!(stats["notifiesDuplicate"], 2);
    let dump = t.dump(&order).await;
    assert_eq!(dump["order"]["paidAttempt"], created.body["attemptId"]);
    assert_eq!(dump["attempts"].as_array().expect("attempts").len(), 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn duplicated_provider_notify_is_idempotent() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    let confirm = t
        .wallet(&prepay_id(&created.body), "confirm", Some("notify=dup"))
        .await;
    assert_eq!(confirm.status, 200);
    let stats = t.wait_stats(&order, |s| s["notifiesReceived"] == 2).await;
    assert_eq!(stats["notifiesDuplicate"], 1);
    assert_eq!(stats["charges"], 1);
    assert_eq!(t.status(&order).await.body["status"], "paid");
    t.server.shutdown().await;
}

#[tokio::test]
async fn delayed_notify_arrives_later_and_wakes_the_status() {
    let mut config = test_config();
    config.settings.query_interval_ms = 60_000;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(t.status(&order).await.body["status"], "unpaid");
    t.wallet(
        &prepay_id(&created.body),
        "confirm",
        Some("notify-delay=1000"),
    )
    .await;
    assert_eq!(
        t.status(&order).await.body["status"],
        "unpaid",
        "not yet notified"
    );
    let started = Instant::now();
    let poll = t.status_with(&order, Some(5), None).await;
    assert_eq!(poll.body["status"], "paid");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The stats are an observer told after the notify's transaction committed (which is what
    // woke the long-poll): on PostgreSQL the wake-up can come first.
    t.wait_stats(&order, |s| s["notifiesReceived"] == 1).await;
    t.server.shutdown().await;
}

#[tokio::test]
async fn failing_provider_leaves_nothing_payable_behind() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let key = new_key();
    // The provider fails before acting.
    let failed = t.pay_with(&order, &key, &fp, Some("provider=fail")).await;
    failed.assert_error(503, "provider_unavailable");
    assert_eq!(failed.header("retry-after").as_deref(), Some("1"));
    let dump = t.dump(&order).await;
    assert_eq!(dump["attempts"][0]["state"], "creating");
    assert_eq!(dump["idempotencyKeys"], 0);
    let retry = t.pay(&order, &key, &fp).await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    let dump = t.dump(&order).await;
    assert_eq!(dump["attempts"][0]["state"], "closed");
    assert_eq!(dump["attempts"][1]["state"], "unpaid");

    // The provider acts but its reply is lost: an orphan prepay exists at the provider.
    let (order, fp) = t.simple_order().await;
    let key = new_key();
    t.pay_with(&order, &key, &fp, Some("provider=lost"))
        .await
        .assert_error(503, "provider_unavailable");
    let dump = t.dump(&order).await;
    let orphan = dump["providerTransactions"][0].clone();
    assert_eq!(orphan["tradeState"], "NOTPAY");
    let retry = t.pay(&order, &key, &fp).await;
    assert_eq!(retry.status, 201);
    assert_ne!(retry.body["attemptId"], orphan["outTradeNo"]);
    let dump = t.dump(&order).await;
    assert_eq!(dump["providerTransactions"][0]["tradeState"], "CLOSED");
    // Even someone holding the orphan's prepay cannot pay it.
    t.wallet(
        orphan["prepayId"].as_str().expect("prepay"),
        "confirm",
        None,
    )
    .await
    .assert_error(409, "prepay_closed");
    let stats = t.stats(&order).await;
    assert_eq!(stats["charges"], 0);
    assert_eq!(stats["attemptsCreated"], 2);
    assert_eq!(stats["prepayCalls"], 2);
    t.server.shutdown().await;
}

#[tokio::test]
async fn injected_statuses_latency_and_slow_poll() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    t.pay_with(&order, &new_key(), &fp, Some("status=500"))
        .await
        .assert_error(500, "injected_fault");
    assert_eq!(
        t.stats(&order).await["attemptsCreated"],
        0,
        "nothing was done"
    );
    let busy = t.status_with(&order, None, Some("status=503")).await;
    busy.assert_error(503, "injected_fault");
    assert_eq!(busy.header("retry-after").as_deref(), Some("1"));
    let limited = t.status_with(&order, None, Some("status=429")).await;
    limited.assert_error(429, "injected_fault");
    assert_eq!(limited.header("retry-after").as_deref(), Some("1"));

    let started = Instant::now();
    let slow = t.status_with(&order, None, Some("latency=300")).await;
    assert_eq!(slow.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    t.pay(&order, &new_key(), &fp).await;
    let started = Instant::now();
    let poll = t.status_with(&order, Some(0), Some("slow-poll=400")).await;
    assert_eq!(poll.body["status"], "unpaid");
    assert_eq!(poll.header("preference-applied").as_deref(), Some("wait=0"));
    assert!(started.elapsed() >= Duration::from_millis(400));
    t.server.shutdown().await;
}

#[tokio::test]
async fn global_faults_are_installed_counted_and_cleared_by_admin() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let faults = t.at("/admin/faults");
    let add = |body: serde_json::Value| t.client.post(&faults).json(&body).send();
    let added = add(
        json!({"spec": "status=503", "pathPrefix": "/api/orders", "method": "POST", "times": 2}),
    )
    .await
    .expect("send");
    assert_eq!(added.status(), 201);
    Reply::from(add(json!({"spec": "boom"})).await.expect("send"))
        .await
        .assert_error(400, "invalid_fault");
    assert_eq!(t.get_json("/admin/faults").await["rules"][0]["times"], 2);
    // GETs are not matched; two POSTs are; the third goes through.
    assert_eq!(t.status(&order).await.status, 200);
    for _ in 0..2 {
        t.pay(&order, &new_key(), &fp)
            .await
            .assert_error(503, "injected_fault");
    }
    assert_eq!(t.pay(&order, &new_key(), &fp).await.status, 201);
    assert_eq!(t.get_json("/admin/faults").await["rules"], json!([]));

    // Notify lost for every wallet confirm, until cleared: the wallet is WeChat Pay's, so the
    // rule that loses the notify is installed at the simulator's admin, which takes the same
    // rules. The payment center's copy (for its own `/sim/` endpoints) stays until cleared.
    let rule = json!({"spec": "notify=lost", "pathPrefix": "/sim/"});
    assert_eq!(add(rule.clone()).await.expect("send").status(), 201);
    t.sim_fault(rule).await;
    let status = t.status(&order).await;
    t.wallet(&prepay_id(&status.body), "confirm", None).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(t.stats(&order).await["notifiesReceived"], 0);
    assert_eq!(t.stats(&order).await["charges"], 1);
    assert_eq!(t.sim_stats(&order).await["notifyAttempts"], 0, "never sent");
    assert_eq!(
        t.get_json("/admin/faults").await["rules"][0]["spec"],
        "notify=lost"
    );
    let cleared = t.client.delete(&faults).send().await.expect("send");
    assert_eq!(cleared.status(), 204);
    assert_eq!(t.get_json("/admin/faults").await["rules"], json!([]));
    t.clear_sim_faults().await;
    assert_eq!(t.sim_json("/sim/admin/faults").await["rules"], json!([]));
    t.server.shutdown().await;
}

#[tokio::test]
async fn admin_needs_the_token_when_loopback_is_not_trusted() {
    let t = spawn_with(Config {
        admin_token: Some("s3cret-token".into()),
        admin_from_loopback: false,
        ..test_config()
    })
    .await;
    let stats = t.at("/admin/stats");
    Reply::from(t.client.get(&stats).send().await.expect("send"))
        .await
        .assert_error(403, "forbidden");
    Reply::from(
        t.client
            .get(&stats)
            .bearer_auth("wrong")
            .send()
            .await
            .expect("send"),
    )
    .await
    .assert_error(403, "forbidden");
    let ok = t
        .client
        .get(&stats)
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    // The merchant API does not need it.
    t.simple_order().await;
    t.server.shutdown().await;
}

#[tokio::test]
async fn provider_endpoints_enforce_uniqueness_close_and_query() {
    // The in-process provider's own HTTP endpoints (`/sim/transactions`); the WeChat Pay
    // simulator's rules are tested in `wechatpay-sim` and through `wechatpay_provider.rs`.
    let t = spawn_in_process(test_config()).await;
    let (order, _) = t.simple_order().await;
    let create = |no: &str| {
        t.client.post(t.at("/sim/transactions")).json(&json!({
            "outTradeNo": no, "attach": order, "amount": 1999,
            "notifyUrl": t.at("/api/notify"), "ttlMs": 60_000
        }))
    };
    let first = Reply::from(create("SIMTEST0001").send().await.expect("send")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let prepay = first.body["prepayId"].as_str().expect("prepay").to_owned();
    Reply::from(create("SIMTEST0001").send().await.expect("send"))
        .await
        .assert_error(400, "out_trade_no_duplicate");
    Reply::from(create("SHORT").send().await.expect("send"))
        .await
        .assert_error(400, "invalid_body");
    let stats = t.stats(&order).await;
    assert_eq!(stats["duplicatesRefused"], 1);
    assert_eq!(stats["prepayCalls"], 2);

    let query = t.get_json("/sim/transactions/SIMTEST0001").await;
    assert_eq!(query["tradeState"], "NOTPAY");
    assert_eq!(query["prepayId"], prepay);
    // The browser path: a form post, answered with a page.
    let form = t
        .client
        .post(t.at(&format!("/sim/wallet/{prepay}/confirm")))
        .send()
        .await
        .expect("send");
    assert_eq!(form.status(), 200);
    assert!(form
        .text()
        .await
        .expect("html")
        .contains("Payment successful"));
    let query = t.get_json("/sim/transactions/SIMTEST0001").await;
    assert_eq!(query["tradeState"], "SUCCESS");
    assert!(query["transactionId"].is_string());
    Reply::from(
        t.client
            .post(t.at("/sim/transactions/SIMTEST0001/close"))
            .send()
            .await
            .expect("send"),
    )
    .await
    .assert_error(409, "order_paid");
    Reply::from(
        t.client
            .post(t.at("/sim/transactions/NOSUCHTX/close"))
            .send()
            .await
            .expect("send"),
    )
    .await
    .assert_error(404, "order_not_exist");
    t.server.shutdown().await;
}

#[tokio::test]
async fn wallet_page_offers_confirm_only_while_payable() {
    // The in-process provider's wallet page (the `walletUrl` of its prepays, served by the
    // payment center in the demo profile); the WeChat Pay simulator has a wallet of its own.
    let mut config = test_config();
    config.settings.prepay_ttl_ms = 1000;
    let t = spawn_in_process(config).await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    let prepay = prepay_id(&created.body);
    assert_eq!(
        created.body["prepay"]["walletUrl"],
        format!("/sim/wallet/{prepay}")
    );
    let page = t
        .client
        .get(t.at(&format!("/sim/wallet/{prepay}")))
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("id=\"confirm\""), "{html}");
    assert!(html.contains("¥19.99"));
    assert!(html.contains(&format!("action=\"/sim/wallet/{prepay}/confirm\"")));
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let html = t
        .client
        .get(t.at(&format!("/sim/wallet/{prepay}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("EXPIRED") && !html.contains("id=\"confirm\""),
        "{html}"
    );
    t.wallet(&prepay, "confirm", None)
        .await
        .assert_error(409, "prepay_expired");
    // A browser form post gets an HTML refusal with the same status.
    let form = t
        .client
        .post(t.at(&format!("/sim/wallet/{prepay}/confirm")))
        .send()
        .await
        .expect("send");
    assert_eq!(form.status(), 409);
    assert!(form.text().await.expect("html").contains("expired"));
    assert_eq!(t.stats(&order).await["charges"], 0);
    let missing = t
        .client
        .get(t.at("/sim/wallet/wxnothing"))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 404);
    t.server.shutdown().await;
}

#[tokio::test]
async fn settings_and_stats_are_exposed_to_admin() {
    let t = spawn().await;
    let mut settings = t.get_json("/admin/settings").await;
    settings["prepayTtlMs"] = json!(1500);
    let put = t
        .client
        .put(t.at("/admin/settings"))
        .json(&settings)
        .send()
        .await
        .expect("send");
    assert_eq!(put.status(), 200);
    let (order, fp) = t.simple_order().await;
    let before = now_ms();
    let created = t.pay(&order, &new_key(), &fp).await;
    let expires = created.body["expiresAt"].as_i64().expect("expiresAt");
    assert!(
        (before + 1500..=now_ms() + 1500).contains(&expires),
        "{expires}"
    );
    settings["prepayTtlMs"] = json!(10);
    Reply::from(
        t.client
            .put(t.at("/admin/settings"))
            .json(&settings)
            .send()
            .await
            .expect("send"),
    )
    .await
    .assert_error(400, "invalid_body");
    let all = t.get_json("/admin/stats").await;
    let mine = all["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .find(|s| s["orderNo"] == order)
        .expect("order listed")
        .clone();
    assert_eq!(mine["attemptsCreated"], 1);
    Reply::from(
        t.client
            .get(t.at("/admin/stats/NOPE"))
            .send()
            .await
            .expect("send"),
    )
    .await
    .assert_error(404, "unknown_order");
    t.server.shutdown().await;
}
