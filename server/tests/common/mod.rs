//! Shared test helpers: start a server in-process on an ephemeral port and talk to it over
//! real HTTP, paying through WeChat Pay API v3 as it ships: the server's `wechatpay` provider
//! against a WeChat Pay v3 simulator (`checkout-guard-wechatpay-sim`) started in this process on
//! a loopback port of its own ([`spawn`], [`spawn_with`], [`spawn_on`]). The wallet, the
//! provider's counters and its transactions are the simulator's ([`TestServer::wallet`],
//! [`TestServer::stats`], [`TestServer::dump`]). [`spawn_in_process`] keeps the in-process
//! simulated provider (`provider = "sim"`), for the tests of that provider itself.

#![allow(dead_code)]

use checkout_guard_server::provider::wechatpay::WechatPayConfig;
use checkout_guard_server::store::AnyStore;
use checkout_guard_server::{
    start, Config, Profile, ProviderKind, RunningServer, Secret, Settings, StartError, Storage,
};
use checkout_guard_wechatpay_sim::test_vectors::vector;
use checkout_guard_wechatpay_sim::{Config as SimConfig, RunningSim};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings that keep tests fast: short delays, an active query on every status.
pub fn fast_settings() -> Settings {
    Settings {
        prepay_ttl_ms: 60_000,
        reuse_margin_ms: 0,
        notify_delay_ms: 0,
        notify_retry_ms: 50,
        notify_tries: 3,
        query_interval_ms: 0,
        max_wait_secs: 25,
        busy_wait_ms: 3000,
        submit_window_ms: 15 * 60 * 1000,
        ..Settings::default()
    }
}

/// The environment variable that runs the tests on PostgreSQL: a `postgres://…` URL of a
/// database the tests may create schemas in (`cargo xtask ci` sets it to a throw-away
/// cluster). Unset or empty: SQLite in memory.
pub const DATABASE_URL_VAR: &str = "CG_TEST_DATABASE_URL";

/// The storage of one test server: a fresh in-memory SQLite database, or, with
/// [`DATABASE_URL_VAR`] set, a fresh schema of its own in that PostgreSQL database, so tests
/// stay independent and can run in parallel (schemas are left for the throw-away cluster to
/// take away).
pub fn test_storage() -> Storage {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => Storage::Postgres(fresh_schema(&url)),
        _ => Storage::Memory,
    }
}

/// Creates a schema with a random name and returns `url` with its `search_path` set to it.
fn fresh_schema(url: &str) -> String {
    use sqlx::Connection;
    let schema = format!(
        "test_{}",
        checkout_guard_server::ids::random_token(16)
            .to_ascii_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    );
    let (admin_url, sql) = (url.to_owned(), format!("CREATE SCHEMA {schema}"));
    // Its own thread and runtime: this is called from sync code inside the test's runtime.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to CG_TEST_DATABASE_URL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .expect("create schema");
                let _ = conn.close().await;
            })
    })
    .join()
    .expect("schema thread");
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Whether the tests run on PostgreSQL (see [`DATABASE_URL_VAR`]).
pub fn on_postgres() -> bool {
    std::env::var(DATABASE_URL_VAR).is_ok_and(|url| !url.is_empty())
}

/// A config for tests: the demo/test profile (chosen explicitly: production is the default),
/// a fresh database ([`test_storage`]), any free port, no static folders.
pub fn test_config() -> Config {
    Config {
        profile: Profile::Demo,
        listen: "127.0.0.1:0".parse().expect("address"),
        storage: test_storage(),
        www_dir: PathBuf::from("/nonexistent/www"),
        pkg_dir: PathBuf::from("/nonexistent/pkg"),
        settings: fast_settings(),
        ..Config::default()
    }
}

