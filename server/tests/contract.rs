//! Every rule of docs/contract.md, over real HTTP.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn attempt_id(body: &serde_json::Value) -> String {
    body["attemptId"].as_str().expect("attemptId").to_owned()
}

#[tokio::test]
async fn create_returns_a_contract_attempt_and_the_stored_reply_on_repeat() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let key = new_key();
    let first = t.pay(&order, &key, &fp).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let id = attempt_id(&first.body);
    assert!((6..=32).contains(&id.len()), "{id}");
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_|*".contains(&b)));
    assert_eq!(first.body["orderNo"], order);
    assert_eq!(first.body["fingerprint"], fp);
    assert_eq!(first.body["reused"], false);
    assert!(first.body["prepay"].is_object());
    assert!(
        serde_json::to_vec(&first.body["prepay"])
            .expect("json")
            .len()
            <= 4096
    );
    let expires = first.body["expiresAt"].as_i64().expect("expiresAt");
    assert!(expires > checkout_guard_server::clock::now_ms());

    let again = t.pay(&order, &key, &fp).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        without_now(&again.body),
        without_now(&first.body),
        "the stored reply, byte for byte but for the server's clock"
    );
    assert!(now_of(&again.body) >= now_of(&first.body));

    // The bare token (no sf-string quotes) is the same key.
    let bare = t
        .client
        .post(t.at(&format!("/api/orders/{order}/payments")))
        .header("Idempotency-Key", key.as_str())
        .json(&json!({ "fingerprint": fp }))
        .send()
        .await
        .expect("send");
    let bare = Reply::from(bare).await;
    assert_eq!(bare.status, 200);
    assert_eq!(without_now(&bare.body), without_now(&first.body));

    let stats = t.stats(&order).await;
    assert_eq!(stats["attemptsCreated"], 1);
    assert_eq!(stats["prepayCalls"], 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn missing_or_malformed_key_is_400_and_creates_nothing() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let url = t.at(&format!("/api/orders/{order}/payments"));
    let missing = Reply::from(
        t.client
            .post(&url)
            .json(&json!({ "fingerprint": fp }))
            .send()
            .await
            .expect("send"),
    )
    .await;
    missing.assert_error(400, "invalid_idempotency_key");
    for bad in [
        "\"short\"",
        "\"0123456789abcdef0123456789abcdef",
        "\"0123456789abcdef 0123456789abcde\"",
        "\"0123456789abcdef.0123456789abcde\"",
        &format!("\"{}\"", "a".repeat(65)),
        "",
    ] {
        let reply = Reply::from(
            t.client
                .post(&url)
                .header("Idempotency-Key", bad)
                .json(&json!({ "fingerprint": fp }))
                .send()
                .await
                .expect("send"),
        )
        .await;
        reply.assert_error(400, "invalid_idempotency_key");
    }
    let two = Reply::from(
        t.client
            .post(&url)
            .header("Idempotency-Key", new_key())
            .header("Idempotency-Key", new_key())
            .json(&json!({ "fingerprint": fp }))
            .send()
            .await
            .expect("send"),
    )
    .await;
    two.assert_error(400, "invalid_idempotency_key");
    for body in ["{", "[]", "{\"fingerprint\": 5}", "{\"fp\": \"x\"}"] {
        let reply = Reply::from(
            t.client
                .post(&url)
                .header("Idempotency-Key", new_key())
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("send"),
        )
        .await;
        reply.assert_error(400, "invalid_body");
    }
    for bad_fp in ["abc", &fp.to_uppercase(), &format!("{}g", &fp[..63])] {
        t.pay(&order, &new_key(), bad_fp)
            .await
            .assert_error(400, "invalid_body");
    }
    assert_eq!(t.stats(&order).await["attemptsCreated"], 0);
    assert_eq!(t.status(&order).await.body["status"], "none");
    t.server.shutdown().await;
}

#[tokio::test]
async fn unknown_order_is_404_for_create_and_status() {
    let t = spawn().await;
    let fp = "0".repeat(64);
    t.pay("NOSUCHORDER", &new_key(), &fp)
        .await
        .assert_error(404, "unknown_order");
    t.status("NOSUCHORDER")
        .await
        .assert_error(404, "unknown_order");
    t.server.shutdown().await;
}

#[tokio::test]
async fn key_reused_with_another_fingerprint_is_422_and_stale_fingerprint_is_mismatch() {
    let t = spawn().await;
    let (order, fp1) = t.simple_order().await;
    let key = new_key();
    assert_eq!(t.pay(&order, &key, &fp1).await.status, 201);
    let fp2 = t
        .change_order(
            &order,
            json!({"amount": 2999, "currency": "CNY", "items": []}),
        )
        .await;
    assert_ne!(fp1, fp2);
    t.pay(&order, &key, &fp2)
        .await
        .assert_error(422, "key_reused");
    // A new key with the old content: the server's copy of the order disagrees (rule 1.6).
    t.pay(&order, &new_key(), &fp1)
        .await
        .assert_error(422, "fingerprint_mismatch");
    // The crate's fingerprint is what the server computes.
    let mine = checkout_guard::core::fingerprint::fingerprint(
        &json!({"items": [], "currency": "CNY", "amount": 2999}),
    )
    .expect("fingerprint");
    assert_eq!(mine.as_str(), fp2);
    t.server.shutdown().await;
}

