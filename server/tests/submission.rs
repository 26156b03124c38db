//! Submitting the business order (docs/contract.md §4): `POST /api/orders` with an
//! `Idempotency-Key` makes one order per submission, whatever the buyer does; without a key it
//! makes a new order every time, as before.

mod common;

use checkout_guard_server::clock::now_ms;
use checkout_guard_server::{Config, Storage};
use common::*;
use futures::future::join_all;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

fn cart() -> Value {
    json!({"amount": 1999, "currency": "CNY", "items": [{"sku": "tea", "qty": 1}]})
}

fn order_no(reply: &Reply) -> String {
    reply.body["orderNo"]
        .as_str()
        .unwrap_or_else(|| panic!("no orderNo in {}", reply.body))
        .to_owned()
}

/// How many orders the database holds with this content (no endpoint lists orders).
async fn orders_with(t: &TestServer, content: &Value) -> i64 {
    let print = checkout_guard::core::fingerprint::fingerprint(content).expect("fingerprint");
    t.count_orders_with(print.as_str()).await
}

#[tokio::test]
async fn the_same_key_returns_the_same_order_and_other_content_is_key_reused() {
    let t = spawn().await;
    let key = new_key();
    let before = now_ms();
    let first = t.submit(&cart(), "buyer-1", &key).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["reused"], false);
    let created = first.body["createdAt"].as_i64().expect("createdAt");
    assert_eq!(
        first.body["expiresAt"].as_i64(),
        Some(created + 15 * 60 * 1000),
        "the window is createdAt + 15 min"
    );
    assert!((before..=now_ms()).contains(&now_of(&first.body)));
    let print = checkout_guard::core::fingerprint::fingerprint(&cart()).expect("fp");
    assert_eq!(first.body["fingerprint"], print.as_str());
    assert_eq!(first.body["paid"], false);

    let again = t.submit(&cart(), "buyer-1", &key).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["reused"], true);
    assert_eq!(order_no(&again), order_no(&first));
    assert_eq!(again.body["expiresAt"], first.body["expiresAt"]);

    // The bare token is the same key.
    let bare = Reply::from(
        t.client
            .post(t.at("/api/orders"))
            .header("Idempotency-Key", key.as_str())
            .json(&json!({"content": cart(), "buyer": "buyer-1"}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(bare.status, 200);
    assert_eq!(order_no(&bare), order_no(&first));

    // The same key for other content, or for another chosen order number, is refused.
    t.submit(&json!({"amount": 1}), "buyer-1", &key)
        .await
        .assert_error(422, "key_reused");
    t.submit_with(
        &json!({"content": cart(), "buyer": "buyer-1", "orderNo": "OTHER-0001"}),
        Some(&key),
        None,
    )
    .await
    .assert_error(422, "key_reused");
    assert_eq!(orders_with(&t, &cart()).await, 1);
    assert_eq!(t.dump(&order_no(&first)).await["submissionKeys"], 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn the_same_content_from_the_same_buyer_within_the_window_is_one_order_whatever_the_key() {
    let t = spawn().await;
    let first = t.submit(&cart(), "alice", &new_key()).await;
    assert_eq!(first.status, 201);
    let second = t.submit(&cart(), "alice", &new_key()).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["reused"], true);
    assert_eq!(order_no(&second), order_no(&first));

    // Another buyer, or no buyer, is another submission.
    let bob = t.submit(&cart(), "bob", &new_key()).await;
    assert_eq!(bob.status, 201);
    assert_ne!(order_no(&bob), order_no(&first));
    let anonymous = t.submit(&cart(), "", &new_key()).await;
    assert_eq!(anonymous.status, 201);
    let anonymous_again = t.submit(&cart(), "", &new_key()).await;
    assert_eq!(anonymous_again.status, 200);
    assert_eq!(order_no(&anonymous_again), order_no(&anonymous));
    // Other content from the same buyer is a new order.
    let other = t.submit(&json!({"amount": 5}), "alice", &new_key()).await;
    assert_eq!(other.status, 201);
    assert_eq!(orders_with(&t, &cart()).await, 3);
    t.server.shutdown().await;
}

#[tokio::test]
async fn keys_are_per_buyer() {
    let t = spawn().await;
    let key = new_key();
    let alice = t.submit(&cart(), "alice", &key).await;
    assert_eq!(alice.status, 201);
    // Bob with Alice's key finds nothing of hers: his own, new order.
    let bob = t.submit(&cart(), "bob", &key).await;
    assert_eq!(bob.status, 201, "{}", bob.body);
    assert_ne!(order_no(&bob), order_no(&alice));
    // And his use of the key does not bind it for her.
    let bob_other = t.submit(&json!({"amount": 1}), "bob", &key).await;
    bob_other.assert_error(422, "key_reused");
    assert_eq!(t.submit(&cart(), "alice", &key).await.status, 200);
    t.server.shutdown().await;
}

#[tokio::test]
async fn without_a_key_every_submission_is_a_new_order_and_is_never_deduplicated() {
    let t = spawn().await;
    let body = json!({"content": cart(), "buyer": "alice"});
    let mut seen = BTreeSet::new();
    for _ in 0..3 {
        let reply = t.submit_with(&body, None, None).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.body["reused"], false);
        assert!(reply.body["expiresAt"].is_i64() && reply.body["now"].is_i64());
        seen.insert(order_no(&reply));
    }
    assert_eq!(seen.len(), 3);
    // A keyed submission does not pick up an order made without a key.
    let keyed = t.submit(&cart(), "alice", &new_key()).await;
    assert_eq!(keyed.status, 201);
    assert!(!seen.contains(&order_no(&keyed)));
    t.server.shutdown().await;
}

#[tokio::test]
async fn after_the_window_other_keys_make_a_new_order_but_the_key_still_finds_its_own() {
    let mut config = test_config();
    config.settings.submit_window_ms = 300;
    let t = spawn_with(config).await;
    let key = new_key();
    let first = t.submit(&cart(), "alice", &key).await;
    assert_eq!(first.status, 201);
    let created = first.body["createdAt"].as_i64().expect("createdAt");
    assert_eq!(first.body["expiresAt"].as_i64(), Some(created + 300));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = t.submit(&cart(), "alice", &new_key()).await;
    assert_eq!(later.status, 201, "{}", later.body);
    assert_ne!(order_no(&later), order_no(&first));
    let replay = t.submit(&cart(), "alice", &key).await;
    assert_eq!(replay.status, 200);
    assert_eq!(order_no(&replay), order_no(&first));
    // Within the new order's window, it is the one found.
    let again = t.submit(&cart(), "alice", &new_key()).await;
    assert_eq!(order_no(&again), order_no(&later));
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_paid_order_is_still_the_answer_for_its_key_and_its_window() {
    let t = spawn().await;
    let key = new_key();
    let first = t.submit(&cart(), "alice", &key).await;
    let order = order_no(&first);
    let fp = first.body["fingerprint"].as_str().expect("fp").to_owned();
    let attempt = t.pay(&order, &new_key(), &fp).await;
    t.wallet(&prepay_id(&attempt.body), "confirm", None).await;
    t.wait_stats(&order, |s| s["notifiesReceived"] == 1).await;
    for key in [key, new_key()] {
        let replay = t.submit(&cart(), "alice", &key).await;
        assert_eq!(replay.status, 200, "{}", replay.body);
        assert_eq!(order_no(&replay), order);
        assert_eq!(replay.body["paid"], true, "final for the guard");
    }
    assert_eq!(t.stats(&order).await["charges"], 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn twenty_parallel_submissions_with_different_keys_make_one_order() {
    let t = spawn().await;
    let replies = join_all((0..20).map(|_| {
        let key = new_key();
        let t = &t;
        async move { t.submit(&cart(), "alice", &key).await }
    }))
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let reused = replies
        .iter()
        .filter(|r| r.status == 200 && r.body["reused"] == true)
        .count();
    assert_eq!((created, reused), (1, 19));
    let numbers: BTreeSet<_> = replies.iter().map(order_no).collect();
    assert_eq!(numbers.len(), 1, "{numbers:?}");
    let order = numbers.into_iter().next().expect("one");
    assert_eq!(orders_with(&t, &cart()).await, 1);
    assert_eq!(t.dump(&order).await["submissionKeys"], 20);
    t.server.shutdown().await;
}

#[tokio::test]
async fn twenty_parallel_submissions_with_one_key_make_one_order() {
    let t = spawn().await;
    let key = new_key();
    let content = cart();
    let replies = join_all((0..20).map(|_| t.submit(&content, "alice", &key))).await;
    let mut numbers = BTreeSet::new();
    let mut created = 0;
    for reply in &replies {
        match reply.status.as_u16() {
            201 => {
                created += 1;
                numbers.insert(order_no(reply));
            }
            200 => {
                numbers.insert(order_no(reply));
            }
            _ => {
                reply.assert_error(409, "in_progress");
                assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(numbers.len(), 1, "{numbers:?}");
    let retry = t.submit(&cart(), "alice", &key).await;
    assert_eq!(retry.status, 200);
    assert!(numbers.contains(&order_no(&retry)));
    assert_eq!(orders_with(&t, &cart()).await, 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_key_still_being_handled_is_409_in_progress() {
    let t = spawn().await;
    let key = new_key();
    let other_key = new_key();
    let content = cart();
    let body = json!({"content": content, "buyer": "alice"});
    let (slow, (same, other)) = tokio::join!(
        t.submit_with(&body, Some(&key), Some("submit-latency=800")),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tokio::join!(
                t.submit(&content, "alice", &key),
                t.submit(&content, "alice", &other_key)
            )
        }
    );
    same.assert_error(409, "in_progress");
    assert_eq!(same.header("retry-after").as_deref(), Some("1"));
    // Another key is not held up; whichever decides first makes the order, the other gets it.
    assert_eq!(other.status, 201, "{}", other.body);
    assert_eq!(slow.status, 200, "{}", slow.body);
    assert_eq!(order_no(&slow), order_no(&other));
    let retry = t.submit(&cart(), "alice", &key).await;
    assert_eq!(retry.status, 200);
    assert_eq!(order_no(&retry), order_no(&other));
    assert_eq!(orders_with(&t, &cart()).await, 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_lost_reply_is_recovered_with_the_same_key() {
    let t = spawn().await;
    let key = new_key();
    let lost = t
        .client
        .post(t.at("/api/orders"))
        .header("Idempotency-Key", format!("\"{key}\""))
        .header("X-Fault", "drop-reply")
        .json(&json!({"content": cart()}))
        .send()
        .await;
    assert!(lost.is_err(), "the reply must be lost: {lost:?}");
    let retry = t.submit(&cart(), "", &key).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(retry.body["reused"], true);
    assert_eq!(orders_with(&t, &cart()).await, 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn malformed_submissions_are_refused_and_store_nothing() {
    let t = spawn().await;
    let good = json!({"content": cart()});
    for bad in [
        "\"short\"",
        "\"0123456789abcdef0123456789abcdef",
        "\"0123456789abcdef.0123456789abcde\"",
        "",
    ] {
        let reply = Reply::from(
            t.client
                .post(t.at("/api/orders"))
                .header("Idempotency-Key", bad)
                .json(&good)
                .send()
                .await
                .expect("send"),
        )
        .await;
        reply.assert_error(400, "invalid_idempotency_key");
    }
    let two = Reply::from(
        t.client
            .post(t.at("/api/orders"))
            .header("Idempotency-Key", new_key())
            .header("Idempotency-Key", new_key())
            .json(&good)
            .send()
            .await
            .expect("send"),
    )
    .await;
    two.assert_error(400, "invalid_idempotency_key");
    let key = new_key();
    for body in [
        json!({"content": cart(), "buyer": "x".repeat(65)}),
        json!({"content": cart(), "buyer": 5}),
        json!({"content": cart(), "fingerprint": "abc"}),
        json!({"content": 5}),
    ] {
        t.submit_with(&body, Some(&key), None)
            .await
            .assert_error(400, "invalid_body");
    }
    t.submit_with(
        &json!({"content": cart(), "fingerprint": "0".repeat(64)}),
        Some(&key),
        None,
    )
    .await
    .assert_error(422, "fingerprint_mismatch");
    assert_eq!(orders_with(&t, &cart()).await, 0);
    // The key is still free: none of the refusals stored it.
    let print = checkout_guard::core::fingerprint::fingerprint(&cart()).expect("fp");
    let ok = t
        .submit_with(
            &json!({"content": cart(), "fingerprint": print.as_str(), "buyer": "y".repeat(64)}),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_chosen_order_number_names_the_submission() {
    let t = spawn().await;
    let body = json!({"content": cart(), "buyer": "alice", "orderNo": "CART-0001"});
    let first = t.submit_with(&body, Some(&new_key()), None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(order_no(&first), "CART-0001");
    // A second tab, another key, the same number and content: the same order.
    let second = t.submit_with(&body, Some(&new_key()), None).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(order_no(&second), "CART-0001");
    // The same number for other content is taken.
    t.submit_with(
        &json!({"content": {"amount": 1}, "buyer": "alice", "orderNo": "CART-0001"}),
        Some(&new_key()),
        None,
    )
    .await
    .assert_error(409, "order_exists");
    // An order with that content but another number is still its own.
    let other = t
        .submit_with(
            &json!({"content": cart(), "buyer": "alice", "orderNo": "CART-0002"}),
            Some(&new_key()),
            None,
        )
        .await;
    assert_eq!(other.status, 201);
    t.server.shutdown().await;
}

#[tokio::test]
async fn submissions_survive_a_restart_and_the_window_is_a_runtime_setting() {
    let dir = temp_dir("submit-restart");
    let db = dir.join("demo.sqlite");
    let config = || Config {
        storage: Storage::File(db.clone()),
        ..test_config()
    };
    let t = spawn_with(config()).await;
    let key = new_key();
    let first = t.submit(&cart(), "alice", &key).await;
    assert_eq!(first.status, 201);
    let sim = t.sim.clone().expect("on the WeChat Pay simulator");
    t.server.shutdown().await;

    let t = spawn_on(config(), sim).await;
    let replay = t.submit(&cart(), "alice", &key).await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(order_no(&replay), order_no(&first));
    // The window can be changed while running (and an omitted field keeps the default).
    let mut settings = t.get_json("/admin/settings").await;
    assert_eq!(settings["submitWindowMs"], 15 * 60 * 1000);
    settings["submitWindowMs"] = json!(0);
    let put = t
        .client
        .put(t.at("/admin/settings"))
        .json(&settings)
        .send()
        .await
        .expect("send");
    assert_eq!(put.status(), 200);
    let no_window = t.submit(&cart(), "alice", &new_key()).await;
    assert_eq!(no_window.status, 201, "a zero window de-duplicates nothing");
    assert_eq!(
        no_window.body["expiresAt"], no_window.body["createdAt"],
        "{}",
        no_window.body
    );
    settings["submitWindowMs"] = json!(-1);
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
    settings
        .as_object_mut()
        .expect("object")
        .remove("submitWindowMs");
    let older_client = Reply::from(
        t.client
            .put(t.at("/admin/settings"))
            .json(&settings)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(older_client.status, 200, "{}", older_client.body);
    assert_eq!(older_client.body["submitWindowMs"], 15 * 60 * 1000);
    t.server.shutdown().await;
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
