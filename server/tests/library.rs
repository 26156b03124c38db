//! The payment center as a library (issue 12, step 6): a merchant's own axum app mounts
//! `checkout_guard_server::router` beside its own routes, with a provider of its own (here an
//! in-memory one written in this file, as a merchant would wrap their channel) and a store the
//! library ships, and the contract holds over real HTTP: one prepay at the provider for many
//! creates, the buyer token enforced, a payment found by the active query, paid final.

mod common;

use checkout_guard_server::buyer_token::{self, Claims};
use checkout_guard_server::clock::Clock;
use checkout_guard_server::provider::{
    Payment, PaymentState, Prepay, PrepayRequest, Provider, ProviderError,
};
use checkout_guard_server::rules::{Merchant, MerchantParts};
use checkout_guard_server::stats::Ignore;
use checkout_guard_server::store::postgres::PgStore;
use checkout_guard_server::store::sqlite::{Db, SqliteStore};
use checkout_guard_server::store::{AnyStore, Store};
use checkout_guard_server::{router, GuardApi, GuardApiOptions, Secret, SharedSettings, Storage};
use common::{fast_settings, new_key, test_storage};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A merchant's own provider: transactions in a map, a `pay` the test calls as the buyer.
#[derive(Debug, Default, Clone)]
struct MyChannel {
    trades: Arc<Mutex<HashMap<String, (i64, PaymentState)>>>,
    creates: Arc<Mutex<u32>>,
}

impl MyChannel {
    fn pay(&self, attempt_id: &str) {
        if let Some(trade) = self.trades.lock().expect("trades").get_mut(attempt_id) {
            trade.1 = PaymentState::Paid;
        }
    }

    fn creates(&self) -> u32 {
        *self.creates.lock().expect("creates")
    }
}

impl Provider for MyChannel {
    async fn create(&self, req: &PrepayRequest) -> Result<Prepay, ProviderError> {
        *self.creates.lock().expect("creates") += 1;
        let mut trades = self.trades.lock().expect("trades");
        if trades.contains_key(&req.attempt_id) {
            return Err(ProviderError::DuplicateNumber);
        }
        trades.insert(req.attempt_id.clone(), (req.amount, PaymentState::NotPaid));
        let mut params = Map::new();
        params.insert(
            "codeUrl".into(),
            json!(format!("mychannel://pay/{}", req.attempt_id)),
        );
        Ok(Prepay {
            params,
            expires_at: checkout_guard_server::clock::now_ms() + req.ttl_ms,
        })
    }

    async fn query(&self, attempt_id: &str) -> Result<Payment, ProviderError> {
        let trades = self.trades.lock().expect("trades");
        let (amount, state) = trades.get(attempt_id).ok_or(ProviderError::NotFound)?;
        Ok(Payment {
            state: *state,
            amount: *amount,
        })
    }

    async fn close(&self, attempt_id: &str) -> Result<(), ProviderError> {
        let mut trades = self.trades.lock().expect("trades");
        match trades.get_mut(attempt_id) {
            None => Err(ProviderError::NotFound),
            Some((_, PaymentState::Paid)) => Err(ProviderError::AlreadyPaid),
            Some(trade) => {
                trade.1 = PaymentState::Closed;
                Ok(())
            }
        }
    }
}

/// The library's store for the test's storage (SQLite in memory, or PostgreSQL in CI).
async fn store() -> AnyStore {
    match test_storage() {
        Storage::Postgres(url) => AnyStore::from(PgStore::connect(&url).await.expect("PostgreSQL")),
        other => AnyStore::from(SqliteStore::new(Arc::new(
            Db::open(&other).expect("SQLite"),
        ))),
    }
}

const SECRET: &str = "library-test-buyer-token-secret";

#[tokio::test]
async fn a_merchant_mounts_the_routes_in_its_own_app_with_its_own_provider() {
    let channel = MyChannel::default();
    let merchant = Merchant::new(MerchantParts {
        provider: channel.clone(),
        store: store().await,
        clock: Clock::system(),
        observer: Arc::new(Ignore),
        settings: SharedSettings::new(fast_settings()),
    });
    let api = Arc::new(GuardApi::new(
        merchant,
        GuardApiOptions {
            buyer_token_secret: Secret::new(SECRET),
            require_buyer_token: true,
            page_orders: true,
            client_ip_header: None,
        },
    ));
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(router(api.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text"),
        "ok",
        "the merchant's own route"
    );
    let submitted: Value = http
        .post(format!("{base}/api/orders"))
        .json(&json!({"content": {"amount": 2500, "items": ["book"]}, "buyer": "u-7"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let order = submitted["orderNo"].as_str().expect("orderNo").to_owned();
    let fp = submitted["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    let token = buyer_token::issue(
        &Secret::new(SECRET),
        &Claims {
            order_no: order.clone(),
            buyer: "u-7".into(),
            expires_at: checkout_guard_server::clock::now_ms() + 60_000,
        },
    );
    let create = |key: String, token: Option<String>| {
        let mut req = http
            .post(format!("{base}/api/orders/{order}/payments"))
            .header("Idempotency-Key", key)
            .json(&json!({"fingerprint": fp}));
        if let Some(token) = token {
            req = req.header(buyer_token::HEADER, token);
        }
        req.send()
    };
    // Without the buyer token: refused, nothing created.
    let refused = create(new_key(), None).await.expect("send");
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(
        refused.json::<Value>().await.expect("json")["error"],
        "invalid_buyer_token"
    );
    assert_eq!(channel.creates(), 0);
    // Double clicks, retries, a second tab: one prepay at the merchant's provider.
    let replies = futures::future::join_all((0..8).map(|i| {
        create(
            if i % 2 == 0 {
                new_key()
            } else {
                "shared-key-0000000001".into()
            },
            Some(token.clone()),
        )
    }))
    .await;
    let mut attempts = std::collections::BTreeSet::new();
    for reply in replies {
        let reply = reply.expect("send");
        let status = reply.status().as_u16();
        let body: Value = reply.json().await.expect("json");
        match status {
            200 | 201 => {
                attempts.insert(body["attemptId"].as_str().expect("attemptId").to_owned());
                assert!(body["prepay"]["codeUrl"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("mychannel://")));
                assert!(body["now"].is_i64(), "every reply carries now: {body}");
            }
            409 => assert_eq!(body["error"], "in_progress", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(channel.creates(), 1);
    let attempt = attempts.into_iter().next().expect("one");
    // The buyer pays at the channel; no notify: the status asks the provider.
    channel.pay(&attempt);
    let status: Value = http
        .get(format!("{base}/api/orders/{order}/payment"))
        .header(buyer_token::HEADER, &token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(status["status"], "paid", "{status}");
    // Paid is final, whatever the key; and its webhook event is in the outbox.
    let again = create(new_key(), Some(token.clone())).await.expect("send");
    assert_eq!(again.status().as_u16(), 409);
    assert_eq!(
        again.json::<Value>().await.expect("json")["error"],
        "already_paid"
    );
    assert_eq!(channel.creates(), 1);
    let events = api
        .merchant()
        .store()
        .webhook_events(&order)
        .await
        .expect("outbox");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].attempt_id, attempt);
}
