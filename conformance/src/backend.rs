//! The backend under test, spoken to as the guard speaks to it (`docs/contract.md` §1 and §2),
//! plus a log of every reply seen, so that rules about *all* replies (the error body shape,
//! `Retry-After` on `429`/`503` and `in_progress`) are checked on everything the run provoked.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use checkout_guard::core::contract::Endpoints;
use serde_json::Value;

use crate::orders::Order;
use crate::KitError;

/// How the `Idempotency-Key` header is sent.
#[derive(Debug, Clone)]
pub enum KeyHeader {
    /// `"<key>"`, the sf-string the guard sends.
    Quoted(String),
    /// `<key>` without quotes (a server should accept it too).
    Bare(String),
    /// Exactly this header value (malformed keys).
    Raw(String),
    /// No header at all.
    Missing,
}

/// One HTTP reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// `Retry-After`, as sent.
    pub retry_after: Option<String>,
    /// `Preference-Applied`, as sent.
    pub preference_applied: Option<String>,
    /// The body as text.
    pub text: String,
    /// The body as JSON, when it is JSON.
    pub json: Option<Value>,
    /// How long the reply took.
    pub elapsed: Duration,
}

impl Reply {
    /// The error code of an error body (`{"error": …}`).
    pub fn error_code(&self) -> Option<&str> {
        self.json.as_ref()?.get("error")?.as_str()
    }

    /// `status` and, for an error, its code: `409 in_progress`, for messages.
    pub fn summary(&self) -> String {
        match self.error_code() {
            Some(code) => format!("{} {code}", self.status),
            None if self.text.len() > 160 => format!("{} {}…", self.status, &self.text[..160]),
            None => format!("{} {}", self.status, self.text),
        }
    }
}

/// A reply kept for the all-replies rules.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `POST /api/orders/X/payments`.
    pub request: String,
    /// The reply.
    pub reply: Reply,
}

/// Where the guard-facing endpoints are and how to reach them.
#[derive(Debug)]
pub struct Backend {
    client: reqwest::Client,
    base: String,
    create_template: String,
    status_template: String,
    submit_path: String,
    seen: Mutex<Vec<Seen>>,
}

/// The contract's default create template (§1).
pub const DEFAULT_CREATE: &str = "/api/orders/{orderNo}/payments";
/// The contract's default status template (§2).
pub const DEFAULT_STATUS: &str = "/api/orders/{orderNo}/payment";
/// The contract's default submit path (§4).
pub const DEFAULT_SUBMIT: &str = "/api/orders";

/// Where the guard-facing endpoints are, when not at the contract's defaults.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// The create template ([`DEFAULT_CREATE`]).
    pub create: Option<String>,
    /// The status template ([`DEFAULT_STATUS`]).
    pub status: Option<String>,
    /// The submit path ([`DEFAULT_SUBMIT`]).
    pub submit: Option<String>,
}

impl Backend {
    /// A backend at `base` (`http://host:port`), with the contract's paths unless given.
    pub fn new(base: &str, paths: Paths) -> Result<Self, KitError> {
        let client = reqwest::Client::builder()
            // Longer than the longest long-poll the kit asks for (25 s).
            .timeout(Duration::from_secs(40))
            .build()?;
        Ok(Backend {
            client,
            base: base.trim_end_matches('/').to_owned(),
            create_template: paths.create.unwrap_or_else(|| DEFAULT_CREATE.to_owned()),
            status_template: paths.status.unwrap_or_else(|| DEFAULT_STATUS.to_owned()),
            submit_path: paths.submit.unwrap_or_else(|| DEFAULT_SUBMIT.to_owned()),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// The backend's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client (shared with the orders adapter and the guard shell).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Where a guard sends its three requests (`core::contract` fills in the order number).
    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            create: [self.base.as_str(), &self.create_template].concat(),
            status: [self.base.as_str(), &self.status_template].concat(),
            submit: self.submit_url(),
        }
    }

    /// The create URL of `order_no`.
    pub fn create_url(&self, order_no: &str) -> String {
        format!(
            "{}{}",
            self.base,
            self.create_template.replace("{orderNo}", order_no)
        )
    }

    /// The status URL of `order_no`.
    pub fn status_url(&self, order_no: &str) -> String {
        format!(
            "{}{}",
            self.base,
            self.status_template.replace("{orderNo}", order_no)
        )
    }

    /// The submit URL (§4).
    pub fn submit_url(&self) -> String {
        format!("{}{}", self.base, self.submit_path)
    }

    /// `POST {submit}` (§4) with `key`, quoted as the guard sends it, and `body`.
    pub async fn submit(&self, key: &str, body: &Value) -> Result<Reply, KitError> {
        let req = self
            .client
            .post(self.submit_url())
            .header("Idempotency-Key", format!("\"{key}\""))
            .json(body);
        let label = format!("POST {}", self.submit_url());
        self.send(label, req).await
    }

    /// `POST {create}` with `key` and the raw `body` (JSON or deliberately not).
    pub async fn create_raw(
        &self,
        order: &Order,
        key: &KeyHeader,
        body: &str,
    ) -> Result<Reply, KitError> {
        let mut req = self
            .client
            .post(self.create_url(&order.order_no))
            .header("content-type", "application/json")
            .body(body.to_owned());
        req = match key {
            KeyHeader::Quoted(k) => req.header("Idempotency-Key", format!("\"{k}\"")),
            KeyHeader::Bare(k) => req.header("Idempotency-Key", k.as_str()),
            KeyHeader::Raw(v) => req.header("Idempotency-Key", v.as_str()),
            KeyHeader::Missing => req,
        };
        if let Some(token) = &order.buyer_token {
            req = req.header("X-Buyer-Token", token.as_str());
        }
        let label = format!("POST {}", self.create_url(&order.order_no));
        self.send(label, req).await
    }

    /// `POST {create}` as the guard sends it: quoted key, `{"fingerprint": …}`.
    pub async fn create(
        &self,
        order: &Order,
        key: &str,
        fingerprint: &str,
    ) -> Result<Reply, KitError> {
        let body = serde_json::json!({ "fingerprint": fingerprint }).to_string();
        self.create_raw(order, &KeyHeader::Quoted(key.to_owned()), &body)
            .await
    }

    /// `GET {status}`, with `Prefer: wait=<n>` when asked.
    pub async fn status(&self, order: &Order, wait_secs: Option<u64>) -> Result<Reply, KitError> {
        let mut req = self.client.get(self.status_url(&order.order_no));
        if let Some(wait) = wait_secs {
            req = req.header("Prefer", format!("wait={wait}"));
        }
        if let Some(token) = &order.buyer_token {
            req = req.header("X-Buyer-Token", token.as_str());
        }
        let label = format!("GET {}", self.status_url(&order.order_no));
        self.send(label, req).await
    }

    async fn send(&self, label: String, req: reqwest::RequestBuilder) -> Result<Reply, KitError> {
        let started = Instant::now();
        let response = req.send().await.map_err(|source| KitError::NoReply {
            request: label.clone(),
            source,
        })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after");
        let preference_applied = header("preference-applied");
        let text = response.text().await.map_err(|source| KitError::NoReply {
            request: label.clone(),
            source,
        })?;
        let json = serde_json::from_str(&text).ok();
        let reply = Reply {
            status,
            retry_after,
            preference_applied,
            text,
            json,
            elapsed: started.elapsed(),
        };
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                request: label,
                reply: reply.clone(),
            });
        Ok(reply)
    }

    /// Every reply seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
