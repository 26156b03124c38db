//! The reference backend's request handling, in process, through its real axum router
//! (`checkout_guard_server::http::router`, built exactly as `serve::start` builds it, on an
//! in-memory SQLite store) and `tower::ServiceExt::oneshot`: no socket, no port.
//!
//! Invariants, for every request of every input:
//! - no panic (the router's catch-panic layer turns one into `500 internal`, caught below);
//! - no 5xx caused by the input: a 5xx is only ever a fault the input itself asked for
//!   (`injected_fault`, `provider_unavailable`) or `503 busy`, never `internal`;
//! - every 4xx under `/api/`, `/sim/` and `/admin/` is JSON with a string `error` field (except
//!   the simulated wallet's HTML pages, made for a browser form, and `HEAD`, which has no body);
//! - the static folders are empty, so nothing outside those prefixes is ever served (`200`): a
//!   path that escaped the folder would show up here;
//! - no request hangs (the clock is paused, so a stuck request would jump to the time-out).
//!
//! Input format (text, so seeds are readable and small): requests separated by a line `===`,
//! at most [`MAX_REQUESTS`] of them, each
//!
//! ```text
//! METHOD PATH [loopback|remote]
//! Header-Name: value
//!
//! body bytes
//! ```
//!
//! `loopback`/`remote` sets the peer address the accept loop would record (admin endpoints
//! check it); without it there is none. Before a request is sent, placeholders in its path,
//! header values and body are replaced, so that the fuzzer can reach the handlers behind random
//! ids: `$ORDER` (an order created before the input runs), `$FP` (its current fingerprint), `$KEY` (a
//! valid idempotency key), `$ATTEMPT` / `$PREPAY` (the last `attemptId`/`outTradeNo` and
//! `prepayId` any reply showed), `$NOW` (the server's clock in ms), `$ADMIN` (the admin token),
//! and in a header value only `$SIG`: the valid notify signature of this request's timestamp,
//! nonce and body.

#![no_main]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use checkout_guard_server::app::{App, AppParts};
use checkout_guard_server::clock::Clock;
use checkout_guard_server::http::router;
use checkout_guard_server::provider::sim::notify::Deliverer;
use checkout_guard_server::signing;
use checkout_guard_server::store::sqlite::{Db, SqliteStore};
use checkout_guard_server::store::AnyStore;
use checkout_guard_server::{Profile, Secret, Settings, Storage};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Requests per input: enough for create order → create payment → confirm → notify → status.
const MAX_REQUESTS: usize = 8;
const ORDER: &str = "FUZZ-ORDER-1";
const KEY: &str = "0123456789abcdef0123456789abcdef";
const ADMIN_TOKEN: &str = "fuzz-admin-token";
/// The business API key the fuzzer may send.
const API_KEY: &str = "fuzz-api-key";
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longer than any delay the server can be told to take (faults ≤ 600 s, long-poll ≤ 25 s); on
/// the paused clock it costs nothing unless a request really hangs.
const HANG: Duration = Duration::from_secs(3600);

/// `CG_FUZZ_TRACE=1` prints every request and reply: to see how far a seed or a crash input
/// gets (`fuzz/target/…/server_requests < file` runs one input).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("CG_FUZZ_TRACE").is_some())
}

/// An empty folder for `www/` and `pkg/`: anything served from it is a path that escaped.
fn empty_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // One fixed name, not one per process: it stays empty, so runs can share it.
        let dir = std::env::temp_dir().join("checkout-guard-fuzz-empty");
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    })
}

/// Test-like settings: no notify delay, short prepays. The active-query interval stays at the
/// default: a long-poll re-evaluates the order once per interval (at least every 50 ms), so a
/// short one makes a `Prefer: wait=25` cost hundreds of database round trips per input.
fn settings() -> Settings {
    Settings {
        prepay_ttl_ms: 60_000,
        reuse_margin_ms: 0,
        notify_delay_ms: 0,
        notify_retry_ms: 50,
        notify_tries: 2,
        query_interval_ms: 3000,
        max_wait_secs: 25,
        busy_wait_ms: 3000,
        submit_window_ms: 15 * 60 * 1000,
        ..Settings::default()
    }
}

