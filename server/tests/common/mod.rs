//! Shared test helpers: start a server in-process on an ephemeral port and talk to it over
//! real HTTP.

#![allow(dead_code)]

use checkout_guard_server::store::AnyStore;
use checkout_guard_server::{start, Config, Profile, RunningServer, Settings, Storage};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
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

/// A running server and a client for it.
pub struct TestServer {
    pub server: RunningServer,
    pub client: Client,
    pub url: String,
}

/// Starts a server with `config`.
pub async fn spawn_with(config: Config) -> TestServer {
    let server = start(config).await.expect("server starts");
    let url = server.url();
    let client = Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("client");
    TestServer {
        server,
        client,
        url,
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

/// Starts a server with [`test_config`].
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

    /// A wallet action on a prepay (JSON reply), optional `X-Fault`.
    pub async fn wallet(&self, prepay_id: &str, action: &str, fault: Option<&str>) -> Reply {
        let mut req = self
            .client
            .post(self.at(&format!("/sim/wallet/{prepay_id}/{action}")))
            .header("Accept", "application/json");
        if let Some(fault) = fault {
            req = req.header("X-Fault", fault);
        }
        Reply::from(req.send().await.expect("send")).await
    }

    /// GET a JSON endpoint and expect 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let reply = Reply::from(self.client.get(self.at(path)).send().await.expect("send")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        reply.body
    }

    /// The order's stats.
    pub async fn stats(&self, order_no: &str) -> Value {
        self.get_json(&format!("/admin/stats/{order_no}")).await
    }

    /// The database's view of the order.
    pub async fn dump(&self, order_no: &str) -> Value {
        self.get_json(&format!("/admin/orders/{order_no}")).await
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

/// The prepay id of an attempt or status body.
pub fn prepay_id(body: &Value) -> String {
    body["prepay"]["prepayId"]
        .as_str()
        .unwrap_or_else(|| panic!("no prepayId in {body}"))
        .to_owned()
}