/// A fresh temporary folder.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cg-server-{tag}-{}-{}",
        std::process::id(),
        checkout_guard_server::ids::random_token(8)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The app id the test servers pay under (the vectors' merchant has no app of its own).
pub const APPID: &str = "wxd678efh567hg6787";

/// Starts a WeChat Pay v3 simulator in this process, on a free loopback port, with the test
/// vectors' throwaway keys (the merchant [`on_wechatpay`] configures). Its notify retries (15 s,
/// 15 s, 30 s, … at WeChat Pay) are a hundred times faster, and it takes a `time_expire` of any
/// lead (WeChat Pay wants a minute), so the tests' prepay lifetimes of a few seconds work.
pub async fn start_sim() -> Arc<RunningSim> {
    let mut config = SimConfig::from_test_vectors().expect("the test vectors");
    config.notify_time_scale = 0.01;
    config.min_time_expire_ms = 0;
    Arc::new(
        checkout_guard_wechatpay_sim::start(config)
            .await
            .expect("the simulator starts"),
    )
}

/// `config` with the `wechatpay` provider pointed at `sim`, as a merchant configures WeChat
/// Pay: the vectors' merchant key, WeChat Pay public key and APIv3 key; notifies to
/// `http://127.0.0.1:{port}/api/wechatpay/notify` (the server's own port).
pub fn on_wechatpay(mut config: Config, sim: &RunningSim, port: u16) -> Config {
    let v = |name: &str| vector(name).expect("the test vectors");
    config.provider = ProviderKind::WechatPay;
    config.wechatpay = Some(WechatPayConfig {
        base_url: sim.base_url().to_owned(),
        mchid: v("mchid"),
        appid: APPID.to_owned(),
        merchant_serial: v("merchant_serial_no"),
        merchant_private_key: Secret::new(v("merchant_private_key_pem")),
        wechatpay_public_key: v("wechatpay_public_key_pem"),
        wechatpay_public_key_id: v("wechatpay_public_key_id"),
        apiv3_key: Secret::new(v("apiv3_key")),
        notify_url: format!("http://127.0.0.1:{port}/api/wechatpay/notify"),
        ..WechatPayConfig::default()
    });
    config
}

/// A running server and a client for it.
pub struct TestServer {
    pub server: RunningServer,
    pub client: Client,
    pub url: String,
    /// The WeChat Pay simulator the server pays through; `None` on the in-process provider
    /// ([`spawn_in_process`]) or on a `wechatpay` provider the test configured itself. Shared
    /// with a server started again on the same data ([`spawn_on`]), as WeChat Pay outlives a
    /// merchant's restart.
    pub sim: Option<Arc<RunningSim>>,
}

/// Starts a server with `config` paying through a new WeChat Pay simulator ([`start_sim`]);
/// as given if the test configured a `wechatpay` provider itself.
pub async fn spawn_with(config: Config) -> TestServer {
    if config.provider == ProviderKind::WechatPay {
        return started(start(config).await.expect("server starts"), None);
    }
    spawn_on(config, start_sim().await).await
}

/// Starts a server with `config` paying through `sim` (a second instance, or a restart).
pub async fn spawn_on(config: Config, sim: Arc<RunningSim>) -> TestServer {
    // The notify URL names the server's port, so the port is chosen first: a free one, bound
    // again by the server (another test may take it in between: then another one).
    let fixed = config.listen.port() != 0;
    for _ in 0..20 {
        let mut config = config.clone();
        if !fixed {
            config.listen.set_port(free_port());
        }
        let port = config.listen.port();
        match start(on_wechatpay(config, &sim, port)).await {
            Ok(server) => return started(server, Some(sim)),
            Err(StartError::Bind { .. }) if !fixed => continue,
            Err(err) => panic!("server starts: {err}"),
        }
    }
    panic!("no free port for a test server");
}

/// Starts a server with `config` on the in-process simulated provider (`provider = "sim"`),
/// for a test of that provider itself (its `/sim/...` endpoints, its wallet page, its notify).
pub async fn spawn_in_process(config: Config) -> TestServer {
    assert_eq!(
        config.provider,
        ProviderKind::Sim,
        "the in-process provider"
    );
    started(start(config).await.expect("server starts"), None)
}

/// A free port on loopback (bound, read and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn started(server: RunningServer, sim: Option<Arc<RunningSim>>) -> TestServer {
    let url = server.url();
    let client = Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("client");
    TestServer {
        server,
        client,
        url,
        sim,
    }
}