struct Sent {
    method: Method,
    path: String,
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

/// What placeholders stand for, updated from every reply.
struct Known {
    fingerprint: String,
    attempt: String,
    prepay: String,
    secret: Vec<u8>,
}

impl Known {
    fn learn(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                // The seeded order itself (only an order has `paid`), e.g. after a `PUT`
                // changed its content; an attempt's fingerprint may be an older one.
                if map.get("orderNo").and_then(Value::as_str) == Some(ORDER)
                    && map.contains_key("paid")
                {
                    if let Some(print) = map.get("fingerprint").and_then(Value::as_str) {
                        self.fingerprint = print.to_owned();
                    }
                }
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("attemptId" | "outTradeNo", Value::String(s)) => self.attempt = s.clone(),
                        ("prepayId", Value::String(s)) => self.prepay = s.clone(),
                        _ => self.learn(v),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.learn(v)),
            _ => {}
        }
    }

    fn fill(&self, bytes: &[u8]) -> Vec<u8> {
        let now = checkout_guard_server::clock::now_ms().to_string();
        let pairs: [(&[u8], &[u8]); 7] = [
            (b"$ORDER", ORDER.as_bytes()),
            (b"$FP", self.fingerprint.as_bytes()),
            (b"$KEY", KEY.as_bytes()),
            (b"$ATTEMPT", self.attempt.as_bytes()),
            (b"$PREPAY", self.prepay.as_bytes()),
            (b"$NOW", now.as_bytes()),
            (b"$ADMIN", ADMIN_TOKEN.as_bytes()),
        ];
        let mut out = bytes.to_vec();
        for (from, to) in pairs {
            out = replace(&out, from, to);
        }
        out
    }
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn split<'a>(data: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(separator.len()).position(|w| w == separator) {
        parts.push(&rest[..at]);
        rest = &rest[at + separator.len()..];
    }
    parts.push(rest);
    parts
}

/// Builds one request from its text; `None` for what hyper would refuse before the router
/// (a bad method, URI or request line).
fn build(text: &[u8], known: &Known) -> Option<Request<Body>> {
    let (head, body) = match text.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&text[..at], &text[at + 2..]),
        None => (text, &[][..]),
    };
    let body = known.fill(body);
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = std::str::from_utf8(lines.next()?).ok()?;
    let mut words = request_line.split_whitespace();
    let method = Method::from_bytes(words.next()?.as_bytes()).ok()?;
    let uri = Uri::try_from(known.fill(words.next()?.as_bytes())).ok()?;
    let peer: Option<SocketAddr> = match words.next() {
        Some("loopback") => Some(([127, 0, 0, 1], 50000).into()),
        Some("remote") => Some(([192, 0, 2, 7], 50000).into()),
        _ => None,
    };
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .ok()?;
    let mut signed = Vec::new();
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let Ok(name) = HeaderName::from_bytes(&line[..colon]) else {
            continue;
        };
        let value = known.fill(line[colon + 1..].trim_ascii());
        if value == b"$SIG" {
            signed.push(name);
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            request.headers_mut().append(name, value);
        }
    }
    for name in signed {
        let header = |h: &str| {
            request
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let timestamp = header(signing::TIMESTAMP_HEADER);
        let nonce = header(signing::NONCE_HEADER);
        if let Some(sig) = signing::sign(&known.secret, &timestamp, &nonce, &body) {
            if let Ok(value) = HeaderValue::from_str(&sig) {
                request.headers_mut().append(name, value);
            }
        }
    }
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    *request.body_mut() = Body::from(body);
    Some(request)
}

