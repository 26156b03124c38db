//! The kit's proof: the `checkout-guard-conformance` binary against
//!
//! - the real payment center binary (`--profile demo --provider wechatpay`, SQLite in memory,
//!   or PostgreSQL when `CG_TEST_DATABASE_URL` is set): every case passes;
//! - deliberately broken backends made here from the payment center's library (its guard-facing
//!   `router()` over a broken `Provider` or a broken `Store`, or behind a middleware that
//!   answers for it): each fails exactly the cases that name its fault, and makes the kit
//!   exit 1. One never closes at WeChat Pay, one has no idempotency store, one mints a new
//!   `out_trade_no` for every new key, one answers `closed` for an expired prepay without
//!   closing it, one trusts the client's fingerprint.
//!
//! The WeChat Pay v3 simulator runs in this process, with the throwaway keys of the
//! `wechatpay` crate's vectors, prepays that may expire in seconds (`min_time_expire_ms: 0`)
//! and notify retries scaled down.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use checkout_guard_server::clock::Clock;
use checkout_guard_server::model::{Attempt, AttemptState, Order, OutboxEvent, StoredReply};
use checkout_guard_server::provider::wechatpay::{WechatPayConfig, WechatPayV3};
use checkout_guard_server::provider::{
    Payment, PaymentState, Prepay, PrepayRequest, Provider, ProviderError,
};
use checkout_guard_server::rules::PaymentNotice;
use checkout_guard_server::rules::{Merchant, MerchantParts};
use checkout_guard_server::store::sqlite::db::Db;
use checkout_guard_server::store::sqlite::SqliteStore;
use checkout_guard_server::store::{
    Changes, ContentChange, ContentChanged, KeyedSubmission, NewAttempt, NewReply, Notice,
    NotifyApplied, PaidRecord, Store, StoreError, SubmitOutcome,
};
use checkout_guard_server::{
    router, GuardApi, GuardApiOptions, Secret, Settings, SharedSettings, Storage,
};
use checkout_guard_wechatpay_sim::{start, Config as SimConfig, RunningSim};
use serde_json::Value;

const VECTORS: &str = include_str!("../../wechatpay/tests/vectors/wechatpay-v3.json");
const APPID: &str = "wxd678efh567hg6787";
/// Prepays live this long on every backend here, so the expiry cases take seconds.
const PREPAY_TTL_MS: i64 = 4000;

fn vector(name: &str) -> String {
    let v: Value = serde_json::from_str(VECTORS).expect("vector file is JSON");
    v[name].as_str().expect("string field").to_owned()
}

