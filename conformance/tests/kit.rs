//! The kit's proof: the `checkout-guard-conformance` binary against
//!
//! - the real payment center binary (`--profile demo --provider wechatpay`, SQLite in memory,
//!   or PostgreSQL when `CG_TEST_DATABASE_URL` is set): every case passes;
//! - deliberately broken backends made here from the payment center's library (its guard-facing
//!   `router()` over a broken `Provider` or a broken `Store`): each fails exactly the cases
//!   that name its fault.
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
use checkout_guard_wechatpay::{ApiV3Key, PrivateKey, PublicKey};
use checkout_guard_wechatpay_sim::{start, Config as SimConfig, MerchantConfig, RunningSim};
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
    let mut config = SimConfig::new(MerchantConfig {
        mchid: vector("mchid"),
        serial_no: vector("merchant_serial_no"),
        public_key: PublicKey::from_pem(&vector("merchant_public_key_pem")).expect("public key"),
    });
    config.wechatpay_key =
        Some(PrivateKey::from_pem(&vector("wechatpay_private_key_pem")).expect("wechatpay key"));
    config.wechatpay_serial = vector("wechatpay_public_key_id");
    config.apiv3_key = Some(ApiV3Key::new(vector("apiv3_key").as_bytes()).expect("APIv3 key"));
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

/// A store that forgets idempotency keys: never a stored reply.
struct ForgetsKeys(SqliteStore);

impl Store for ForgetsKeys {
    type Lease = <SqliteStore as Store>::Lease;

    async fn try_lease_order(&self, order_no: &str) -> Result<Option<Self::Lease>, StoreError> {
        self.0.try_lease_order(order_no).await
    }
    async fn lease_order(
        &self,
        order_no: &str,
        wait_ms: u64,
    ) -> Result<Option<Self::Lease>, StoreError> {
        self.0.lease_order(order_no, wait_ms).await
    }
    async fn try_lease_submission(
        &self,
        buyer: &str,
        key: &str,
    ) -> Result<Option<Self::Lease>, StoreError> {
        self.0.try_lease_submission(buyer, key).await
    }
    fn changes(&self, order_no: &str) -> Changes {
        self.0.changes(order_no)
    }
    async fn order(&self, order_no: &str) -> Result<Option<Order>, StoreError> {
        self.0.order(order_no).await
    }
    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        self.0.insert_order(order).await
    }
    async fn submit(&self, s: &KeyedSubmission<'_>) -> Result<SubmitOutcome, StoreError> {
        self.0.submit(s).await
    }
    async fn change_content(&self, c: &ContentChange<'_>) -> Result<ContentChanged, StoreError> {
        self.0.change_content(c).await
    }
    async fn latest_attempt(&self, order_no: &str) -> Result<Option<Attempt>, StoreError> {
        self.0.latest_attempt(order_no).await
    }
    async fn attempt(&self, attempt_id: &str) -> Result<Option<Attempt>, StoreError> {
        self.0.attempt(attempt_id).await
    }
    async fn attempts(&self, order_no: &str) -> Result<Vec<Attempt>, StoreError> {
        self.0.attempts(order_no).await
    }
    async fn begin_attempt(&self, a: &NewAttempt<'_>) -> Result<Option<Attempt>, StoreError> {
        self.0.begin_attempt(a).await
    }
    async fn finish_attempt(
        &self,
        prepay: &Value,
        expires_at: i64,
        reply: &NewReply<'_>,
    ) -> Result<bool, StoreError> {
        self.0.finish_attempt(prepay, expires_at, reply).await
    }
    async fn set_attempt_state(
        &self,
        attempt_id: &str,
        state: AttemptState,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.0.set_attempt_state(attempt_id, state, now).await
    }
    async fn mark_paid(
        &self,
        attempt_id: &str,
        charged: Option<i64>,
        now: i64,
    ) -> Result<PaidRecord, StoreError> {
        self.0.mark_paid(attempt_id, charged, now).await
    }
    async fn touch_query(&self, attempt_id: &str, now: i64) -> Result<(), StoreError> {
        self.0.touch_query(attempt_id, now).await
    }
    async fn reply(&self, _order_no: &str, _key: &str) -> Result<Option<StoredReply>, StoreError> {
        // The fault: no key is ever remembered.
        Ok(None)
    }
    async fn put_reply(&self, _reply: &NewReply<'_>) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn apply_notify(&self, n: &Notice<'_>) -> Result<NotifyApplied, StoreError> {
        self.0.apply_notify(n).await
    }
    async fn claim_webhooks(
        &self,
        now: i64,
        claim_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.0.claim_webhooks(now, claim_until, limit).await
    }
    async fn webhook_delivered(&self, event_id: &str, now: i64) -> Result<(), StoreError> {
        self.0.webhook_delivered(event_id, now).await
    }
    async fn webhook_failed(
        &self,
        event_id: &str,
        error: &str,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        self.0.webhook_failed(event_id, error, retry_at).await
    }
    async fn webhook_events(&self, order_no: &str) -> Result<Vec<OutboxEvent>, StoreError> {
        self.0.webhook_events(order_no).await
    }
    async fn claim_sweep(
        &self,
        now: i64,
        idle_since: i64,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        self.0.claim_sweep(now, idle_since, limit).await
    }
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

/// Serves the library's guard-facing routes (with page orders, so `POST /api/orders` makes
/// orders) over `provider` and `store`, plus a WeChat Pay notify endpoint; its base URL.
async fn serve_library<P, S>(
    listener: tokio::net::TcpListener,
    provider: P,
    store: S,
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
    let app = axum::Router::new()
        .route("/wechatpay/notify", axum::routing::post(notify))
        .merge(router(api.clone()))
        .with_state(());
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// Runs the kit against a library backend over `provider`/`store`; the failed cases.
async fn broken<P, S>(
    tag: &str,
    make: impl FnOnce(WechatPayV3) -> (P, S),
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
    let (provider, store) = make(wechatpay(&sim, notify_url.clone()));
    let url = serve_library(listener, provider, store, wechatpay(&sim, notify_url)).await;
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
    assert_eq!(run.code, 1, "a broken backend makes the kit exit 1");
    sim.shutdown().await;
    (run.failed, run.stdout)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_closes_fails_the_close_first_cases() {
    let (failed, stdout) = broken("skips-close", |wx| (SkipsClose(wx), memory_store())).await;
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
        (Honest(wx), ForgetsKeys(memory_store()))
    })
    .await;
    assert_eq!(
        failed,
        set(&["idempotent_replay", "key_reused"]),
        "{stdout}"
    );
}
