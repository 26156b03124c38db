//! Every kind of reply this server gives, read by the guard's own parser
//! (`checkout_guard::core::contract`): the reference backend and the guard must agree on what
//! each reply means, not just on its JSON. If the core's parser changes, this test says whether
//! the server still speaks what the guard understands.

mod common;

use checkout_guard::core::contract::{
    parse_create, parse_status, CreateReply, HttpReply, OrderStatus, StatusReply,
};
use checkout_guard::core::fingerprint::Fingerprint;
use checkout_guard::core::ids::OrderNo;
use common::*;
use serde_json::json;

fn as_create(reply: &Reply, raw: &str, order: &str, fp: &str) -> CreateReply {
    let retry = reply.header("retry-after");
    parse_create(
        &HttpReply {
            status: reply.status.as_u16(),
            retry_after: retry.as_deref(),
            body: raw,
        },
        &OrderNo::parse(order).expect("order number"),
        &Fingerprint::parse(fp).expect("fingerprint"),
    )
}

fn as_status(reply: &Reply, raw: &str, order: &str) -> StatusReply {
    let retry = reply.header("retry-after");
    parse_status(
        &HttpReply {
            status: reply.status.as_u16(),
            retry_after: retry.as_deref(),
            body: raw,
        },
        &OrderNo::parse(order).expect("order number"),
    )
}

fn raw(reply: &Reply) -> String {
    if reply.body.is_null() {
        String::new()
    } else {
        reply.body.to_string()
    }
}

async fn create(
    t: &TestServer,
    order: &str,
    key: &str,
    fp: &str,
    fault: Option<&str>,
) -> CreateReply {
    let reply = t.pay_with(order, key, fp, fault).await;
    as_create(&reply, &raw(&reply), order, fp)
}

async fn status(t: &TestServer, order: &str, fault: Option<&str>) -> StatusReply {
    let reply = t.status_with(order, None, fault).await;
    as_status(&reply, &raw(&reply), order)
}

