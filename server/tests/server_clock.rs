//! "The server's clock" (docs/contract.md): every reply body the guard reads carries `"now"`,
//! the server's time when *that* reply was made, also when it is a stored reply sent again.

mod common;

use checkout_guard_server::clock::now_ms;
use common::*;
use serde_json::json;
use std::time::Duration;

/// Asserts `body` carries an integer `now` within `[from, now_ms()]`.
fn assert_now_since(body: &serde_json::Value, from: i64, what: &str) {
    let now = now_of(body);
    assert!(
        (from..=now_ms()).contains(&now),
        "{what}: now {now} not within [{from}, …]: {body}"
    );
}

#[tokio::test]
async fn every_order_attempt_and_status_reply_carries_the_time_of_that_reply() {
    let t = spawn().await;
    let from = now_ms();
    let created = t
        .submit_with(&json!({"content": {"amount": 5}}), Some(&new_key()), None)
        .await;
    assert_eq!(created.status, 201);
    assert_now_since(&created.body, from, "POST /api/orders");
    let order = created.body["orderNo"]
        .as_str()
        .expect("orderNo")
        .to_owned();
    let fp = created.body["fingerprint"].as_str().expect("fp").to_owned();

    let from = now_ms();
    assert_now_since(&t.get_order(&order).await, from, "GET /api/orders/{no}");
    let from = now_ms();
    let none = t.status(&order).await;
    assert_eq!(none.body["status"], "none");
    assert_now_since(&none.body, from, "status none");

    let key = new_key();
    let from = now_ms();
    let first = t.pay(&order, &key, &fp).await;
    assert_eq!(first.status, 201);
    assert_now_since(&first.body, from, "create 201");

    tokio::time::sleep(Duration::from_millis(30)).await;
    let from = now_ms();
    let stored = t.pay(&order, &key, &fp).await;
    assert_eq!(stored.status, 200);
    assert_now_since(&stored.body, from, "stored reply");
    assert!(
        now_of(&stored.body) > now_of(&first.body),
        "not the stored time"
    );
    let from = now_ms();
    let reused = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(reused.body["reused"], true);
    assert_now_since(&reused.body, from, "reused attempt");

    let from = now_ms();
    let unpaid = t.status(&order).await;
    assert_eq!(unpaid.body["status"], "unpaid");
    assert_now_since(&unpaid.body, from, "status unpaid");
    // A held long-poll stamps the time it answers, not the time it was asked.
    let from = now_ms();
    let held = t.status_with(&order, Some(1), None).await;
    assert!(now_of(&held.body) >= from + 900, "{}", held.body);

    let from = now_ms();
    let put = t.put_order(&order, json!({"amount": 6}), None).await;
    assert_eq!(put.status, 200);
    assert_now_since(&put.body, from, "PUT /api/orders/{no}");
    let from = now_ms();
    let replay = t
        .submit_with(&json!({"content": {"amount": 5}}), Some(&new_key()), None)
        .await;
    assert_now_since(&replay.body, from, "POST /api/orders (new key)");
    t.server.shutdown().await;
}