async fn sim() -> RunningSim {
    // The test vectors' throwaway keys, as the payment center here is configured.
    let mut config = SimConfig::from_test_vectors().expect("the test vectors");
    config.notify_time_scale = 0.01;
    config.min_time_expire_ms = 0;
    start(config).await.expect("the simulator starts")
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cg-conformance-{tag}-{}-{}",
        std::process::id(),
        checkout_guard_conformance::random_token(8)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The payment center binary: `CG_SERVER_BIN`, or built next to this crate's binary.
fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("CG_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let kit = PathBuf::from(env!("CARGO_BIN_EXE_checkout-guard-conformance"));
    let built = kit.with_file_name("checkout-guard-server");
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "checkout-guard-server",
            "--bin",
            "checkout-guard-server",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the payment center builds");
    built
}

/// What one run of the kit said.
struct KitRun {
    code: i32,
    stdout: String,
    failed: BTreeSet<String>,
}

async fn run_kit(backend: &str, sim: &RunningSim, orders: &[&str], dir: &Path) -> KitRun {
    let junit = dir.join("junit.xml");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_checkout-guard-conformance"));
    cmd.args(["--backend", backend, "--provider-sim", sim.base_url()])
        .args(orders)
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let out = cmd.output().await.expect("the kit runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let xml = std::fs::read_to_string(&junit).expect("the kit wrote JUnit XML");
    KitRun {
        code: out.status.code().unwrap_or(-1),
        stdout,
        failed: failed_cases(&xml),
    }
}

/// The names of the failed test cases of a JUnit file.
fn failed_cases(xml: &str) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    let mut current = None;
    for line in xml.lines() {
        if let Some(rest) = line.trim().strip_prefix("<testcase ") {
            current = rest
                .split(" name=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(str::to_owned);
        }
        if line.contains("<failure") {
            if let Some(name) = &current {
                failed.insert(name.clone());
            }
        }
    }
    failed
}

// ---- the real payment center -----------------------------------------------------------------

struct Spawned(tokio::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn wait_until_up(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{url}/api/orders/CKprobe01/payment"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the payment center did not come up at {url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_center_passes_every_case() {
    let sim = sim().await;
    let dir = temp_dir("reference");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let private_key = write("apiclient_key.pem", &vector("merchant_private_key_pem"));
    let public_key = write("pub_key.pem", &vector("wechatpay_public_key_pem"));
    let apiv3 = write("apiv3.key", &vector("apiv3_key"));
    let api_key = write("api.key", "conformance-api-key-0123456789");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let store = match std::env::var("CG_TEST_DATABASE_URL") {
        Ok(db) if !db.is_empty() => db,
        _ => ":memory:".to_owned(),
    };
    let ttl = PREPAY_TTL_MS.to_string();
    let child = tokio::process::Command::new(server_binary())
        .args(["--profile", "demo", "--provider", "wechatpay"])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--store", &store])
        .args(["--prepay-ttl-ms", &ttl, "--reuse-margin-ms", "0"])
        .args([
            "--query-interval-ms",
            "500",
            "--www",
            "/nonexistent",
            "--pkg",
            "/nonexistent",
        ])
        .arg("--api-key-file")
        .arg(&api_key)
        .env("CG_WECHATPAY_BASE_URL", sim.base_url())
        .env("CG_WECHATPAY_MCHID", vector("mchid"))
        .env("CG_WECHATPAY_APPID", APPID)
        .env("CG_WECHATPAY_MERCHANT_SERIAL", vector("merchant_serial_no"))
        .env("CG_WECHATPAY_MERCHANT_PRIVATE_KEY_FILE", &private_key)
        .env("CG_WECHATPAY_PUBLIC_KEY_FILE", &public_key)
        .env(
            "CG_WECHATPAY_PUBLIC_KEY_ID",
            vector("wechatpay_public_key_id"),
        )
        .env("CG_WECHATPAY_APIV3_KEY_FILE", &apiv3)
        .env(
            "CG_WECHATPAY_NOTIFY_URL",
            format!("{url}/api/wechatpay/notify"),
        )
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the payment center starts");
    let _server = Spawned(child);
    wait_until_up(&url).await;
    let key_file = api_key.display().to_string();
    let run = run_kit(
        &url,
        &sim,
        &["--orders", "business-api", "--api-key-file", &key_file],
        &dir,
    )
    .await;
    println!("{}", run.stdout);
    assert!(
        run.failed.is_empty(),
        "failed: {:?}\n{}",
        run.failed,
        run.stdout
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        !run.stdout.contains(" n/a "),
        "every case applies to the payment center:\n{}",
        run.stdout
    );
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- broken backends -------------------------------------------------------------------------

/// A provider that says "closed" without ever asking WeChat Pay: the backend that skips the
/// close before replacing and answers `closed` before closing.
struct SkipsClose(WechatPayV3);

impl Provider for SkipsClose {
    async fn create(&self, req: &PrepayRequest) -> Result<Prepay, ProviderError> {
        self.0.create(req).await
    }
    async fn query(&self, attempt_id: &str) -> Result<Payment, ProviderError> {
        self.0.query(attempt_id).await
    }
    async fn close(&self, _attempt_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// A correct provider (for the broken store).
struct Honest(WechatPayV3);

impl Provider for Honest {
    async fn create(&self, req: &PrepayRequest) -> Result<Prepay, ProviderError> {
        self.0.create(req).await
    }
    async fn query(&self, attempt_id: &str) -> Result<Payment, ProviderError> {
        self.0.query(attempt_id).await
    }
    async fn close(&self, attempt_id: &str) -> Result<(), ProviderError> {
        self.0.close(attempt_id).await
    }
}

/// The store faults of the broken backends; `Faulty` is the library's SQLite store with one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StoreFault {
    /// None: the fault is in a middleware around the library's routes.
    None,
    /// No idempotency store: no key is ever remembered.
    ForgetsKeys,
    /// Every new key mints a new `out_trade_no`: the order's live attempt is forgotten here
    /// (marked dead in this store, never closed at WeChat Pay, so still payable there).
    MintsEveryCreate,
    /// The order's fingerprint is whatever the create request says it is (rule 1.6 skipped).
    TrustsClientFingerprint,
}

tokio::task_local! {
    /// The fingerprint a create request sent, for [`StoreFault::TrustsClientFingerprint`].
    static CLIENT_FINGERPRINT: String;
}

/// The library's SQLite store with a fault; the `Arc` is shared with a test's middleware.
struct Faulty {
    inner: Arc<SqliteStore>,
    fault: StoreFault,
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit")
}

/// Live: could still be paid (the contract's vocabulary), with no reuse margin.
fn live(attempt: &Attempt, now: i64) -> bool {
    matches!(attempt.state, AttemptState::Unpaid | AttemptState::Paying)
        && attempt.expires_at.is_some_and(|at| at > now)
}

impl Store for Faulty {
    type Lease = <SqliteStore as Store>::Lease;

    async fn try_lease_order(&self, order_no: &str) -> Result<Option<Self::Lease>, StoreError> {
        self.inner.try_lease_order(order_no).await
    }
    async fn lease_order(
        &self,
        order_no: &str,
        wait_ms: u64,
    ) -> Result<Option<Self::Lease>, StoreError> {
        self.inner.lease_order(order_no, wait_ms).await
    }
    async fn try_lease_submission(
        &self,
        buyer: &str,
        key: &str,
    ) -> Result<Option<Self::Lease>, StoreError> {
        self.inner.try_lease_submission(buyer, key).await
    }
    fn changes(&self, order_no: &str) -> Changes {
        self.inner.changes(order_no)
    }
    async fn order(&self, order_no: &str) -> Result<Option<Order>, StoreError> {
        let order = self.inner.order(order_no).await?;
        if self.fault != StoreFault::TrustsClientFingerprint {
            return Ok(order);
        }
        // The fault: during a create, the order is taken to be what the client says it is.
        Ok(order.map(|mut order| {
            if let Ok(sent) = CLIENT_FINGERPRINT.try_with(String::clone) {
                order.fingerprint = sent;
            }
            order
        }))
    }
    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        self.inner.insert_order(order).await
    }
    async fn submit(&self, s: &KeyedSubmission<'_>) -> Result<SubmitOutcome, StoreError> {
        self.inner.submit(s).await
    }
    async fn change_content(&self, c: &ContentChange<'_>) -> Result<ContentChanged, StoreError> {
        self.inner.change_content(c).await
    }
    async fn latest_attempt(&self, order_no: &str) -> Result<Option<Attempt>, StoreError> {
        self.inner.latest_attempt(order_no).await
    }
    async fn attempt(&self, attempt_id: &str) -> Result<Option<Attempt>, StoreError> {
        self.inner.attempt(attempt_id).await
    }
    async fn attempts(&self, order_no: &str) -> Result<Vec<Attempt>, StoreError> {
        self.inner.attempts(order_no).await
    }
    async fn begin_attempt(&self, a: &NewAttempt<'_>) -> Result<Option<Attempt>, StoreError> {
        self.inner.begin_attempt(a).await
    }
    async fn finish_attempt(
        &self,
        prepay: &Value,
        expires_at: i64,
        reply: &NewReply<'_>,
    ) -> Result<bool, StoreError> {
        self.inner.finish_attempt(prepay, expires_at, reply).await
    }
    async fn set_attempt_state(
        &self,
        attempt_id: &str,
        state: AttemptState,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner.set_attempt_state(attempt_id, state, now).await
    }
    async fn mark_paid(
        &self,
        attempt_id: &str,
        charged: Option<i64>,
        now: i64,
    ) -> Result<PaidRecord, StoreError> {
        self.inner.mark_paid(attempt_id, charged, now).await
    }
    async fn touch_query(&self, attempt_id: &str, now: i64) -> Result<(), StoreError> {
        self.inner.touch_query(attempt_id, now).await
    }
    async fn reply(&self, order_no: &str, key: &str) -> Result<Option<StoredReply>, StoreError> {
        match self.fault {
            // The fault: no key is ever remembered.
            StoreFault::ForgetsKeys => Ok(None),
            StoreFault::MintsEveryCreate => {
                let stored = self.inner.reply(order_no, key).await?;
                // The fault: a create with a new key (the library asks for its stored reply
                // only on a create, under the order's lease) never looks for the live attempt
                // and so never reuses it, and nothing closes it at WeChat Pay either.
                if stored.is_none() {
                    let now = now_ms();
                    if let Some(latest) = self.inner.latest_attempt(order_no).await? {
                        if live(&latest, now) {
                            self.inner
                                .set_attempt_state(&latest.attempt_id, AttemptState::Closed, now)
                                .await?;
                        }
                    }
                }
                Ok(stored)
            }
            StoreFault::None | StoreFault::TrustsClientFingerprint => {
                self.inner.reply(order_no, key).await
            }
        }
    }
    async fn put_reply(&self, reply: &NewReply<'_>) -> Result<bool, StoreError> {
        match self.fault {
            StoreFault::ForgetsKeys => Ok(true),
            _ => self.inner.put_reply(reply).await,
        }
    }
    async fn apply_notify(&self, n: &Notice<'_>) -> Result<NotifyApplied, StoreError> {
        self.inner.apply_notify(n).await
    }
    async fn claim_webhooks(
        &self,
        now: i64,
        claim_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.inner.claim_webhooks(now, claim_until, limit).await
    }
    async fn webhook_delivered(&self, event_id: &str, now: i64) -> Result<(), StoreError> {
        self.inner.webhook_delivered(event_id, now).await
    }
    async fn webhook_failed(
        &self,
        event_id: &str,
        error: &str,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        self.inner.webhook_failed(event_id, error, retry_at).await
    }
    async fn webhook_events(&self, order_no: &str) -> Result<Vec<OutboxEvent>, StoreError> {
        self.inner.webhook_events(order_no).await
    }
    async fn claim_sweep(
        &self,
        now: i64,
        idle_since: i64,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        self.inner.claim_sweep(now, idle_since, limit).await
    }
}

/// `POST /api/orders/{orderNo}/payments` runs with the fingerprint it sent in
/// [`CLIENT_FINGERPRINT`] (for [`StoreFault::TrustsClientFingerprint`]).
async fn remember_client_fingerprint(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let is_create =
        req.method() == axum::http::Method::POST && req.uri().path().ends_with("/payments");
    if !is_create {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let sent = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("fingerprint")?.as_str().map(str::to_owned));
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    match sent {
        Some(sent) => CLIENT_FINGERPRINT.scope(sent, next.run(req)).await,
        None => next.run(req).await,
    }
}

/// `GET /api/orders/{orderNo}/payment` answers `closed` on its own clock for an attempt whose
/// prepay expired, without closing it at WeChat Pay (rule 2.1 broken); anything else goes on
/// to the library.
async fn closed_on_expiry(
    axum::extract::State(store): axum::extract::State<Arc<SqliteStore>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let order_no = req
        .uri()
        .path()
        .strip_prefix("/api/orders/")
        .and_then(|rest| rest.strip_suffix("/payment"))
        .map(str::to_owned);
    if let (true, Some(order_no)) = (req.method() == axum::http::Method::GET, order_no) {
        let unpaid =
            matches!(store.order(&order_no).await, Ok(Some(o)) if o.paid_attempt.is_none());
        if let (true, Ok(Some(latest))) = (unpaid, store.latest_attempt(&order_no).await) {
            let now = now_ms();
            let expired = latest.expires_at.is_some_and(|at| at <= now);
            if expired && matches!(latest.state, AttemptState::Unpaid | AttemptState::Paying) {
                return axum::Json(serde_json::json!({
                    "orderNo": order_no,
                    "status": "closed",
                    "attemptId": latest.attempt_id,
                    "fingerprint": latest.fingerprint,
                    "now": now,
                }))
                .into_response();
            }
        }
    }
    next.run(req).await
}

fn wechatpay(sim: &RunningSim, notify_url: String) -> WechatPayV3 {
    let config = WechatPayConfig {
        base_url: sim.base_url().to_owned(),
        mchid: vector("mchid"),
        appid: APPID.to_owned(),
        merchant_serial: vector("merchant_serial_no"),
        merchant_private_key: Secret::new(vector("merchant_private_key_pem")),
        wechatpay_public_key: vector("wechatpay_public_key_pem"),
        wechatpay_public_key_id: vector("wechatpay_public_key_id"),
        apiv3_key: Secret::new(vector("apiv3_key")),
        notify_url,
        ..WechatPayConfig::default()
    };
    WechatPayV3::new(&config, Clock::system()).expect("the provider's self-check passes")
}

fn memory_store() -> SqliteStore {
    SqliteStore::new(Arc::new(Db::open(&Storage::Memory).expect("sqlite")))
}

fn faulty(fault: StoreFault) -> Faulty {
    Faulty {
        inner: Arc::new(memory_store()),
        fault,
    }
}

/// What wraps the library's routes (a middleware that breaks a rule), or nothing.
type Wrap = Box<dyn FnOnce(axum::Router) -> axum::Router + Send>;

fn unwrapped() -> Wrap {
    Box::new(|app| app)
}

/// Serves the library's guard-facing routes (with page orders, so `POST /api/orders` makes
/// orders) over `provider` and `store`, plus a WeChat Pay notify endpoint; its base URL.
async fn serve_library<P, S>(
    listener: tokio::net::TcpListener,
    (provider, store, wrap): (P, S, Wrap),
    opener: WechatPayV3,
) -> String
where
    P: Provider + 'static,
    S: Store + 'static,
{
    let settings = Settings {
        prepay_ttl_ms: PREPAY_TTL_MS,
        reuse_margin_ms: 0,
        query_interval_ms: 500,
        ..Settings::default()
    };
    let merchant = Merchant::new(MerchantParts {
        provider,
        store,
        clock: Clock::system(),
        observer: Arc::new(checkout_guard_server::stats::Ignore),
        settings: SharedSettings::new(settings),
    });
    let api = Arc::new(GuardApi::new(
        merchant,
        GuardApiOptions {
            buyer_token_secret: Secret::new("conformance-buyer-token-secret".to_owned()),
            require_buyer_token: false,
            page_orders: true,
            client_ip_header: None,
        },
    ));
    let notify = {
        let api = api.clone();
        let opener = Arc::new(opener);
        move |headers: HeaderMap, body: Bytes| {
            let api = api.clone();
            let opener = opener.clone();
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                let Ok(notified) = opener.open_notify(header, &body) else {
                    return StatusCode::UNAUTHORIZED;
                };
                if notified.payment.state == PaymentState::Paid {
                    let applied = api
                        .merchant()
                        .apply_notify(PaymentNotice {
                            notify_id: &notified.notify_id,
                            attempt_id: &notified.attempt_id,
                            charged: Some(notified.payment.amount),
                        })
                        .await;
                    if applied.is_err() {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                }
                StatusCode::NO_CONTENT
            }
        }
    };
    let app = wrap(
        axum::Router::new()
            .route("/wechatpay/notify", axum::routing::post(notify))
            .merge(router(api.clone()))
            .with_state(()),
    );
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// Runs the kit against a library backend over `provider`/`store`, its routes wrapped; the
/// failed cases.
async fn broken<P, S>(
    tag: &str,
    make: impl FnOnce(WechatPayV3) -> (P, S, Wrap),
) -> (BTreeSet<String>, String)
where
    P: Provider + 'static,
    S: Store + 'static,
{
    let sim = sim().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let notify_url = format!("{base}/wechatpay/notify");
    let parts = make(wechatpay(&sim, notify_url.clone()));
    let url = serve_library(listener, parts, wechatpay(&sim, notify_url)).await;
    let create = format!(
        r#"POST {url}/api/orders {{"content": {{"amount": {{amount}}, "currency": "CNY", "nonce": "{{nonce}}"}}}}"#
    );
    let change = format!(
        r#"PUT {url}/api/orders/{{orderNo}} {{"content": {{"amount": {{amount}}, "currency": "CNY"}}}}"#
    );
    let dir = temp_dir(tag);
    let run = run_kit(
        &url,
        &sim,
        &["--orders-http", &create, "--orders-http-change", &change],
        &dir,
    )
    .await;
    println!("{tag}:\n{}", run.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.code, 1, "a broken backend makes the kit exit 1");
    sim.shutdown().await;
    (run.failed, run.stdout)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_closes_fails_the_close_first_cases() {
    let (failed, stdout) = broken("skips-close", |wx| {
        (SkipsClose(wx), memory_store(), unwrapped())
    })
    .await;
    assert_eq!(
        failed,
        set(&[
            "content_change_closes_first",
            "content_change_cannot_close",
            "expired_replaced_after_close",
            "expired_closed_after_close",
            "lost_create_closed_first",
        ]),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_without_the_idempotency_store_fails_the_key_cases() {
    let (failed, stdout) = broken("forgets-keys", |wx| {
        (Honest(wx), faulty(StoreFault::ForgetsKeys), unwrapped())
    })
    .await;
    assert_eq!(
        failed,
        set(&["idempotent_replay", "key_reused"]),
        "{stdout}"
    );
}

/// Rule 1.2 broken: a new key never gets the live attempt. (`never_charged_twice` cannot see
/// the two payable numbers it leaves: at the end of the run their 4 s prepays have expired.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_mints_a_number_per_create_fails_the_reuse_cases() {
    let (failed, stdout) = broken("mints-every-create", |wx| {
        (
            Honest(wx),
            faulty(StoreFault::MintsEveryCreate),
            unwrapped(),
        )
    })
    .await;
    assert_eq!(
        failed,
        set(&[
            "parallel_fresh_keys",
            "reuse_live_attempt",
            "reuse_asks_provider_first",
        ]),
        "{stdout}"
    );
}

/// Rule 2.1 broken, and only on the status: a create still closes before it replaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_answers_closed_before_closing_fails_the_closed_case() {
    let (failed, stdout) = broken("closed-before-close", |wx| {
        let store = Arc::new(memory_store());
        let shared = store.clone();
        let wrap: Wrap = Box::new(move |app: axum::Router| {
            app.layer(axum::middleware::from_fn_with_state(
                shared,
                closed_on_expiry,
            ))
        });
        let store = Faulty {
            inner: store,
            fault: StoreFault::None,
        };
        (Honest(wx), store, wrap)
    })
    .await;
    assert_eq!(failed, set(&["expired_closed_after_close"]), "{stdout}");
}

/// Rule 1.6 not kept: the library's check runs against the fingerprint the client sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_trusts_the_client_fingerprint_fails_the_mismatch_case() {
    let (failed, stdout) = broken("trusts-fingerprint", |wx| {
        let wrap: Wrap = Box::new(|app: axum::Router| {
            app.layer(axum::middleware::from_fn(remember_client_fingerprint))
        });
        (
            Honest(wx),
            faulty(StoreFault::TrustsClientFingerprint),
            wrap,
        )
    })
    .await;
    assert_eq!(failed, set(&["fingerprint_mismatch"]), "{stdout}");
}
