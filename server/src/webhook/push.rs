//! Delivering the outbox: claim due events, `POST` each, record the answer.
//!
//! Every instance runs [`run`]; the store hands each due event to one claimant at a time
//! ([`Store::claim_webhooks`]), so several instances share the work without sending one event
//! twice at once. A claim outlives [`TIMEOUT`], so an instance that dies mid-delivery only
//! delays the event until the claim runs out: at least once, never lost.

use super::{body, sign, EVENT_ID_HEADER, SIGNATURE_HEADER};
use crate::clock::Clock;
use crate::config::{Settings, SharedSettings};
use crate::model::OutboxEvent;
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one delivery may take before it counts as failed.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed event is left to its claimant (longer than [`TIMEOUT`]).
const CLAIM_MS: i64 = 15_000;
/// Events claimed at once.
const BATCH: u32 = 16;

/// Where and how webhooks are sent.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    url: String,
    secret: Secret,
}

/// Why [`Sender::new`] failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook client: {0}")]
pub struct SenderError(#[from] reqwest::Error);

impl Sender {
    /// Sends to `url`, signing with `secret`.
    pub fn new(url: String, secret: Secret) -> Result<Sender, SenderError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Sender {
            client,
            url,
            secret,
        })
    }

    /// One try: `Ok` once the receiver answered `2xx`; else why not (no secret in it).
    async fn send(&self, event: &OutboxEvent, now_ms: i64) -> Result<(), String> {
        let body = body(event);
        let signature = sign(
            self.secret.expose().as_bytes(),
            now_ms.div_euclid(1000),
            body.as_bytes(),
        );
        let reply = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, &event.event_id)
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|err| {
                if err.is_timeout() {
                    "no answer in time".to_owned()
                } else if err.is_connect() {
                    "could not connect".to_owned()
                } else {
                    "request failed".to_owned()
                }
            })?;
        let status = reply.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", status.as_u16()))
        }
    }
}

/// The wait after the `tries`-th failed try: `webhook_retry_ms`, doubled per try, capped at
/// `webhook_retry_max_ms`.
pub fn backoff_ms(settings: &Settings, tries: i64) -> u64 {
    let doublings = u32::try_from(tries.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    settings
        .webhook_retry_ms
        .saturating_mul(1u64 << doublings)
        .min(settings.webhook_retry_max_ms.max(settings.webhook_retry_ms))
}

/// Claims the due events and tries each once. How many were claimed.
pub async fn deliver_due<S: Store>(
    store: &S,
    sender: &Sender,
    clock: &Clock,
    settings: &Settings,
) -> Result<usize, StoreError> {
    let now = clock.now_ms();
    let due = store
        .claim_webhooks(now, now.saturating_add(CLAIM_MS), BATCH)
        .await?;
    for event in &due {
        match sender.send(event, clock.now_ms()).await {
            Ok(()) => {
                store
                    .webhook_delivered(&event.event_id, clock.now_ms())
                    .await?
            }
            Err(why) => {
                let wait = i64::try_from(backoff_ms(settings, event.tries)).unwrap_or(i64::MAX);
                tracing::warn!(event = %event.event_id, order = %event.order_no, tries = event.tries, %why, "webhook not acknowledged; will retry");
                store
                    .webhook_failed(&event.event_id, &why, clock.now_ms().saturating_add(wait))
                    .await?;
            }
        }
    }
    Ok(due.len())
}

/// Delivers the outbox until `shutdown`: looks for due events every half second (sooner when
/// retries are set shorter), at once again after a full batch.
pub async fn run<S: Store>(
    store: &S,
    sender: &Sender,
    clock: &Clock,
    settings: &SharedSettings,
    shutdown: CancellationToken,
) {
    loop {
        let now = settings.get();
        // Stopping mid-delivery is safe: the claim runs out and the event is sent again.
        let pass = tokio::select! {
            () = shutdown.cancelled() => return,
            pass = deliver_due(store, sender, clock, &now) => pass,
        };
        let claimed = match pass {
            Ok(claimed) => claimed,
            Err(err) => {
                // The database is away: the events wait in it; try again later.
                tracing::warn!(%err, "webhook delivery could not read the outbox");
                0
            }
        };
        if claimed == BATCH as usize {
            continue;
        }
        let poll = now.webhook_retry_ms.clamp(50, 500);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = clock.sleep_ms(poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_cap() {
        let settings = Settings {
            webhook_retry_ms: 1000,
            webhook_retry_max_ms: 5000,
            ..Settings::default()
        };
        let waits: Vec<u64> = (1..=6).map(|t| backoff_ms(&settings, t)).collect();
        assert_eq!(waits, [1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(backoff_ms(&settings, i64::MAX), 5000);
        assert_eq!(backoff_ms(&settings, 0), 1000);
    }
}
