//! The provider's side of the payment notify: signed, sent after a delay, retried until the
//! merchant answers 2xx, and, when a fault says so, lost or sent twice.
//!
//! Delivery runs on the server's task tracker and stops at shutdown: a notify still pending
//! then is lost, exactly the case the merchant's active query exists for.

use super::NotifyMessage;
use crate::clock::now_ms;
use crate::ids::random_token;
use crate::signing;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How one notify is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPlan {
    /// Wait before the first try.
    pub delay_ms: u64,
    /// Never send it (the notify is lost).
    pub lost: bool,
    /// How many identical copies to deliver (2 = duplicated notify).
    pub copies: u32,
    /// Tries per copy until a 2xx.
    pub tries: u32,
    /// Wait between tries.
    pub retry_ms: u64,
}

/// Sends notifies to the merchant.
#[derive(Debug, Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    secret: Vec<u8>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Deliverer {
    /// A deliverer signing with `secret`, running on `tasks` until `shutdown`.
    pub fn new(secret: Vec<u8>, tasks: TaskTracker, shutdown: CancellationToken) -> Self {
        Deliverer {
            http: reqwest::Client::new(),
            secret,
            tasks,
            shutdown,
        }
    }

    /// Schedules delivery of `message` according to `plan`.
    pub fn schedule(&self, message: NotifyMessage, plan: DeliveryPlan) {
        if plan.lost {
            tracing::info!(out_trade_no = %message.out_trade_no, "notify lost (fault)");
            return;
        }
        let this = self.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = this.shutdown.cancelled() => {}
                () = this.deliver(message, plan) => {}
            }
        });
    }

    async fn deliver(&self, message: NotifyMessage, plan: DeliveryPlan) {
        tokio::time::sleep(Duration::from_millis(plan.delay_ms)).await;
        let body = match serde_json::to_vec(&message) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(%err, "cannot serialise notify");
                return;
            }
        };
        for copy in 0..plan.copies.max(1) {
            for attempt in 0..plan.tries.max(1) {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(plan.retry_ms)).await;
                }
                if self.send_once(&message.notify_url, &body).await {
                    break;
                }
                tracing::warn!(copy, attempt, url = %message.notify_url, "notify not acknowledged");
            }
        }
    }

    async fn send_once(&self, url: &str, body: &[u8]) -> bool {
        let timestamp = now_ms().to_string();
        let nonce = random_token(16);
        let Some(signature) = signing::sign(&self.secret, &timestamp, &nonce, body) else {
            return false;
        };
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(signing::TIMESTAMP_HEADER, &timestamp)
            .header(signing::NONCE_HEADER, &nonce)
            .header(signing::SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        matches!(sent, Ok(reply) if reply.status().is_success())
    }
}