impl TestServer {
    /// How many orders the merchant's database holds with this fingerprint (no endpoint lists
    /// orders), on whichever store the server runs.
    pub async fn count_orders_with(&self, fingerprint: &str) -> i64 {
        match self.server.app().store() {
            AnyStore::Sqlite(store) => store
                .db()
                .with(|c| {
                    Ok(c.query_row(
                        "SELECT COUNT(*) FROM orders WHERE fingerprint = ?1",
                        [fingerprint],
                        |row| row.get(0),
                    )?)
                })
                .expect("sqlite"),
            AnyStore::Postgres(store) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE fingerprint = $1")
                    .bind(fingerprint)
                    .fetch_one(store.pool())
                    .await
                    .expect("postgres")
            }
        }
    }

    /// Changes an unpaid order's content straight in the database, behind the rules' back (a
    /// business system writing the table); whether it changed.
    pub async fn change_content_in_the_database(
        &self,
        order_no: &str,
        content: &Value,
        fingerprint: &str,
        amount: i64,
        now: i64,
    ) -> bool {
        match self.server.app().store() {
            AnyStore::Sqlite(store) => store
                .db()
                .with(|c| {
                    checkout_guard_server::store::sqlite::records::update_order_content(
                        c,
                        order_no,
                        content,
                        fingerprint,
                        amount,
                        now,
                    )
                })
                .expect("sqlite"),
            AnyStore::Postgres(store) => {
                let done = sqlx::query(
                    "UPDATE orders SET content = $2, fingerprint = $3, amount = $4, updated_at = $5
                     WHERE order_no = $1 AND paid_attempt IS NULL",
                )
                .bind(order_no)
                .bind(content.to_string())
                .bind(fingerprint)
                .bind(amount)
                .bind(now)
                .execute(store.pool())
                .await
                .expect("postgres");
                done.rows_affected() == 1
            }
        }
    }
}

/// Starts a server with [`test_config`], paying through a new WeChat Pay simulator.
pub async fn spawn() -> TestServer {
    spawn_with(test_config()).await
}

/// A fresh 32-hex-char key, as the guard mints.
pub fn new_key() -> String {
    let a = checkout_guard_server::ids::random_token(32);
    a.chars()
        .map(|c| {
            if c.is_ascii_digit() || ('a'..='f').contains(&c) {
                c
            } else {
                'a'
            }
        })
        .collect()
}

/// A reply: status, headers, body (JSON or null).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_owned())
    }

    /// Asserts a contract-shaped error reply.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["error"], code, "body: {}", self.body);
        assert!(self.body["message"].is_string(), "body: {}", self.body);
    }
}