fn check(sent: &Sent, input: &[u8]) {
    let status = sent.status;
    let api = ["/api/", "/sim/", "/admin/"]
        .iter()
        .any(|p| sent.path.starts_with(p));
    let body_text = String::from_utf8_lossy(&sent.body);
    let error = serde_json::from_slice::<Value>(&sent.body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned));
    let context = || {
        format!(
            "{} {} → {status}\n{body_text}\ninput: {:?}",
            sent.method,
            sent.path,
            String::from_utf8_lossy(input)
        )
    };
    if status.is_server_error() {
        let allowed = matches!(
            error.as_deref(),
            Some("injected_fault" | "provider_unavailable" | "busy")
        );
        assert!(allowed, "a 5xx the input did not ask for: {}", context());
    }
    let html = sent.content_type.starts_with("text/html") && sent.path.starts_with("/sim/wallet/");
    if status.is_client_error() && api && sent.method != Method::HEAD && !html {
        assert!(
            error.is_some(),
            "a 4xx without a JSON `error`: {}",
            context()
        );
    }
    if !api && status == StatusCode::OK {
        panic!("the empty static folder served something: {}", context());
    }
}

async fn send(routes: &axum::Router, request: Request<Body>) -> Sent {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let reply = tokio::time::timeout(HANG, routes.clone().oneshot(request))
        .await
        .unwrap_or_else(|_| panic!("{method} {path} hangs"));
    let response = match reply {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_else(|err| panic!("{method} {path}: body fails: {err}"));
    Sent {
        method,
        path,
        status,
        content_type,
        body,
    }
}

async fn run(data: &[u8]) {
    let db = Arc::new(Db::open(&Storage::Memory).expect("in-memory store"));
    let secret = b"fuzz-notify-secret".to_vec();
    // Cancelled from the start: a notify the fuzzer triggers is never sent anywhere.
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let app = Arc::new(App::new(AppParts {
        store: AnyStore::from(SqliteStore::new(db.clone())),
        db,
        clock: Clock::system(),
        deliverer: Deliverer::new(secret.clone(), TaskTracker::new(), shutdown),
        // Loopback port 9 (discard): nothing listens, should a notify ever be attempted.
        notify_url: "http://127.0.0.1:9/api/notify".to_owned(),
        notify_secret: secret.clone(),
        admin_token: Some(ADMIN_TOKEN.into()),
        admin_from_loopback: true,
        // The whole surface, faults and `/sim/...` included.
        profile: Profile::Demo,
        api_keys: vec![Secret::from(API_KEY)],
        buyer_token_secret: Secret::from("fuzz-buyer-token-secret"),
        buyer_token_ttl_ms: 60_000,
        cors_origins: vec!["https://shop.example".to_owned()],
        settings: settings(),
        // The in-process simulated provider: WeChat Pay needs a network the fuzzer has not.
        wechatpay: None,
        client_ip_header: None,
    }));
    let routes = router(app, empty_dir(), empty_dir(), MAX_BODY_BYTES);

    let create = Request::post("/api/orders")
        .header("content-type", "application/json")
        .body(Body::from(format!(
            r#"{{"orderNo":"{ORDER}","content":{{"amount":1999,"currency":"CNY"}}}}"#
        )))
        .expect("seed request");
    let created = send(&routes, create).await;
    assert_eq!(created.status, StatusCode::CREATED, "seed order");
    let order: Value = serde_json::from_slice(&created.body).expect("order JSON");
    let mut known = Known {
        fingerprint: order["fingerprint"].as_str().unwrap_or_default().to_owned(),
        attempt: String::new(),
        prepay: String::new(),
        secret,
    };

    for text in split(data, b"\n===\n").into_iter().take(MAX_REQUESTS) {
        let Some(request) = build(text, &known) else {
            continue;
        };
        let sent = send(&routes, request).await;
        if trace() {
            eprintln!(
                "{} {} → {} {}",
                sent.method,
                sent.path,
                sent.status,
                String::from_utf8_lossy(&sent.body)
            );
        }
        check(&sent, data);
        if let Ok(value) = serde_json::from_slice::<Value>(&sent.body) {
            known.learn(&value);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // A fresh runtime per input: whatever a request spawned ends with it. Paused, so that
    // sleeps (fault latencies, long-polls) advance the clock instead of waiting.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(run(data));
});
