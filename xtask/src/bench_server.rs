//! `cargo xtask bench --server` (and part of the full `cargo xtask bench`): what one payment
//! center instance can do, measured against the real release-built `checkout-guard-server` over
//! real HTTP on loopback, once on a SQLite file and once on PostgreSQL (the throw-away cluster of
//! `postgres.rs`).
//!
//! Each store gets a fresh server started with `--profile demo`, the profile in which the page may
//! submit orders, so the orders are made the way the tests make them (`POST /api/orders`, contract
//! §4). Then, with [`CLIENTS`] concurrent clients on kept-alive connections:
//!
//! - **submissions**: that many distinct orders registered (timed too, since it is free);
//! - **creates**: one create-payment (contract §1) per order, each with a fresh idempotency key,
//!   so every request mints an attempt, calls the simulated provider and commits the reply;
//! - **status**: `GET` status (§2), first once per order right after the creates (each asks the
//!   simulated provider and records that it did, rule 2.2), then round robin over
//!   [`HOT_ORDERS`] of them, answered from the store within the query interval;
//! - **floor**: `GET /admin/settings`, which touches no store: what HTTP alone costs here, so the
//!   rows above can be read as "the store's share";
//! - **long-polls**: [`Sample::polls`] status requests with `Prefer: wait=25` (rule 2.3), one per
//!   order, held open at once; the server's `VmRSS` (`/proc/<pid>/status`) is read before and
//!   while they are held, and the difference is reported in total and per poll.
//!
//! The load generator is this debug-built process on the same cores as the server: on a small
//! machine it takes a share of the CPU, which the floor row makes visible. The cluster runs with
//! `fsync=off` (see `postgres.rs`) while SQLite commits with `synchronous=FULL`: the two stores'
//! write numbers are not a like-for-like comparison of durable commits. Like every benchmark
//! here it prints numbers and never fails on them; a server that does not start or a request
//! that cannot be sent at all is an error, refused requests are counted.

use crate::bench::{release_server, Server};
use crate::postgres::Cluster;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Concurrent clients for the throughput rows: enough to keep a small server's cores busy and
/// its connection pools contended, far below the long-polls' count.
pub const CLIENTS: usize = 32;

/// Orders the store-only status row cycles through: few enough that each is asked again well
/// within the demo profile's 3 s query interval, more than [`CLIENTS`] so that two requests
/// rarely wait for one order's lease.
const HOT_ORDERS: usize = 64;

/// The long-poll wait asked for: the contract's (and the server's) maximum, so no poll ends on
/// its own before the memory has been read.
const WAIT_SECS: u64 = 25;

/// How many requests each part makes.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Orders submitted, and creates (one per order).
    orders: usize,
    /// Status requests (and floor requests).
    statuses: usize,
    /// Long-polls held at once (at most `orders`).
    polls: usize,
}

const FULL: Sample = Sample {
    orders: 2_000,
    statuses: 10_000,
    polls: 1_000,
};

const QUICK: Sample = Sample {
    orders: 200,
    statuses: 1_000,
    polls: 200,
};

/// Runs the whole server part and returns its report (the `server` member of `bench.json`).
pub fn bench_server(target: &Path, quick: bool) -> Result<Value, String> {
    let sample = if quick { QUICK } else { FULL };
    let binary = release_server(target)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("the bench client's runtime: {e}"))?;

    let dir = target.join("tmp");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join(format!("bench-server-{}.sqlite", std::process::id()));
    remove_sqlite(&file);
    let sqlite = Server::start(&binary, &file.display().to_string()).and_then(|server| {
        let measured = runtime.block_on(measure(&server, sample));
        drop(server);
        measured
    });
    remove_sqlite(&file);
    let sqlite = sqlite?;

    let cluster = Cluster::start()?;
    let postgres = Server::start(&binary, &cluster.url()).and_then(|server| {
        let measured = runtime.block_on(measure(&server, sample));
        drop(server);
        measured
    });
    drop(cluster);
    let postgres = postgres?;

    Ok(json!({
        "clients": CLIENTS,
        "orders": sample.orders,
        "statuses": sample.statuses,
        "polls": sample.polls,
        "waitSecs": WAIT_SECS,
        "stores": [
            { "store": "sqlite", "detail": "a file, WAL, synchronous=FULL", "results": sqlite },
            { "store": "postgres", "detail": "throw-away cluster on loopback, fsync=off", "results": postgres },
        ],
    }))
}