impl TestServer {
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Creates an order with `content`; returns (orderNo, fingerprint).
    pub async fn order(&self, content: Value) -> (String, String) {
        let reply = Reply::from(
            self.client
                .post(self.at("/api/orders"))
                .json(&json!({ "content": content }))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        (
            reply.body["orderNo"].as_str().expect("orderNo").to_owned(),
            reply.body["fingerprint"]
                .as_str()
                .expect("fingerprint")
                .to_owned(),
        )
    }

    /// An order of 19.99 CNY.
    pub async fn simple_order(&self) -> (String, String) {
        self.order(json!({"amount": 1999, "currency": "CNY", "items": [{"sku": "tea", "qty": 1}]}))
            .await
    }

    /// Changes an order's content; returns the new fingerprint.
    pub async fn change_order(&self, order_no: &str, content: Value) -> String {
        let reply = Reply::from(
            self.client
                .put(self.at(&format!("/api/orders/{order_no}")))
                .json(&json!({ "content": content }))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["fingerprint"].as_str().expect("fp").to_owned()
    }

    /// `POST /api/orders` with `body`, an optional key (sent as an sf-string) and `X-Fault`.
    pub async fn submit_with(&self, body: &Value, key: Option<&str>, fault: Option<&str>) -> Reply {
        let mut req = self.client.post(self.at("/api/orders")).json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", format!("\"{key}\""));
        }
        if let Some(fault) = fault {
            req = req.header("X-Fault", fault);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    /// `POST /api/orders` of `content` by `buyer` (`""`: none sent) with `key`.
    pub async fn submit(&self, content: &Value, buyer: &str, key: &str) -> Reply {
        let body = if buyer.is_empty() {
            json!({ "content": content })
        } else {
            json!({ "content": content, "buyer": buyer })
        };
        self.submit_with(&body, Some(key), None).await
    }

    /// `PUT /api/orders/{orderNo}` with `content`, optional `X-Fault`; the reply as it is.
    pub async fn put_order(&self, order_no: &str, content: Value, fault: Option<&str>) -> Reply {
        let mut req = self
            .client
            .put(self.at(&format!("/api/orders/{order_no}")))
            .json(&json!({ "content": content }));
        if let Some(fault) = fault {
            req = req.header("X-Fault", fault);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    /// `GET /api/orders/{orderNo}`.
    pub async fn get_order(&self, order_no: &str) -> Value {
        self.get_json(&format!("/api/orders/{order_no}")).await
    }

    /// Create-payment with the key as an sf-string, optional `X-Fault`.
    pub async fn pay_with(
        &self,
        order_no: &str,
        key: &str,
        fp: &str,
        fault: Option<&str>,
    ) -> Reply {
        let mut req = self
            .client
            .post(self.at(&format!("/api/orders/{order_no}/payments")))
            .header("Idempotency-Key", format!("\"{key}\""))
            .json(&json!({ "fingerprint": fp }));
        if let Some(fault) = fault {
            req = req.header("X-Fault", fault);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    /// Create-payment without faults.
    pub async fn pay(&self, order_no: &str, key: &str, fp: &str) -> Reply {
        self.pay_with(order_no, key, fp, None).await
    }

    /// Payment status, optionally long-polling.
    pub async fn status_with(
        &self,
        order_no: &str,
        wait: Option<u64>,
        fault: Option<&str>,
    ) -> Reply {
        let mut req = self
            .client
            .get(self.at(&format!("/api/orders/{order_no}/payment")));
        if let Some(wait) = wait {
            req = req.header("Prefer", format!("wait={wait}"));
        }
        if let Some(fault) = fault {
            req = req.header("X-Fault", fault);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    /// Payment status, no wait.
    pub async fn status(&self, order_no: &str) -> Reply {
        self.status_with(order_no, None, None).await
    }

    /// Where the buyer's wallet is: the WeChat Pay simulator's, or this server's own on the
    /// in-process provider.
    pub fn wallet_base(&self) -> &str {
        match &self.sim {
            Some(sim) => sim.base_url(),
            None => &self.url,
        }
    }

    /// A wallet action (`start`, `confirm`, `cancel`, `fail`) on the prepay whose wallet id
    /// is `wallet_id` ([`wallet_id`]), JSON reply, optional `X-Fault` (the simulator's:
    /// `notify=lost`, `notify=dup`, `notify-delay=<ms>`, …).
    pub async fn wallet(&self, wallet_id: &str, action: &str, fault: Option<&str>) -> Reply {
        let mut req = self
            .client
            .post(format!(
                "{}/sim/wallet/{wallet_id}/{action}",
                self.wallet_base()
            ))
            .header("Accept", "application/json");
        if let Some(fault) = fault {
            req = req.header("X-Fault", fault);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    /// The WeChat Pay simulator's base URL; panics for a server on the in-process provider.
    fn sim_base(&self) -> &str {
        self.sim
            .as_ref()
            .expect("a server on the WeChat Pay simulator")
            .base_url()
    }

    /// GET a JSON endpoint of the WeChat Pay simulator and expect 200.
    pub async fn sim_json(&self, path: &str) -> Value {
        let reply = Reply::from(
            self.client
                .get(format!("{}{path}", self.sim_base()))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        reply.body
    }

    /// The WeChat Pay simulator's counters of every transaction of `order_no` (its `attach`).
    pub async fn sim_stats(&self, order_no: &str) -> Value {
        self.sim_json(&format!("/sim/admin/stats/{order_no}")).await
    }

    /// Installs a global fault rule at the WeChat Pay simulator (`/sim/admin/faults`).
    pub async fn sim_fault(&self, rule: Value) {
        let reply = self
            .client
            .post(format!("{}/sim/admin/faults", self.sim_base()))
            .json(&rule)
            .send()
            .await
            .expect("send");
        assert_eq!(reply.status(), StatusCode::CREATED, "{rule}");
    }

    /// Removes every global fault rule of the WeChat Pay simulator.
    pub async fn clear_sim_faults(&self) {
        let reply = self
            .client
            .delete(format!("{}/sim/admin/faults", self.sim_base()))
            .send()
            .await
            .expect("send");
        assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    }

    /// GET a JSON endpoint and expect 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let reply = Reply::from(self.client.get(self.at(path)).send().await.expect("send")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        reply.body
    }

    /// The order's stats: the server's own counters (attempts minted, notifies received,
    /// amount mismatches), with the provider's (charges, prepay calls, closes, queries,
    /// refusals) as the WeChat Pay simulator counted them, so "one charge" is counted where the
    /// buyer pays.
    pub async fn stats(&self, order_no: &str) -> Value {
        let mut stats = self.get_json(&format!("/admin/stats/{order_no}")).await;
        self.with_provider_counters(order_no, &mut stats).await;
        stats
    }

    /// Replaces the provider's counters in `stats` (the server's `OrderStats`) with the
    /// simulator's. On WeChat Pay the server counts none of them itself: checked, so nothing
    /// here is the in-process provider's.
    async fn with_provider_counters(&self, order_no: &str, stats: &mut Value) {
        if self.sim.is_none() {
            return;
        }
        let provider = self.sim_stats(order_no).await;
        for field in PROVIDER_COUNTERS {
            assert_eq!(
                stats[field], 0,
                "the server counted {field} itself on WeChat Pay: {stats}"
            );
            stats[field] = provider[field].clone();
        }
    }

    /// The database's view of the order, with the provider's transactions and counters the
    /// WeChat Pay simulator's (`providerTransactions`: `outTradeNo`, `prepayId`, `tradeState`,
    /// `payable`, `total`, oldest first).
    pub async fn dump(&self, order_no: &str) -> Value {
        let mut dump = self.get_json(&format!("/admin/orders/{order_no}")).await;
        if self.sim.is_some() {
            assert_eq!(
                dump["providerTransactions"],
                json!([]),
                "the in-process provider was used on WeChat Pay"
            );
            let transactions = self
                .sim_json(&format!("/sim/admin/transactions/{order_no}"))
                .await;
            dump["providerTransactions"] = transactions["transactions"].clone();
            if dump["stats"].is_object() {
                self.with_provider_counters(order_no, &mut dump["stats"])
                    .await;
            }
        }
        dump
    }

    /// Polls `check` on the order's stats until it holds (at most 5 s).
    pub async fn wait_stats(&self, order_no: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            let stats = self.stats(order_no).await;
            if check(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "stats of {order_no} never matched: {}",
            self.stats(order_no).await
        );
    }
}

/// `body` without its `"now"`, which must be the server's clock as an integer (ms): for
/// comparing a stored reply sent again, or an order read twice, with the first.
pub fn without_now(body: &Value) -> Value {
    let mut body = body.clone();
    let now = body
        .as_object_mut()
        .and_then(|map| map.remove("now"))
        .unwrap_or_else(|| panic!("no `now` in {body}"));
    assert!(now.as_i64().is_some_and(|n| n > 0), "`now` is {now}");
    body
}

/// The `"now"` of a reply body.
pub fn now_of(body: &Value) -> i64 {
    body["now"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer `now` in {body}"))
}

/// The provider's counters in the server's `OrderStats`, spelled as the WeChat Pay
/// simulator spells its own.
const PROVIDER_COUNTERS: [&str; 6] = [
    "charges",
    "prepayCalls",
    "closes",
    "queries",
    "duplicatesRefused",
    "paymentsRefused",
];

/// The id the wallet opens a prepay with (the contract's `prepay` object): the `pr` token of a
/// Native `codeUrl`, the `prepay_id` of a JSAPI `package`, or the in-process provider's
/// `prepayId`.
pub fn wallet_id(prepay: &Value) -> String {
    let field = |name: &str| prepay.get(name).and_then(Value::as_str);
    field("codeUrl")
        .and_then(|url| url.split_once("pr=").map(|(_, token)| token))
        .or_else(|| field("package").and_then(|p| p.strip_prefix("prepay_id=")))
        .or_else(|| field("prepayId"))
        .unwrap_or_else(|| panic!("no wallet id in the prepay {prepay}"))
        .to_owned()
}

/// The wallet id ([`wallet_id`]) of an attempt or status body's prepay.
pub fn prepay_id(body: &Value) -> String {
    wallet_id(&body["prepay"])
}