#[tokio::test]
async fn live_attempt_is_reused_whatever_the_key_with_no_second_prepay_call() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let first = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(first.status, 201);
    let second = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["reused"], true);
    assert_eq!(second.body["attemptId"], first.body["attemptId"]);
    assert_eq!(second.body["prepay"], first.body["prepay"]);
    let stats = t.stats(&order).await;
    assert_eq!(
        (
            stats["attemptsCreated"].clone(),
            stats["prepayCalls"].clone()
        ),
        (json!(1), json!(1))
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn changed_content_closes_the_old_attempt_at_the_provider_before_a_new_one() {
    let t = spawn().await;
    let (order, fp1) = t.simple_order().await;
    let first = t.pay(&order, &new_key(), &fp1).await;
    assert_eq!(first.status, 201);
    let fp2 = t
        .change_order(&order, json!({"amount": 100, "items": ["coupon"]}))
        .await;
    let second = t.pay(&order, &new_key(), &fp2).await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_ne!(second.body["attemptId"], first.body["attemptId"]);
    assert_eq!(second.body["orderNo"], order, "same business order number");

    let dump = t.dump(&order).await;
    let txs = dump["providerTransactions"].as_array().expect("txs");
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[0]["outTradeNo"], first.body["attemptId"]);
    assert_eq!(txs[0]["tradeState"], "CLOSED");
    assert_eq!(txs[1]["tradeState"], "NOTPAY");
    assert_eq!(dump["attempts"][0]["state"], "closed");

    // The closed attempt can never be charged.
    t.wallet(&prepay_id(&first.body), "confirm", None)
        .await
        .assert_error(409, "prepay_closed");
    let stats = t.stats(&order).await;
    assert_eq!(stats["charges"], 0);
    assert_eq!(stats["paymentsRefused"], 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn expired_prepay_is_closed_before_status_says_closed_and_before_a_replacement() {
    let mut config = test_config();
    // WeChat Pay's `time_expire` is in whole seconds (rounded down): a lifetime of 1.5 s still
    // lies ahead when it arrives.
    config.settings.prepay_ttl_ms = 1500;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let first = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(first.status, 201);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let status = t.status(&order).await;
    assert_eq!(status.body["status"], "closed", "{}", status.body);
    assert_eq!(status.body["attemptId"], first.body["attemptId"]);
    let dump = t.dump(&order).await;
    assert_eq!(dump["providerTransactions"][0]["tradeState"], "CLOSED");

    let second = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(second.status, 201);
    assert_ne!(second.body["attemptId"], first.body["attemptId"]);

    // Straight to create after expiry (no status in between): still closed first.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let third = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(third.status, 201);
    let dump = t.dump(&order).await;
    let states: Vec<_> = dump["providerTransactions"]
        .as_array()
        .expect("txs")
        .iter()
        .map(|tx| tx["tradeState"].as_str().expect("state").to_owned())
        .collect();
    assert_eq!(states, ["CLOSED", "CLOSED", "NOTPAY"]);
    t.wallet(&prepay_id(&second.body), "confirm", None)
        .await
        .assert_error(409, "prepay_closed");
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_close_that_reveals_a_payment_answers_already_paid() {
    let mut config = test_config();
    config.settings.query_interval_ms = 60_000;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let first = t.pay(&order, &new_key(), &fp).await;
    // The buyer pays but the notify is lost; the merchant does not know yet.
    let paid = t
        .wallet(&prepay_id(&first.body), "confirm", Some("notify=lost"))
        .await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    // Changing the content closes the attempt first (rule 1.3): the close reveals the payment.
    let put = Reply::from(
        t.client
            .put(t.at(&format!("/api/orders/{order}")))
            .json(&json!({"content": {"amount": 5}}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    put.assert_error(409, "already_paid");
    t.pay(&order, &new_key(), &fp)
        .await
        .assert_error(409, "already_paid");
    let stats = t.stats(&order).await;
    assert_eq!(stats["charges"], 1);
    assert_eq!(
        stats["attemptsCreated"], 1,
        "no new attempt after the refused close"
    );
    let unchanged = t.get_json(&format!("/api/orders/{order}")).await;
    assert_eq!(unchanged["fingerprint"], fp, "the content did not change");
    assert_eq!(unchanged["paid"], true);
    assert_eq!(t.status(&order).await.body["status"], "paid");
    t.server.shutdown().await;
}

#[tokio::test]
async fn an_expired_attempt_whose_close_reveals_a_payment_is_reported_paid() {
    let mut config = test_config();
    // `time_expire` is in whole seconds (rounded down): WeChat Pay's deadline may come up to a
    // second before the server's `expiresAt`, and the buyer must still pay in time.
    config.settings.prepay_ttl_ms = 2000;
    config.settings.query_interval_ms = 60_000;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let first = t.pay(&order, &new_key(), &fp).await;
    // The status asks the provider once (first query), then not again within the interval.
    assert_eq!(t.status(&order).await.body["status"], "unpaid");
    t.wallet(&prepay_id(&first.body), "confirm", Some("notify=lost"))
        .await;
    assert_eq!(
        t.status(&order).await.body["status"],
        "unpaid",
        "rate-limited query"
    );
    let expires = first.body["expiresAt"].as_i64().expect("expiresAt");
    let left = expires - checkout_guard_server::clock::now_ms() + 50;
    tokio::time::sleep(Duration::from_millis(left.max(0) as u64)).await;
    let status = t.status(&order).await;
    assert_eq!(status.body["status"], "paid", "{}", status.body);
    assert_eq!(t.stats(&order).await["queries"], 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn paid_is_final_for_every_key() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let key = new_key();
    let first = t.pay(&order, &key, &fp).await;
    t.wallet(&prepay_id(&first.body), "confirm", None).await;
    t.wait_stats(&order, |s| s["notifiesReceived"] == 1).await;
    t.pay(&order, &key, &fp)
        .await
        .assert_error(409, "already_paid");
    t.pay(&order, &new_key(), &fp)
        .await
        .assert_error(409, "already_paid");
    let status = t.status(&order).await;
    assert_eq!(status.body["status"], "paid");
    assert_eq!(status.body["attemptId"], first.body["attemptId"]);
    // A paid order's content cannot change either.
    let put = Reply::from(
        t.client
            .put(t.at(&format!("/api/orders/{order}")))
            .json(&json!({"content": {"amount": 1}}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    put.assert_error(409, "already_paid");
    t.server.shutdown().await;
}

#[tokio::test]
async fn status_walks_none_unpaid_paying_paid_and_failed() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let none = t.status(&order).await;
    assert_eq!(none.status, 200);
    assert_eq!(
        without_now(&none.body),
        json!({"orderNo": order, "status": "none"})
    );
    let created = t.pay(&order, &new_key(), &fp).await;
    let unpaid = t.status(&order).await;
    assert_eq!(unpaid.body["status"], "unpaid");
    for field in ["attemptId", "fingerprint", "prepay", "expiresAt"] {
        assert!(!unpaid.body[field].is_null(), "{field} in {}", unpaid.body);
    }
    assert_eq!(unpaid.body["prepay"], created.body["prepay"]);
    let prepay = prepay_id(&created.body);
    assert_eq!(t.wallet(&prepay, "start", None).await.status, 200);
    assert_eq!(t.status(&order).await.body["status"], "paying");
    // Buyer backs out: unpaid again.
    assert_eq!(t.wallet(&prepay, "cancel", None).await.status, 200);
    assert_eq!(t.status(&order).await.body["status"], "unpaid");
    t.wallet(&prepay, "confirm", None).await;
    let paid = t.status(&order).await;
    assert_eq!(paid.body["status"], "paid");
    assert_eq!(paid.body["attemptId"], created.body["attemptId"]);

    let (order2, fp2) = t.simple_order().await;
    let created2 = t.pay(&order2, &new_key(), &fp2).await;
    t.wallet(&prepay_id(&created2.body), "fail", None).await;
    let failed = t.status(&order2).await;
    assert_eq!(failed.body["status"], "failed");
    assert_eq!(failed.body["attemptId"], created2.body["attemptId"]);
    // A failed attempt is dead: the next pay gets a new one without a close.
    let again = t.pay(&order2, &new_key(), &fp2).await;
    assert_eq!(again.status, 201);
    t.server.shutdown().await;
}

#[tokio::test]
async fn lost_notify_is_recovered_by_the_active_query() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    t.wallet(&prepay_id(&created.body), "confirm", Some("notify=lost"))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(t.stats(&order).await["notifiesReceived"], 0);
    assert_eq!(t.status(&order).await.body["status"], "paid");
    let stats = t.stats(&order).await;
    assert_eq!(stats["charges"], 1);
    assert!(stats["queries"].as_i64().expect("queries") >= 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn long_poll_wakes_on_payment_and_reports_the_applied_wait() {
    let mut config = test_config();
    config.settings.query_interval_ms = 60_000;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    let prepay = prepay_id(&created.body);
    // First status uses up the query so the poll below must be woken by the notify.
    assert_eq!(t.status(&order).await.body["status"], "unpaid");
    let started = Instant::now();
    let (poll, _) = tokio::join!(t.status_with(&order, Some(10), None), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        t.wallet(&prepay, "confirm", None).await
    });
    assert_eq!(poll.body["status"], "paid", "{}", poll.body);
    assert_eq!(
        poll.header("preference-applied").as_deref(),
        Some("wait=10")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Nothing happens: the poll holds for the wait, then answers unpaid.
    let (order2, fp2) = t.simple_order().await;
    t.pay(&order2, &new_key(), &fp2).await;
    let started = Instant::now();
    let idle = t.status_with(&order2, Some(1), None).await;
    assert_eq!(idle.body["status"], "unpaid");
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(idle.header("preference-applied").as_deref(), Some("wait=1"));

    // Waits above 25 s are capped; a final status answers at once.
    let capped = t.status_with(&order, Some(600), None).await;
    assert_eq!(capped.body["status"], "paid");
    assert_eq!(
        capped.header("preference-applied").as_deref(),
        Some("wait=25")
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn long_poll_finds_a_lost_notify_through_the_active_query() {
    let mut config = test_config();
    config.settings.query_interval_ms = 200;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    let prepay = prepay_id(&created.body);
    let (poll, _) = tokio::join!(t.status_with(&order, Some(5), None), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        t.wallet(&prepay, "confirm", Some("notify=lost")).await
    });
    assert_eq!(poll.body["status"], "paid");
    assert_eq!(t.stats(&order).await["notifiesReceived"], 0);
    t.server.shutdown().await;
}

#[tokio::test]
async fn same_key_in_flight_is_409_in_progress_then_the_stored_reply() {
    let mut config = test_config();
    config.settings.busy_wait_ms = 100;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let key = new_key();
    let other_key = new_key();
    // Waits until the slow create holds the order (its attempt is in the database as
    // `creating`), so the race below is decided by the lock, not by scheduling.
    let holding = async {
        for _ in 0..200 {
            let dump = t.dump(&order).await;
            if dump["attempts"][0]["state"] == "creating" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the slow create never started");
    };
    let (slow, (same, other, status)) = tokio::join!(
        t.pay_with(&order, &key, &fp, Some("provider-latency=1500")),
        async {
            holding.await;
            tokio::join!(
                t.pay(&order, &key, &fp),
                t.pay(&order, &other_key, &fp),
                t.status(&order)
            )
        }
    );
    assert_eq!(slow.status, 201);
    same.assert_error(409, "in_progress");
    assert_eq!(same.header("retry-after").as_deref(), Some("1"));
    other.assert_error(409, "in_progress");
    // Busy status: 503 with Retry-After (rule 2.4).
    status.assert_error(503, "busy");
    assert_eq!(status.header("retry-after").as_deref(), Some("1"));
    let retry = t.pay(&order, &key, &fp).await;
    assert_eq!(retry.status, 200);
    assert_eq!(without_now(&retry.body), without_now(&slow.body));
    t.server.shutdown().await;
}

#[tokio::test]
async fn lost_response_after_commit_is_recovered_with_the_same_key() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let key = new_key();
    let lost = t
        .client
        .post(t.at(&format!("/api/orders/{order}/payments")))
        .header("Idempotency-Key", format!("\"{key}\""))
        .header("X-Fault", "drop-reply")
        .json(&json!({ "fingerprint": fp }))
        .send()
        .await;
    assert!(lost.is_err(), "the reply must be lost: {lost:?}");
    // The work was committed before the connection dropped.
    let dump = t.dump(&order).await;
    assert_eq!(dump["attempts"].as_array().expect("attempts").len(), 1);
    assert_eq!(dump["idempotencyKeys"], 1);
    let retry = t.pay(&order, &key, &fp).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body["attemptId"], dump["attempts"][0]["attemptId"]);
    let stats = t.stats(&order).await;
    assert_eq!(
        (
            stats["attemptsCreated"].clone(),
            stats["prepayCalls"].clone()
        ),
        (json!(1), json!(1))
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_reuse_asks_the_provider_first_so_a_just_paid_attempt_is_not_launched_again() {
    let mut config = test_config();
    config.settings.query_interval_ms = 60_000;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    let created = t.pay(&order, &new_key(), &fp).await;
    // Paid, and the merchant has not heard: the notify is lost.
    t.wallet(&prepay_id(&created.body), "confirm", Some("notify=lost"))
        .await;
    t.pay(&order, &new_key(), &fp)
        .await
        .assert_error(409, "already_paid");
    let stats = t.stats(&order).await;
    assert_eq!(stats["notifiesReceived"], 0);
    assert_eq!(stats["charges"], 1);
    assert_eq!(stats["attemptsCreated"], 1);
    t.server.shutdown().await;
}
