//! Results pushed to the business system (issue 12, step 4), over real HTTP: a paid order is
//! delivered to the webhook signed and at least once, retried until acknowledged, found by
//! the sweeper when its notify is lost and no page asks, and still delivered after a restart.
//! The receiver here does what `docs/business-api.md` asks of one: it checks the signature
//! and de-duplicates by the event id.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use checkout_guard_server::webhook::{self, EVENT_ID_HEADER, SIGNATURE_HEADER};
use checkout_guard_server::{Config, Secret};
use common::{new_key, prepay_id, spawn_on, spawn_with, temp_dir, test_config, TestServer};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec-test-0123456789";

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Delivery {
    event_id: String,
    body: Value,
    verified: bool,
}

#[derive(Debug, Default)]
struct Inbox {
    deliveries: Vec<Delivery>,
    /// How many of the next deliveries to refuse with 500.
    refuse: usize,
}

type Shared = Arc<Mutex<Inbox>>;

async fn receive(State(inbox): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = checkout_guard_server::clock::now_ms() / 1000;
    let verified =
        webhook::verify(SECRET.as_bytes(), &header(SIGNATURE_HEADER), &body, now).is_ok();
    let mut inbox = inbox.lock().expect("inbox");
    inbox.deliveries.push(Delivery {
        event_id: header(EVENT_ID_HEADER),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        verified,
    });
    if inbox.refuse > 0 {
        inbox.refuse -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::NO_CONTENT
}

/// A receiver on a free port; its URL and inbox.
async fn receiver() -> (String, Shared) {
    let inbox = Shared::default();
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, inbox)
}

fn config_for(url: &str) -> Config {
    let mut config = test_config();
    config.webhook_url = Some(url.to_owned());
    config.webhook_secret = Some(Secret::new(SECRET));
    config.settings.webhook_retry_ms = 50;
    config.settings.webhook_retry_max_ms = 200;
    config.settings.sweep_after_ms = 300;
    config.settings.sweep_every_ms = 100;
    config
}

/// A new order paid through the wallet (its notify faulted as `fault` says); its number and
/// merchant payment number.
async fn paid_order(server: &TestServer, fault: Option<&str>) -> (String, String) {
    let (order, fp) = server.simple_order().await;
    let reply = server.pay(&order, &new_key(), &fp).await;
    assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
    let attempt = reply.body["attemptId"]
        .as_str()
        .expect("attemptId")
        .to_owned();
    let confirmed = server
        .wallet(&prepay_id(&reply.body), "confirm", fault)
        .await;
    assert_eq!(confirmed.status.as_u16(), 200, "{:?}", confirmed.body);
    (order, attempt)
}

/// Waits until `check` holds for the inbox (at most 15 s).
async fn wait_for(inbox: &Shared, check: impl Fn(&Inbox) -> bool) {
    for _ in 0..300 {
        if check(&inbox.lock().expect("inbox")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the webhook never arrived: {:?}",
        inbox.lock().expect("inbox").deliveries
    );
}

fn of_order(inbox: &Inbox, order: &str) -> Vec<Delivery> {
    inbox
        .deliveries
        .iter()
        .filter(|d| d.body["data"]["orderNo"] == order)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_paid_order_is_delivered_signed_and_retried_until_acknowledged() {
    let (url, inbox) = receiver().await;
    inbox.lock().expect("inbox").refuse = 2;
    let server = spawn_with(config_for(&url)).await;
    let (order, attempt) = paid_order(&server, None).await;
    wait_for(&inbox, |i| of_order(i, &order).len() == 3).await;
    let seen = of_order(&inbox.lock().expect("inbox"), &order);
    assert!(
        seen.iter().all(|d| d.verified),
        "every try is signed: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|d| d.event_id == seen[0].event_id && d.body["id"] == seen[0].event_id),
        "one event id on every try: {seen:?}"
    );
    assert_eq!(seen[0].body["type"], "order.paid");
    assert_eq!(seen[0].body["data"]["attemptId"], attempt.as_str());
    assert_eq!(
        seen[0].body["data"]["amount"],
        seen[0].body["data"]["paidAmount"]
    );
    // Acknowledged on the third try: recorded, and never sent again.
    let dump = server.dump(&order).await;
    let events = dump["webhooks"].as_array().expect("webhooks");
    assert_eq!(events.len(), 1, "{dump}");
    assert_eq!(events[0]["tries"], 3);
    assert!(events[0]["deliveredAt"].is_i64(), "{dump}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(of_order(&inbox.lock().expect("inbox"), &order).len(), 3);
    server.server.shutdown().await;
}

#[tokio::test]
async fn a_lost_notify_is_found_by_the_sweeper_with_no_page_asking_and_delivered_once() {
    let (url, inbox) = receiver().await;
    let server = spawn_with(config_for(&url)).await;
    let (order, attempt) = paid_order(&server, Some("notify=lost")).await;
    // Nobody asks the status: only the sweeper can find the payment.
    wait_for(&inbox, |i| !of_order(i, &order).is_empty()).await;
    let dump = server.dump(&order).await;
    assert_eq!(dump["order"]["paidAttempt"], attempt.as_str(), "{dump}");
    assert_eq!(dump["stats"]["notifiesReceived"], 0, "{dump}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = of_order(&inbox.lock().expect("inbox"), &order);
    assert_eq!(seen.len(), 1, "{seen:?}");
    server.server.shutdown().await;
}

#[tokio::test]
async fn an_event_not_yet_delivered_survives_a_restart() {
    let (url, inbox) = receiver().await;
    let mut config = config_for(&url);
    let dir = temp_dir("webhook");
    if !common::on_postgres() {
        config.storage = checkout_guard_server::Storage::File(dir.join("db.sqlite"));
    }
    // The first process has nowhere to send it (as if it died before it could): the event
    // waits in the database.
    let mut first = config.clone();
    first.webhook_url = None;
    let server = spawn_with(first).await;
    let (order, attempt) = paid_order(&server, None).await;
    for _ in 0..100 {
        if server.dump(&order).await["webhooks"]
            .as_array()
            .is_some_and(|w| w.len() == 1)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sim = server.sim.clone().expect("on the WeChat Pay simulator");
    server.server.shutdown().await;
    assert!(of_order(&inbox.lock().expect("inbox"), &order).is_empty());
    let restarted = spawn_on(config, sim).await;
    wait_for(&inbox, |i| of_order(i, &order).len() == 1).await;
    let seen = of_order(&inbox.lock().expect("inbox"), &order);
    assert!(seen[0].verified);
    assert_eq!(seen[0].body["data"]["attemptId"], attempt.as_str());
    restarted.server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_webhook_url_needs_its_secret_and_must_be_http() {
    let mut config = test_config();
    config.webhook_url = Some("https://erp.example/hooks/paid".into());
    let err = config.validate().expect_err("no secret");
    assert_eq!(err.setting, "webhook_secret");
    config.webhook_secret = Some(Secret::new(SECRET));
    assert!(config.validate().is_ok());
    for bad in ["erp.example/hook", "ftp://erp.example/hook", "http://"] {
        config.webhook_url = Some(bad.into());
        assert_eq!(
            config.validate().expect_err(bad).setting,
            "webhook_url",
            "{bad}"
        );
    }
}