/// A SQLite database file and its WAL companions, gone (missing files are fine).
fn remove_sqlite(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        let _ = fs::remove_file(PathBuf::from(path));
    }
}

/// Every part against one running server.
async fn measure(server: &Server, sample: Sample) -> Result<Value, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(WAIT_SECS + 30))
        .build()
        .map_err(|e| format!("the bench's HTTP client: {e}"))?;
    let base: Arc<str> = Arc::from(server.url.as_str());

    let submitted = phase(sample.orders, {
        let (client, base) = (client.clone(), base.clone());
        move |i| submit(client.clone(), base.clone(), i)
    })
    .await;
    let orders: Arc<Vec<(String, String)>> =
        Arc::new(submitted.values.iter().flatten().cloned().collect());
    if orders.is_empty() {
        return Err(format!(
            "no order could be submitted to {base}: {}",
            submitted.first_error.as_deref().unwrap_or("?")
        ));
    }

    let salt = key_salt();
    let created = phase(orders.len(), {
        let (client, base, orders) = (client.clone(), base.clone(), orders.clone());
        move |i| {
            let (order, fingerprint) = orders[i].clone();
            create(
                client.clone(),
                base.clone(),
                order,
                fingerprint,
                key(&salt, i),
            )
        }
    })
    .await;

    let asking = phase(orders.len(), {
        let (client, base, orders) = (client.clone(), base.clone(), orders.clone());
        move |i| {
            let order = orders[i].0.clone();
            expect_ok(client.get(format!("{base}/api/orders/{order}/payment")))
        }
    })
    .await;

    // The hot orders were asked about just now: within the query interval, a status is
    // answered from the store (re-asked at most once per interval per order).
    let hot = orders.len().min(HOT_ORDERS);
    let status = phase(sample.statuses, {
        let (client, base, orders) = (client.clone(), base.clone(), orders.clone());
        move |i| {
            let order = orders[i % hot].0.clone();
            expect_ok(client.get(format!("{base}/api/orders/{order}/payment")))
        }
    })
    .await;

    let floor = phase(sample.statuses, {
        let (client, base) = (client.clone(), base.clone());
        move |_| expect_ok(client.get(format!("{base}/admin/settings")))
    })
    .await;

    let polled: Vec<String> = orders
        .iter()
        .take(sample.polls)
        .map(|(order, _)| order.clone())
        .collect();
    // Its kept-alive connections closed first, so that every poll opens one of its own and the
    // server's descriptor count says when all of them have arrived.
    drop(client);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let long_polls = long_polls(&base, polled, server.pid()).await?;

    Ok(json!({
        "submit": submitted.report(),
        "create": created.report(),
        "statusAsking": asking.report(),
        "status": status.report(),
        "floor": floor.report(),
        "longPolls": long_polls,
    }))
}

/// What one phase measured: each request's value (when it succeeded) and latency.
struct Phase<T> {
    values: Vec<Option<T>>,
    latencies: Vec<Duration>,
    wall: Duration,
    errors: usize,
    first_error: Option<String>,
}

impl<T> Phase<T> {
    fn report(&self) -> Value {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let quantile = |q: f64| -> Value {
            if sorted.is_empty() {
                return Value::Null;
            }
            // Nearest rank: the smallest latency that at least `q` of the requests took.
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            json!(sorted[rank - 1].as_secs_f64() * 1e3)
        };
        let seconds = self.wall.as_secs_f64();
        json!({
            "requests": self.values.len(),
            "seconds": seconds,
            "perSec": if seconds > 0.0 { self.values.len() as f64 / seconds } else { 0.0 },
            "p50Ms": quantile(0.50),
            "p99Ms": quantile(0.99),
            "errors": self.errors,
            "firstError": self.first_error,
        })
    }
}

