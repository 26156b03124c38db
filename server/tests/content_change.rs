//! Changing an unpaid order's content (contract rule 1.3, second paragraph): the attempt for
//! the old content is closed at the provider before the change is accepted, and a payment for
//! an amount other than the order's is recorded as paid and flagged, never taken silently.

mod common;

use checkout_guard_server::clock::now_ms;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn tea(qty: i64) -> Value {
    json!({"amount": 1999 * qty, "currency": "CNY", "items": [{"sku": "tea", "qty": qty}]})
}

fn states(dump: &Value, list: &str, field: &str) -> Vec<String> {
    dump[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {dump}"))
        .iter()
        .map(|row| row[field].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn a_change_closes_the_live_attempt_first_so_the_old_prepay_can_never_be_paid() {
    let t = spawn().await;
    let (order, fp) = t.order(tea(1)).await;
    let first = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(first.status, 201, "{}", first.body);
    // The buyer has even opened the payment sheet (USERPAYING).
    assert_eq!(
        t.wallet(&prepay_id(&first.body), "start", None)
            .await
            .status,
        200
    );

    let put = t.put_order(&order, tea(2), None).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["amount"], 3998);
    assert_ne!(put.body["fingerprint"], fp);
    let dump = t.dump(&order).await;
    assert_eq!(states(&dump, "attempts", "state"), ["closed"]);
    assert_eq!(
        states(&dump, "providerTransactions", "tradeState"),
        ["CLOSED"]
    );
    assert_eq!(dump["stats"]["closes"], 1);

    // Confirming the old prepay (the old amount) after the change is refused by the provider.
    t.wallet(&prepay_id(&first.body), "confirm", None)
        .await
        .assert_error(409, "prepay_closed");
    let stats = t.stats(&order).await;
    assert_eq!(stats["charges"], 0);
    assert_eq!(stats["paymentsRefused"], 1);
    assert_eq!(t.status(&order).await.body["status"], "closed");

    // The next create is a new attempt for the new amount, with no second close.
    let new_fp = put.body["fingerprint"].as_str().expect("fp").to_owned();
    let second = t.pay(&order, &new_key(), &new_fp).await;
    assert_eq!(second.status, 201, "{}", second.body);
    t.wallet(&prepay_id(&second.body), "confirm", None).await;
    t.wait_stats(&order, |s| s["notifiesReceived"] == 1).await;
    let paid = t.get_order(&order).await;
    assert_eq!(paid["paid"], true);
    assert_eq!(paid["paidAmount"], 3998);
    assert_eq!(paid["flags"], json!([]));
    let stats = t.stats(&order).await;
    assert_eq!(
        (stats["charges"].clone(), stats["closes"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(stats["amountMismatches"], 0);
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_cannot_close_refuses_the_change_and_the_old_content_stays() {
    let t = spawn().await;
    let (order, fp) = t.order(tea(1)).await;
    let first = t.pay(&order, &new_key(), &fp).await;
    let before = t.get_order(&order).await;

    let refused = t.put_order(&order, tea(2), Some("provider=fail")).await;
    refused.assert_error(409, "attempt_open");
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"));
    let after = t.get_order(&order).await;
    assert_eq!(
        without_now(&after),
        without_now(&before),
        "content unchanged"
    );
    let dump = t.dump(&order).await;
    assert_eq!(states(&dump, "attempts", "state"), ["unpaid"]);
    assert_eq!(
        states(&dump, "providerTransactions", "tradeState"),
        ["NOTPAY"]
    );
    let status = t.status(&order).await;
    assert_eq!(status.body["status"], "unpaid");
    assert_eq!(status.body["attemptId"], first.body["attemptId"]);

    // The old attempt is still payable, for the content the order still has: paid in full.
    let paid = t.wallet(&prepay_id(&first.body), "confirm", None).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    t.wait_stats(&order, |s| s["notifiesReceived"] == 1).await;
    let order_now = t.get_order(&order).await;
    assert_eq!(order_now["paid"], true);
    assert_eq!(order_now["amount"], 1999);
    assert_eq!(order_now["paidAmount"], 1999);
    assert_eq!(order_now["flags"], json!([]));
    // And now the change is refused for good.
    t.put_order(&order, tea(2), None)
        .await
        .assert_error(409, "already_paid");
    let stats = t.stats(&order).await;
    assert_eq!(stats["charges"], 1);
    assert_eq!(stats["amountMismatches"], 0);
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_lost_close_reply_refuses_the_change_and_the_retry_goes_through() {
    let t = spawn().await;
    let (order, fp) = t.order(tea(1)).await;
    let first = t.pay(&order, &new_key(), &fp).await;
    // The provider closed it, but the merchant never heard: it cannot know, so it refuses.
    t.put_order(&order, tea(3), Some("provider=lost"))
        .await
        .assert_error(409, "attempt_open");
    assert_eq!(t.get_order(&order).await["fingerprint"], fp);
    t.wallet(&prepay_id(&first.body), "confirm", None)
        .await
        .assert_error(409, "prepay_closed");
    let put = t.put_order(&order, tea(3), None).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["amount"], 5997);
    assert_eq!(t.stats(&order).await["charges"], 0);
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_close_that_reveals_a_payment_refuses_the_change_and_the_order_is_paid() {
    let mut config = test_config();
    config.settings.query_interval_ms = 60_000;
    let t = spawn_with(config).await;
    let (order, fp) = t.order(tea(1)).await;
    let first = t.pay(&order, &new_key(), &fp).await;
    // Paid while the buyer changes the cart; the notify is lost, the merchant has not heard.
    t.wallet(&prepay_id(&first.body), "confirm", Some("notify=lost"))
        .await;
    t.put_order(&order, tea(2), None)
        .await
        .assert_error(409, "already_paid");
    let paid = t.get_order(&order).await;
    assert_eq!(paid["paid"], true);
    assert_eq!(paid["fingerprint"], fp, "content unchanged");
    assert_eq!(paid["paidAmount"], 1999);
    assert_eq!(paid["flags"], json!([]));
    assert_eq!(t.status(&order).await.body["status"], "paid");
    assert_eq!(t.stats(&order).await["charges"], 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn an_attempt_whose_creation_is_unknown_is_closed_before_the_change() {
    let t = spawn().await;
    let (order, fp) = t.order(tea(1)).await;
    // The provider made the transaction but its reply was lost: `creating`, not known dead.
    t.pay_with(&order, &new_key(), &fp, Some("provider=lost"))
        .await
        .assert_error(503, "provider_unavailable");
    assert_eq!(
        states(&t.dump(&order).await, "attempts", "state"),
        ["creating"]
    );
    let put = t.put_order(&order, tea(2), None).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let dump = t.dump(&order).await;
    assert_eq!(states(&dump, "attempts", "state"), ["closed"]);
    assert_eq!(
        states(&dump, "providerTransactions", "tradeState"),
        ["CLOSED"]
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_change_while_a_create_holds_the_order_is_409_in_progress() {
    let t = spawn().await;
    let (order, fp) = t.order(tea(1)).await;
    let holding = async {
        for _ in 0..200 {
            if t.dump(&order).await["attempts"][0]["state"] == "creating" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the slow create never started");
    };
    let key = new_key();
    let (slow, put) = tokio::join!(
        t.pay_with(&order, &key, &fp, Some("provider-latency=1000")),
        async {
            holding.await;
            t.put_order(&order, tea(2), None).await
        }
    );
    assert_eq!(slow.status, 201);
    put.assert_error(409, "in_progress");
    assert_eq!(put.header("retry-after").as_deref(), Some("1"));
    assert_eq!(t.get_order(&order).await["fingerprint"], fp);
    t.server.shutdown().await;
}

#[tokio::test]
async fn the_same_content_again_changes_nothing_and_keeps_the_prepay() {
    let t = spawn().await;
    let (order, fp) = t.order(tea(1)).await;
    let first = t.pay(&order, &new_key(), &fp).await;
    let put = t.put_order(&order, tea(1), None).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["fingerprint"], fp);
    let reused = t.pay(&order, &new_key(), &fp).await;
    assert_eq!(reused.status, 200);
    assert_eq!(reused.body["attemptId"], first.body["attemptId"]);
    assert_eq!(t.stats(&order).await["closes"], 0);
    t.server.shutdown().await;
}

/// What close-first prevents, forced: the content changes behind the server's back (a
/// business system writing the database, or a server without close-first) while the old
/// prepay is still payable, and the buyer pays it.
async fn change_behind_the_servers_back(t: &TestServer, order: &str, content: &Value) {
    let print = checkout_guard::core::fingerprint::fingerprint(content).expect("fingerprint");
    let amount = content["amount"].as_i64().expect("amount");
    let changed = t
        .change_content_in_the_database(order, content, print.as_str(), amount, now_ms())
        .await;
    assert!(changed);
}

#[tokio::test]
async fn a_payment_for_an_old_amount_is_paid_and_flagged_through_the_notify() {
    let t = spawn().await;
    let (order, fp) = t.order(tea(1)).await;
    let first = t.pay(&order, &new_key(), &fp).await;
    change_behind_the_servers_back(&t, &order, &tea(2)).await;
    assert_eq!(
        t.wallet(&prepay_id(&first.body), "confirm", None)
            .await
            .status,
        200
    );
    t.wait_stats(&order, |s| s["notifiesReceived"] == 1).await;
    let flagged = t.get_order(&order).await;
    assert_eq!(
        flagged["paid"], true,
        "paid is final: the buyer was charged"
    );
    assert_eq!(flagged["amount"], 3998);
    assert_eq!(flagged["paidAmount"], 1999);
    assert_eq!(flagged["flags"], json!(["amount_mismatch"]));
    let dump = t.dump(&order).await;
    assert_eq!(dump["order"]["paidAmount"], 1999);
    assert_eq!(dump["order"]["flags"], json!(["amount_mismatch"]));
    assert_eq!(dump["stats"]["amountMismatches"], 1);
    assert_eq!(dump["stats"]["charges"], 1);
    assert_eq!(t.status(&order).await.body["status"], "paid");
    // A repeated notify or query flags nothing twice.
    t.status(&order).await;
    assert_eq!(t.stats(&order).await["amountMismatches"], 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_payment_for_an_old_amount_is_paid_and_flagged_through_the_active_query() {
    let t = spawn().await;
    let (order, fp) = t.order(tea(1)).await;
    let first = t.pay(&order, &new_key(), &fp).await;
    change_behind_the_servers_back(&t, &order, &tea(5)).await;
    t.wallet(&prepay_id(&first.body), "confirm", Some("notify=lost"))
        .await;
    assert_eq!(t.status(&order).await.body["status"], "paid");
    let flagged = t.get_order(&order).await;
    assert_eq!(flagged["paidAmount"], 1999);
    assert_eq!(flagged["flags"], json!(["amount_mismatch"]));
    let stats = t.stats(&order).await;
    assert_eq!(stats["notifiesReceived"], 0);
    assert_eq!(stats["amountMismatches"], 1);
    t.server.shutdown().await;
}

#[tokio::test]
async fn a_payment_for_an_old_amount_found_by_a_close_is_flagged_with_the_attempts_amount() {
    let mut config = test_config();
    config.settings.query_interval_ms = 60_000;
    let t = spawn_with(config).await;
    let (order, fp) = t.order(tea(1)).await;
    let first = t.pay(&order, &new_key(), &fp).await;
    let content = tea(2);
    change_behind_the_servers_back(&t, &order, &content).await;
    t.wallet(&prepay_id(&first.body), "confirm", Some("notify=lost"))
        .await;
    // The create for the new content closes the old attempt first: the close reveals the
    // payment (a close refusal carries no amount: the attempt was created for 19.99).
    let new_fp = checkout_guard::core::fingerprint::fingerprint(&content).expect("fingerprint");
    t.pay(&order, &new_key(), new_fp.as_str())
        .await
        .assert_error(409, "already_paid");
    let flagged = t.get_order(&order).await;
    assert_eq!(flagged["paidAmount"], 1999);
    assert_eq!(flagged["flags"], json!(["amount_mismatch"]));
    assert_eq!(t.dump(&order).await["attempts"][0]["amount"], 1999);
    assert_eq!(t.stats(&order).await["amountMismatches"], 1);
    t.server.shutdown().await;
}