#[tokio::test]
async fn the_guard_reads_every_create_reply_as_intended() {
    let t = spawn().await;
    let (order, fp) = t.simple_order().await;
    let key = new_key();
    let CreateReply::Attempt(first) = create(&t, &order, &key, &fp, None).await else {
        panic!("201 must be an attempt");
    };
    assert!(!first.reused);
    assert!(first.expires_at.is_some());
    assert_eq!(
        create(&t, &order, &key, &fp, None).await,
        CreateReply::Attempt(first.clone())
    );
    match create(&t, &order, &new_key(), &fp, None).await {
        CreateReply::Attempt(reused) => {
            assert!(reused.reused);
            assert_eq!(reused.attempt_id, first.attempt_id);
        }
        other => panic!("reuse: {other:?}"),
    }
    assert_eq!(
        create(&t, &order, &key, &"0".repeat(64), None).await,
        CreateReply::KeyReused
    );
    assert_eq!(
        create(&t, &order, &new_key(), &"0".repeat(64), None).await,
        CreateReply::Rejected {
            status: 422,
            code: "fingerprint_mismatch".into()
        }
    );
    assert_eq!(
        create(&t, "NOSUCHORDER", &new_key(), &fp, None).await,
        CreateReply::Rejected {
            status: 404,
            code: "unknown_order".into()
        }
    );
    let bad_key = Reply::from(
        t.client
            .post(t.at(&format!("/api/orders/{order}/payments")))
            .header("Idempotency-Key", "\"nope\"")
            .json(&json!({ "fingerprint": fp }))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        as_create(&bad_key, &raw(&bad_key), &order, &fp),
        CreateReply::Rejected {
            status: 400,
            code: "invalid_idempotency_key".into()
        }
    );
    assert_eq!(
        create(&t, &order, &new_key(), &fp, Some("status=500")).await,
        CreateReply::Unavailable {
            retry_after_ms: None
        }
    );

    // A provider failure while replacing: "unknown, retry the same key".
    let fp2 = t.change_order(&order, json!({"amount": 7})).await;
    let key2 = new_key();
    assert_eq!(
        create(&t, &order, &key2, &fp2, Some("provider=fail")).await,
        CreateReply::Unavailable {
            retry_after_ms: Some(1000)
        }
    );
    let CreateReply::Attempt(second) = create(&t, &order, &key2, &fp2, None).await else {
        panic!("retry after a provider failure");
    };
    assert_ne!(second.attempt_id, first.attempt_id);

    // In flight, then paid.
    let prepay = wallet_id(&serde_json::Value::Object(second.prepay.as_map()));
    let slow_key = new_key();
    let (order3, fp3) = t.simple_order().await;
    let (_, in_flight) = tokio::join!(
        create(&t, &order3, &slow_key, &fp3, Some("provider-latency=1000")),
        async {
            for _ in 0..200 {
                if t.dump(&order3).await["attempts"][0]["state"] == "creating" {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            create(&t, &order3, &slow_key, &fp3, None).await
        }
    );
    assert_eq!(
        in_flight,
        CreateReply::InProgress {
            retry_after_ms: Some(1000)
        }
    );
    t.wallet(&prepay, "confirm", None).await;
    assert_eq!(
        create(&t, &order, &new_key(), &fp2, None).await,
        CreateReply::AlreadyPaid
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn the_guard_reads_every_status_reply_as_intended() {
    let mut config = test_config();
    // `time_expire` is in whole seconds (rounded down): WeChat Pay's deadline may come up to a
    // second before the server's `expiresAt`, and the buyer below must still pay in time.
    config.settings.prepay_ttl_ms = 2000;
    let t = spawn_with(config).await;
    let (order, fp) = t.simple_order().await;
    assert_eq!(
        status(&t, &order, None).await,
        StatusReply::Status(OrderStatus::None)
    );
    let created = t.pay(&order, &new_key(), &fp).await;
    let prepay = prepay_id(&created.body);
    let id = created.body["attemptId"].as_str().expect("id").to_owned();
    match status(&t, &order, None).await {
        StatusReply::Status(OrderStatus::Unpaid(a)) => assert_eq!(a.attempt_id.as_str(), id),
        other => panic!("unpaid: {other:?}"),
    }
    t.wallet(&prepay, "start", None).await;
    match status(&t, &order, None).await {
        StatusReply::Status(OrderStatus::Paying(a)) => assert_eq!(a.as_str(), id),
        other => panic!("paying: {other:?}"),
    }
    assert_eq!(
        status(&t, &order, Some("status=503")).await,
        StatusReply::Unavailable {
            retry_after_ms: Some(1000)
        }
    );
    t.wallet(&prepay, "confirm", None).await;
    match status(&t, &order, None).await {
        StatusReply::Status(OrderStatus::Paid(Some(a))) => assert_eq!(a.as_str(), id),
        other => panic!("paid: {other:?}"),
    }

    let (order2, fp2) = t.simple_order().await;
    let created2 = t.pay(&order2, &new_key(), &fp2).await;
    let id2 = created2.body["attemptId"].as_str().expect("id").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    match status(&t, &order2, None).await {
        StatusReply::Status(OrderStatus::Closed(a)) => assert_eq!(a.as_str(), id2),
        other => panic!("closed: {other:?}"),
    }
    let created3 = t.pay(&order2, &new_key(), &fp2).await;
    t.wallet(&prepay_id(&created3.body), "fail", None).await;
    match status(&t, &order2, None).await {
        StatusReply::Status(OrderStatus::Failed(a)) => {
            assert_eq!(a.as_str(), created3.body["attemptId"].as_str().expect("id"))
        }
        other => panic!("failed: {other:?}"),
    }
    t.server.shutdown().await;
}

#[tokio::test]
async fn the_guard_reads_the_servers_clock_in_every_reply_it_reads() {
    use checkout_guard::core::contract::parse_server_now;
    let t = spawn().await;
    let from = checkout_guard_server::clock::now_ms();
    let submitted = t
        .submit_with(&json!({"content": {"amount": 5}}), Some(&new_key()), None)
        .await;
    let order = submitted.body["orderNo"]
        .as_str()
        .expect("orderNo")
        .to_owned();
    let fp = submitted.body["fingerprint"]
        .as_str()
        .expect("fp")
        .to_owned();
    let key = new_key();
    let created = t.pay(&order, &key, &fp).await;
    let stored = t.pay(&order, &key, &fp).await;
    let status = t.status(&order).await;
    for (what, reply) in [
        ("submit", &submitted),
        ("create", &created),
        ("stored create", &stored),
        ("status", &status),
    ] {
        let now = parse_server_now(&raw(reply)).unwrap_or_else(|| panic!("{what}: no now"));
        let now = i64::try_from(now.0).expect("ms");
        assert!(
            (from..=checkout_guard_server::clock::now_ms()).contains(&now),
            "{what}: {now}"
        );
    }
    t.server.shutdown().await;
}