/// `count` requests (`request(i)` for `i` in `0..count`), [`CLIENTS`] at a time: each client
/// takes the next index when its previous request has been answered.
async fn phase<T, F, Fut>(count: usize, request: F) -> Phase<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS.min(count) {
        let (request, next) = (request.clone(), next.clone());
        clients.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return done;
                }
                let sent = Instant::now();
                let result = request(i).await;
                done.push((i, sent.elapsed(), result));
            }
        });
    }
    let mut phase = Phase {
        values: (0..count).map(|_| None).collect(),
        latencies: Vec::with_capacity(count),
        wall: Duration::ZERO,
        errors: 0,
        first_error: None,
    };
    while let Some(joined) = clients.join_next().await {
        let done = match joined {
            Ok(done) => done,
            Err(e) => {
                phase.errors += 1;
                phase
                    .first_error
                    .get_or_insert(format!("a client task: {e}"));
                continue;
            }
        };
        for (i, latency, result) in done {
            phase.latencies.push(latency);
            match result {
                Ok(value) => phase.values[i] = Some(value),
                Err(e) => {
                    phase.errors += 1;
                    phase.first_error.get_or_insert(e);
                }
            }
        }
    }
    phase.wall = started.elapsed();
    phase
}

/// Registers order `i` (`POST /api/orders`, no key: always a new order); its number and
/// fingerprint.
async fn submit(
    client: reqwest::Client,
    base: Arc<str>,
    i: usize,
) -> Result<(String, String), String> {
    let content = json!({
        "amount": 1999,
        "currency": "CNY",
        "items": [{ "sku": format!("bench-{i}"), "qty": 1 }],
    });
    let body = expect(
        client
            .post(format!("{base}/api/orders"))
            .json(&json!({ "content": content })),
        201,
    )
    .await?;
    match (body["orderNo"].as_str(), body["fingerprint"].as_str()) {
        (Some(order), Some(fingerprint)) => Ok((order.to_owned(), fingerprint.to_owned())),
        _ => Err(format!(
            "submission reply without orderNo/fingerprint: {body}"
        )),
    }
}

/// Create-payment for `order` with a fresh `key`: a new attempt is expected (`201`).
async fn create(
    client: reqwest::Client,
    base: Arc<str>,
    order: String,
    fingerprint: String,
    key: String,
) -> Result<(), String> {
    expect(
        client
            .post(format!("{base}/api/orders/{order}/payments"))
            .header("Idempotency-Key", format!("\"{key}\""))
            .json(&json!({ "fingerprint": fingerprint })),
        201,
    )
    .await
    .map(drop)
}

async fn expect_ok(request: reqwest::RequestBuilder) -> Result<(), String> {
    expect(request, 200).await.map(drop)
}

/// Sends `request` and returns its JSON body if the status is `status`.
async fn expect(request: reqwest::RequestBuilder, status: u16) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| format!("send: {e}"))?;
    let got = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    if got != status {
        return Err(format!(
            "{got} instead of {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("reply is not JSON: {e}"))
}

/// A per-run salt, so two runs against one database never share a key.
fn key_salt() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// The `i`th idempotency key of this run: 32 lowercase hex characters, as the guard mints.
fn key(salt: &str, i: usize) -> String {
    let digest = Sha256::digest(format!("{salt}-{i}").as_bytes());
    digest[..16]
        .iter()
        .fold(String::with_capacity(32), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Holds one long-poll per order at once, each on a connection of its own, and reads what the
/// server's memory grew by.
async fn long_polls(base: &str, orders: Vec<String>, pid: u32) -> Result<Value, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(WAIT_SECS + 30))
        .build()
        .map_err(|e| format!("the bench's HTTP client: {e}"))?;
    let polls = orders.len();
    let rss_before = rss_kib(pid)?;
    let fds_before = fd_count(pid)?;
    let answered = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for order in orders {
        let request = client
            .get(format!("{base}/api/orders/{order}/payment"))
            .header("Prefer", format!("wait={WAIT_SECS}"));
        let answered = answered.clone();
        tasks.spawn(async move {
            let reply = request.send().await;
            answered.fetch_add(1, Ordering::Relaxed);
            let response = reply.map_err(|e| format!("send: {e}"))?;
            let applied = response.headers().contains_key("preference-applied");
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            Ok::<bool, String>(status == 200 && applied)
        });
    }
    // Every poll has its connection accepted (bounded: the waits are 25 s) …
    let deadline = Instant::now() + Duration::from_secs(10);
    while fd_count(pid)? < fds_before + polls && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // … and has been evaluated once and is waiting: the RSS stops growing.
    let mut rss_held = rss_kib(pid)?;
    let settle = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss = rss_kib(pid)?;
        let grew = rss > rss_held + rss_held / 200;
        rss_held = rss_held.max(rss);
        if !grew || Instant::now() > settle {
            break;
        }
    }
    let held = polls.saturating_sub(answered.load(Ordering::Relaxed));
    let fds_held = fd_count(pid)?.saturating_sub(fds_before);
    let mut waited = 0;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(true)) => waited += 1,
            Ok(Ok(false)) => {
                first_error.get_or_insert_with(|| "a poll without 200 + Preference-Applied".into());
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(format!("a poll task: {e}"));
            }
        }
    }
    let rss_after = rss_kib(pid)?;
    let delta = rss_held.saturating_sub(rss_before);
    Ok(json!({
        "polls": polls,
        "waitSecs": WAIT_SECS,
        "heldWhenMeasured": held,
        "socketsWhenMeasured": fds_held,
        "answeredWithWait": waited,
        "rssBeforeKiB": rss_before,
        "rssHeldKiB": rss_held,
        "rssAfterKiB": rss_after,
        "deltaKiB": delta,
        "perPollKiB": if polls > 0 { delta as f64 / polls as f64 } else { 0.0 },
        "firstError": first_error,
    }))
}

