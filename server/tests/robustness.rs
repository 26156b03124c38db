//! Concurrency, restart durability and hostile input, over real HTTP.

mod common;

use checkout_guard_server::{Config, Storage};
use common::*;
use futures::future::join_all;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// Sends `keys.len()` creates at once; retries each `409 in_progress` with the same key
/// (as the guard does) until it gets a final answer. Returns the final replies.
async fn create_storm(t: &TestServer, order: &str, fp: &str, keys: Vec<String>) -> Vec<Reply> {
    let calls = keys.into_iter().map(|key| async move {
        for _ in 0..200 {
            let reply = t.pay(order, &key, fp).await;
            if reply.status == 409 && reply.body["error"] == "in_progress" {
                assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            return reply;
        }
        panic!("key {key} stayed in progress");
    });
    join_all(calls).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_parallel_creates_with_one_key_make_one_attempt() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let key = new_key();
    let replies = create_storm(&t, &order, &fp, vec![key; 100]).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "exactly one 201");
    assert!(replies.iter().all(|r| r.status == 201 || r.status == 200));
    let ids: HashSet<_> = replies
        .iter()
        .map(|r| r.body["attemptId"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let stats = t.stats(&order).await;
    assert_eq!(stats["attemptsCreated"], 1);
    assert_eq!(stats["prepayCalls"], 1);
    assert_eq!(t.dump(&order).await["idempotencyKeys"], 1);
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_parallel_creates_with_different_keys_share_one_live_attempt() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let keys: Vec<_> = (0..100).map(|_| new_key()).collect();
    let replies = create_storm(&t, &order, &fp, keys).await;
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.status == 200 && r.body["reused"] == true)
            .count(),
        99
    );
    let ids: HashSet<_> = replies
        .iter()
        .map(|r| r.body["attemptId"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    let stats = t.stats(&order).await;
    assert_eq!(stats["attemptsCreated"], 1);
    assert_eq!(stats["prepayCalls"], 1, "one prepay call to the provider");
    let dump = t.dump(&order).await;
    assert_eq!(dump["attempts"].as_array().expect("attempts").len(), 1);
    assert_eq!(
        dump["providerTransactions"].as_array().expect("txs").len(),
        1
    );
    assert_eq!(dump["idempotencyKeys"], 100);
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_confirms_of_one_prepay_charge_once() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    let prepay = prepay_id(&created.body);
    let replies = join_all((0..20).map(|_| t.wallet(&prepay, "confirm", None))).await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
    assert!(replies
        .iter()
        .filter(|r| r.status != 200)
        .all(|r| r.body["error"] == "already_paid"));
    let stats = t.wait_stats(&order, |s| s["notifiesReceived"] == 1).await;
    assert_eq!(stats["charges"], 1);
    assert_eq!(stats["paymentsRefused"], 19);
    t.server.shutdown().await;
}

#[tokio::test]
async fn restart_on_the_same_file_loses_nothing() {
    let dir = temp_dir("restart");
    let db = dir.join("data").join("demo.sqlite");
    let config = || Config {
        storage: Storage::File(db.clone()),
        ..test_config()
    };
    let t = spawn_with(config()).await;
    let (paid_order, paid_fp) = t.simple_order().await;
    let paid = t.pay(&paid_order, &new_key(), &paid_fp).await;
    t.wallet(&prepay_id(&paid.body), "confirm", None).await;
    t.wait_stats(&paid_order, |s| s["notifiesReceived"] == 1)
        .await;
    let (open_order, open_fp) = t.simple_order().await;
    let key = new_key();
    let open = t.pay(&open_order, &key, &open_fp).await;
    assert_eq!(open.status, 201);
    let before: Vec<Value> = vec![t.dump(&paid_order).await, t.dump(&open_order).await];
    let order_before = t.get_json(&format!("/api/orders/{open_order}")).await;
    let sim = t.sim.clone().expect("on the WeChat Pay simulator");
    t.server.shutdown().await;
    assert!(db.exists(), "the database is a file");

    // WeChat Pay does not restart with the merchant: the same simulator.
    let t = spawn_on(config(), sim).await;
    let after: Vec<Value> = vec![t.dump(&paid_order).await, t.dump(&open_order).await];
    assert_eq!(before, after, "every row survived");
    assert_eq!(
        without_now(&t.get_json(&format!("/api/orders/{open_order}")).await),
        without_now(&order_before)
    );
    // The stored reply and the paid state still rule.
    let again = t.pay(&open_order, &key, &open_fp).await;
    assert_eq!(again.status, 200);
    assert_eq!(without_now(&again.body), without_now(&open.body));
    t.pay(&paid_order, &new_key(), &paid_fp)
        .await
        .assert_error(409, "already_paid");
    assert_eq!(t.status(&paid_order).await.body["status"], "paid");
    // The provider side survived too: the old prepay is still payable exactly once.
    let confirm = t.wallet(&prepay_id(&open.body), "confirm", None).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(t.status(&open_order).await.body["status"], "paid");
    assert_eq!(t.stats(&open_order).await["charges"], 1);
    t.server.shutdown().await;
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Sends a raw request and checks the reply is a JSON 4xx error with `code`.
async fn expect_client_error(req: reqwest::RequestBuilder, status: u16, code: &str) {
    let reply = Reply::from(req.send().await.expect("send")).await;
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "JSON error for {code}"
    );
    reply.assert_error(status, code);
}

#[tokio::test]
async fn bad_input_gets_clear_json_4xx_errors() {
    let t = spawn().await;
    let c = &t.client;
    let (order, fp) = t.simple_order().await;
    let orders = t.at("/api/orders");
    let json_req = |body: &'static str| {
        c.post(&orders)
            .header("content-type", "application/json")
            .body(body)
    };
    expect_client_error(json_req("{\"content\": "), 400, "invalid_body").await;
    expect_client_error(json_req("not json"), 400, "invalid_body").await;
    expect_client_error(json_req(""), 400, "invalid_body").await;
    expect_client_error(json_req("{\"content\": 5}"), 400, "invalid_body").await;
    expect_client_error(
        json_req("{\"content\": {}, \"extra\": 1}"),
        400,
        "invalid_body",
    )
    .await;
    expect_client_error(
        json_req("{\"content\": {\"amount\": -1}}"),
        400,
        "invalid_body",
    )
    .await;
    expect_client_error(
        json_req("{\"content\": {\"amount\": 1.5}}"),
        400,
        "invalid_body",
    )
    .await;
    expect_client_error(
        json_req("{\"content\": {}, \"orderNo\": \"bad order!\"}"),
        400,
        "invalid_body",
    )
    .await;
    let deep = format!(
        "{{\"content\": {{\"a\": {}1{}}}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    expect_client_error(
        c.post(&orders)
            .header("content-type", "application/json")
            .body(deep),
        400,
        "invalid_body",
    )
    .await;
    let huge = format!("{{\"content\": {{\"blob\": \"{}\"}}}}", "x".repeat(1 << 20));
    expect_client_error(
        c.post(&orders)
            .header("content-type", "application/json")
            .body(huge.clone()),
        413,
        "payload_too_large",
    )
    .await;
    expect_client_error(
        c.post(t.at(&format!("/api/orders/{order}/payments")))
            .header("Idempotency-Key", new_key())
            .body(huge),
        413,
        "payload_too_large",
    )
    .await;
    // A duplicate caller-chosen order number.
    let named = json!({"content": {"amount": 1}, "orderNo": "DEMO-0001"});
    assert_eq!(
        c.post(&orders)
            .json(&named)
            .send()
            .await
            .expect("send")
            .status(),
        201
    );
    expect_client_error(c.post(&orders).json(&named), 409, "order_exists").await;
    // Unknown things.
    expect_client_error(c.get(t.at("/api/orders/NOPE")), 404, "unknown_order").await;
    expect_client_error(
        c.put(t.at("/api/orders/NOPE"))
            .json(&json!({"content": {}})),
        404,
        "unknown_order",
    )
    .await;
    expect_client_error(c.get(t.at("/api/nothing/here")), 404, "not_found").await;
    expect_client_error(
        c.delete(t.at(&format!("/api/orders/{order}"))),
        405,
        "method_not_allowed",
    )
    .await;
    expect_client_error(c.get(t.at("/api/orders/%FF%FE")), 400, "invalid_path").await;
    // Bad fault header, bad key, unknown wallet action (the in-process provider's wallet,
    // which the demo profile serves whichever provider pays).
    expect_client_error(
        c.get(t.at(&format!("/api/orders/{order}/payment")))
            .header("X-Fault", "explode"),
        400,
        "invalid_fault",
    )
    .await;
    expect_client_error(
        c.post(t.at(&format!("/api/orders/{order}/payments")))
            .header("Idempotency-Key", "\"!!\"")
            .json(&json!({"fingerprint": fp})),
        400,
        "invalid_idempotency_key",
    )
    .await;
    expect_client_error(
        c.post(t.at("/sim/wallet/nope/confirm"))
            .header("accept", "application/json"),
        404,
        "unknown_prepay",
    )
    .await;
    // A browser form gets the same refusal as a page.
    let page = c
        .post(t.at("/sim/wallet/nope/confirm"))
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), 404);
    assert!(page.text().await.expect("text").contains("Refused"));
    expect_client_error(
        c.post(t.at("/sim/wallet/nope/dance")),
        404,
        "unknown_action",
    )
    .await;
    // The in-process provider's notify on a payment center on WeChat Pay: not there (WeChat
    // Pay's own, unsigned, is refused in `wechatpay_provider.rs`).
    expect_client_error(
        c.post(t.at("/api/notify")).body("{\"id\":\"x\"}"),
        404,
        "not_found",
    )
    .await;
    // The server is still fine.
    assert_eq!(t.status(&order).await.body["status"], "none");
    t.server.shutdown().await;
}