/// The process's resident set (`VmRSS`, KiB).
fn rss_kib(pid: u32) -> Result<usize, String> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| format!("{path} has no VmRSS"))
}

/// How many file descriptors the process holds (one per accepted connection, among others).
fn fd_count(pid: u32) -> Result<usize, String> {
    let path = format!("/proc/{pid}/fd");
    fs::read_dir(&path)
        .map(Iterator::count)
        .map_err(|e| format!("{path}: {e}"))
}

/// The server part of the bench table.
pub fn table(t: &mut String, server: &Value) {
    let _ = writeln!(
        t,
        "\nPayment center, per instance (release checkout-guard-server, demo profile, {} clients over loopback HTTP)",
        server["clients"]
    );
    let _ = writeln!(
        t,
        "    {:<46} {:>8} {:>7} {:>7} {:>7} {:>7}",
        "", "requests", "/s", "p50 ms", "p99 ms", "errors"
    );
    let rows = [
        ("order submissions (POST /api/orders)", "submit"),
        ("creates, fresh order + key (POST …/payments)", "create"),
        (
            "status, first per order (asks the provider)",
            "statusAsking",
        ),
        ("status, hot orders (from the store)", "status"),
        ("floor: GET /admin/settings (no store)", "floor"),
    ];
    for store in server["stores"].as_array().into_iter().flatten() {
        let r = &store["results"];
        let _ = writeln!(
            t,
            "  {} ({})",
            match store["store"].as_str() {
                Some("sqlite") => "SQLite",
                Some("postgres") => "PostgreSQL",
                other => other.unwrap_or("?"),
            },
            store["detail"].as_str().unwrap_or("")
        );
        for (label, key) in rows {
            let row = &r[key];
            let _ = writeln!(
                t,
                "    {:<46} {:>8} {:>7} {:>7} {:>7} {:>7}",
                label,
                num(&row["requests"], 0),
                num(&row["perSec"], 0),
                num(&row["p50Ms"], 2),
                num(&row["p99Ms"], 2),
                num(&row["errors"], 0)
            );
        }
        let p = &r["longPolls"];
        let _ = writeln!(
            t,
            "    {} long-polls (Prefer: wait={}), {} held when measured: VmRSS {} -> {} MiB, +{} MiB, {} KiB per poll ({} answered 200 after the wait)",
            p["polls"],
            p["waitSecs"],
            p["heldWhenMeasured"],
            mib(&p["rssBeforeKiB"]),
            mib(&p["rssHeldKiB"]),
            mib(&p["deltaKiB"]),
            num(&p["perPollKiB"], 1),
            p["answeredWithWait"]
        );
        for (key, row) in [
            ("submit", &r["submit"]),
            ("create", &r["create"]),
            ("statusAsking", &r["statusAsking"]),
            ("status", &r["status"]),
            ("floor", &r["floor"]),
            ("longPolls", p),
        ] {
            if let Some(error) = row["firstError"].as_str() {
                let _ = writeln!(t, "    first error ({key}): {error}");
            }
        }
    }
}

fn num(value: &Value, digits: usize) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn mib(kib: &Value) -> String {
    kib.as_f64()
        .map_or_else(|| "-".into(), |k| format!("{:.1}", k / 1024.0))
}