#[tokio::test]
async fn static_folders_are_served_and_missing_ones_are_404() {
    let t = spawn().await;
    assert_eq!(
        t.client.get(t.at("/")).send().await.expect("send").status(),
        404
    );
    assert_eq!(
        t.client
            .get(t.at("/pkg/x.js"))
            .send()
            .await
            .expect("send")
            .status(),
        404
    );
    t.server.shutdown().await;

    let dir = temp_dir("static");
    std::fs::create_dir_all(dir.join("www")).expect("www");
    std::fs::create_dir_all(dir.join("pkg")).expect("pkg");
    std::fs::write(dir.join("www/index.html"), "<h1>demo</h1>").expect("index");
    std::fs::write(dir.join("pkg/guard.js"), "export {}").expect("pkg file");
    let t = spawn_with(Config {
        www_dir: dir.join("www"),
        pkg_dir: dir.join("pkg"),
        ..test_config()
    })
    .await;
    let index = t.client.get(t.at("/")).send().await.expect("send");
    assert_eq!(index.status(), 200);
    assert_eq!(index.text().await.expect("text"), "<h1>demo</h1>");
    let js = t
        .client
        .get(t.at("/pkg/guard.js"))
        .send()
        .await
        .expect("send");
    assert_eq!(js.status(), 200);
    assert_eq!(js.text().await.expect("text"), "export {}");
    t.server.shutdown().await;
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
