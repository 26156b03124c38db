//! The merchant's payment rules (docs/contract.md §1 and §2): create or reuse the one live
//! attempt of an order, close before replacing, and answer the order's status, asking the
//! provider when its notify may be late.
//!
//! Every step that talks to the provider for an order runs under that order's lease, so two
//! requests can never both decide "no live attempt, mint one". The rules see the storage only
//! through the [`Store`] trait and the provider only through the [`Provider`] trait.

use crate::app::App;
use crate::error::ApiError;
use crate::model::{Attempt, AttemptState};
use crate::provider::{PaymentState, PrepayRequest, Provider, ProviderError, Scene};
use crate::stats::{Event, Observer};
use crate::store::{NewAttempt, NewReply, PaidRecord, Store, StoreError};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// The reply to a create-payment request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateReply {
    /// `true`: `201`, a new attempt; `false`: `200`, stored or reused.
    pub created: bool,
    /// The attempt body.
    pub body: Value,
}

/// The attempt body of the contract (§1).
pub fn attempt_body(attempt: &Attempt, reused: bool) -> Value {
    json!({
        "orderNo": attempt.order_no,
        "attemptId": attempt.attempt_id,
        "fingerprint": attempt.fingerprint,
        "prepay": attempt.prepay.clone().unwrap_or_else(|| json!({})),
        "expiresAt": attempt.expires_at,
        "reused": reused,
    })
}

fn in_progress() -> ApiError {
    ApiError::in_progress("a payment request for this order")
}

fn provider_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
        "the payment provider did not answer; retry with the same key",
    )
    .retry_after(1)
}

fn is_live(attempt: &Attempt, now: i64, margin_ms: i64) -> bool {
    matches!(attempt.state, AttemptState::Unpaid | AttemptState::Paying)
        && attempt
            .expires_at
            .is_some_and(|at| at > now.saturating_add(margin_ms))
}

/// What closing an attempt at the provider revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseOutcome {
    /// Closed (or never existed there): it can never be charged.
    Dead,
    /// The provider refused: it was paid (now recorded).
    Paid,
    /// The provider did not answer: the attempt may still be payable. Each caller says what
    /// that means for its request (`503 provider_unavailable` for a create or a status,
    /// `409 attempt_open` for a content change).
    Unreachable,
}

/// Closes `attempt` at the provider and records what that revealed. Callers hold the order's
/// lock.
pub(crate) async fn close_at_provider(
    app: &App,
    attempt: &Attempt,
) -> Result<CloseOutcome, ApiError> {
    let closed = app.provider.close(&attempt.attempt_id).await;
    let now = app.clock.now_ms();
    let outcome = match closed {
        Ok(()) | Err(ProviderError::NotFound) => {
            app.store
                .set_attempt_state(&attempt.attempt_id, AttemptState::Closed, now)
                .await?;
            CloseOutcome::Dead
        }
        Err(ProviderError::AlreadyPaid) => {
            // A close refusal carries no amount: the attempt's own (what it was created for)
            // is what the provider charged.
            let paid = app.store.mark_paid(&attempt.attempt_id, None, now).await?;
            count_mismatch(app, &attempt.order_no, paid);
            CloseOutcome::Paid
        }
        Err(
            err @ (ProviderError::Unavailable(_)
            | ProviderError::DuplicateNumber
            | ProviderError::Rejected(_)),
        ) => {
            tracing::warn!(%err, attempt = %attempt.attempt_id, "close failed");
            return Ok(CloseOutcome::Unreachable);
        }
    };
    Ok(outcome)
}

/// Counts a payment recorded for another amount than the order's (the order is flagged).
pub(crate) fn count_mismatch(app: &App, order_no: &str, paid: PaidRecord) {
    if paid.mismatch {
        app.stats.observe(order_no, Event::AmountMismatch);
    }
}

/// [`close_at_provider`] for the payment endpoints: `Ok(true)` when a payment was found,
/// `503 provider_unavailable` when the provider cannot be reached.
async fn close_or_unavailable(app: &App, attempt: &Attempt) -> Result<bool, ApiError> {
    match close_at_provider(app, attempt).await? {
        CloseOutcome::Dead => Ok(false),
        CloseOutcome::Paid => Ok(true),
        CloseOutcome::Unreachable => Err(provider_unavailable()),
    }
}

/// The order, or `404 unknown_order`. Checked before an order's lease is asked for, so
/// requests for made-up order numbers leave nothing behind in memory.
pub async fn existing_order(app: &App, order_no: &str) -> Result<crate::model::Order, ApiError> {
    app.store
        .order(order_no)
        .await?
        .ok_or_else(|| ApiError::unknown_order(order_no))
}

/// Create-payment (§1): `order_no`, the parsed key and the sent fingerprint.
pub async fn create_payment(
    app: &App,
    order_no: &str,
    key: &str,
    fingerprint: &str,
) -> Result<CreateReply, ApiError> {
    existing_order(app, order_no).await?;
    // Rule 1.1/§1 409: a create or close for this order is running (possibly with this key).
    let Some(_lease) = app.store.try_lease_order(order_no).await? else {
        return Err(in_progress());
    };
    let order = existing_order(app, order_no).await?;
    // Rule 1.4: paid is final, whatever the key.
    if order.paid_attempt.is_some() {
        return Err(ApiError::already_paid(order_no));
    }
    // Rule 1.1: the stored reply for this key.
    if let Some(stored) = app.store.reply(order_no, key).await? {
        if stored.fingerprint == fingerprint {
            return Ok(CreateReply {
                created: false,
                body: stored.reply,
            });
        }
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "key_reused",
            "this idempotency key was used with another fingerprint",
        ));
    }
    // Rule 1.6: the server's own copy of the order decides what the buyer pays for.
    if fingerprint != order.fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "fingerprint_mismatch",
            "the fingerprint is not the one of the order's current content",
        ));
    }
    let settings = app.settings();
    let now = app.clock.now_ms();
    if let Some(mut latest) = app.store.latest_attempt(order_no).await? {
        // Rule 1.2: the live attempt is reused whatever the key; no second prepay call.
        if is_live(&latest, now, settings.reuse_margin_ms) && latest.fingerprint == fingerprint {
            // Its notify may not have arrived yet: ask the provider first, so a just-paid
            // attempt is answered `already_paid` rather than launched again (rule 1.4).
            refresh_from_provider(app, &latest).await?;
            latest = reload(app, &latest).await?;
            if latest.state == AttemptState::Paid {
                return Err(ApiError::already_paid(order_no));
            }
        }
        if is_live(&latest, now, settings.reuse_margin_ms) && latest.fingerprint == fingerprint {
            let body = attempt_body(&latest, true);
            let reply = NewReply {
                order_no,
                key,
                fingerprint,
                body: &body,
                attempt_id: &latest.attempt_id,
                now,
            };
            if !app.store.put_reply(&reply).await? {
                // Another request answered this key meanwhile: its reply is the one.
                return Err(in_progress());
            }
            return Ok(CreateReply {
                created: false,
                body,
            });
        }
        // Rule 1.3: close at the provider before anything replaces it.
        if !latest.state.is_dead() && close_or_unavailable(app, &latest).await? {
            return Err(ApiError::already_paid(order_no));
        }
    }
    // A new merchant payment number for the same business order. It is stored as `creating`
    // before the provider hears of it, so a crash or a lost provider reply leaves a record
    // that the next request closes first.
    let new = NewAttempt {
        order_no,
        fingerprint,
        amount: order.amount,
        now,
    };
    let Some(attempt) = app.store.begin_attempt(&new).await? else {
        // Paid, or another attempt not known dead appeared meanwhile (a request that holds
        // no lease): the next try sees it.
        return Err(in_progress());
    };
    app.stats.observe(order_no, Event::AttemptCreated);
    let request = PrepayRequest {
        attempt_id: attempt.attempt_id.clone(),
        order_no: order_no.to_owned(),
        amount: order.amount,
        scene: Scene::Native,
        ttl_ms: settings.prepay_ttl_ms,
    };
    let granted = match app.provider.create(&request).await {
        Ok(granted) => granted,
        Err(err @ (ProviderError::DuplicateNumber | ProviderError::Rejected(_))) => {
            // The number belongs to someone else at the provider ("201"), or the provider
            // refused the request: ours never existed there, so it is dead without a close
            // (closing a duplicate would close *theirs*).
            tracing::error!(%err, attempt = %attempt.attempt_id, "create refused");
            app.store
                .set_attempt_state(&attempt.attempt_id, AttemptState::Closed, now)
                .await?;
            return Err(provider_unavailable());
        }
        Err(err) => {
            tracing::warn!(%err, attempt = %attempt.attempt_id, "create failed");
            return Err(provider_unavailable());
        }
    };
    let prepay = Value::Object(granted.params);
    let created = Attempt {
        state: AttemptState::Unpaid,
        prepay: Some(prepay.clone()),
        expires_at: Some(granted.expires_at),
        ..attempt
    };
    let body = attempt_body(&created, false);
    // Rule 1.5: the attempt and the idempotent reply commit together.
    let reply = NewReply {
        order_no,
        key,
        fingerprint,
        body: &body,
        attempt_id: &created.attempt_id,
        now,
    };
    if !app
        .store
        .finish_attempt(&prepay, granted.expires_at, &reply)
        .await?
    {
        // Someone moved the attempt on, or answered the key, without the lease.
        return Err(in_progress());
    }
    Ok(CreateReply {
        created: true,
        body,
    })
}

/// The order's payment status as the contract spells it (§2).
#[derive(Debug, Clone)]
pub struct StatusView {
    /// `none`, `unpaid`, `paying`, `paid`, `closed` or `failed`.
    pub status: &'static str,
    /// The attempt it is about.
    pub attempt: Option<Attempt>,
}

impl StatusView {
    fn waits(&self) -> bool {
        matches!(self.status, "unpaid" | "paying")
    }

    fn same(&self, other: &StatusView) -> bool {
        self.status == other.status
            && self.attempt.as_ref().map(|a| &a.attempt_id)
                == other.attempt.as_ref().map(|a| &a.attempt_id)
    }

    /// The reply body.
    pub fn body(&self, order_no: &str) -> Value {
        let mut body = json!({"orderNo": order_no, "status": self.status});
        if let (Some(attempt), Some(map)) = (&self.attempt, body.as_object_mut()) {
            map.insert("attemptId".into(), json!(attempt.attempt_id));
            map.insert("fingerprint".into(), json!(attempt.fingerprint));
            if let Some(prepay) = &attempt.prepay {
                map.insert("prepay".into(), prepay.clone());
            }
            if let Some(at) = attempt.expires_at {
                map.insert("expiresAt".into(), json!(at));
            }
        }
        body
    }
}

fn view(status: &'static str, attempt: Attempt) -> StatusView {
    StatusView {
        status,
        attempt: Some(attempt),
    }
}

async fn reload(app: &App, attempt: &Attempt) -> Result<Attempt, ApiError> {
    Ok(app
        .store
        .attempt(&attempt.attempt_id)
        .await?
        .unwrap_or_else(|| attempt.clone()))
}

/// Asks the provider about a possibly-late notify (掉单) and records what it says.
/// A provider that does not answer leaves the local state as it is.
async fn refresh_from_provider(app: &App, attempt: &Attempt) -> Result<(), ApiError> {
    let now = app.clock.now_ms();
    app.store.touch_query(&attempt.attempt_id, now).await?;
    let payment = match app.provider.query(&attempt.attempt_id).await {
        Ok(payment) => payment,
        Err(err) => {
            tracing::warn!(%err, attempt = %attempt.attempt_id, "active query failed");
            return Ok(());
        }
    };
    let now = app.clock.now_ms();
    let state = match payment.state {
        PaymentState::Paid => {
            let paid = app
                .store
                .mark_paid(&attempt.attempt_id, Some(payment.amount), now)
                .await?;
            count_mismatch(app, &attempt.order_no, paid);
            return Ok(());
        }
        PaymentState::Paying => AttemptState::Paying,
        PaymentState::NotPaid => AttemptState::Unpaid,
        PaymentState::Failed => AttemptState::Failed,
        PaymentState::Closed => AttemptState::Closed,
    };
    app.store
        .set_attempt_state(&attempt.attempt_id, state, now)
        .await?;
    Ok(())
}

/// One evaluation of the order's status, under the order's lock.
async fn evaluate(app: &App, order_no: &str) -> Result<StatusView, ApiError> {
    let settings = app.settings();
    let Some(_lease) = app
        .store
        .lease_order(order_no, settings.busy_wait_ms)
        .await?
    else {
        return Err(ApiError::busy(
            "a payment request for this order is running",
        ));
    };
    let order = existing_order(app, order_no).await?;
    if let Some(paid) = &order.paid_attempt {
        let attempt = app
            .store
            .attempt(paid)
            .await?
            .ok_or_else(|| ApiError::from(StoreError::Corrupt(paid.clone())))?;
        return Ok(view("paid", attempt));
    }
    let Some(latest) = app.store.latest_attempt(order_no).await? else {
        return Ok(StatusView {
            status: "none",
            attempt: None,
        });
    };
    let now = app.clock.now_ms();
    let expired = latest.expires_at.is_none_or(|at| at <= now);
    let latest = match latest.state {
        AttemptState::Paid => return Ok(view("paid", latest)),
        AttemptState::Closed => return Ok(view("closed", latest)),
        AttemptState::Failed => return Ok(view("failed", latest)),
        // Rule 2.1: `closed` only after the provider closed it; a payment found then is `paid`.
        AttemptState::Creating => {
            let paid = close_or_unavailable(app, &latest).await?;
            return Ok(view(
                if paid { "paid" } else { "closed" },
                reload(app, &latest).await?,
            ));
        }
        AttemptState::Unpaid | AttemptState::Paying if expired => {
            let paid = close_or_unavailable(app, &latest).await?;
            return Ok(view(
                if paid { "paid" } else { "closed" },
                reload(app, &latest).await?,
            ));
        }
        AttemptState::Unpaid | AttemptState::Paying => {
            // Rule 2.2: ask the provider, at most once per interval per order.
            if now.saturating_sub(latest.last_query_at) >= settings.query_interval_ms {
                refresh_from_provider(app, &latest).await?;
                reload(app, &latest).await?
            } else {
                latest
            }
        }
    };
    Ok(match latest.state {
        AttemptState::Paid => view("paid", latest),
        AttemptState::Paying => view("paying", latest),
        AttemptState::Failed => view("failed", latest),
        AttemptState::Closed => view("closed", latest),
        AttemptState::Unpaid | AttemptState::Creating => view("unpaid", latest),
    })
}

/// The status reply and, for a long-poll, the wait that was applied (seconds).
pub async fn payment_status(
    app: &App,
    order_no: &str,
    wait_secs: Option<u64>,
) -> Result<(StatusView, Option<u64>), ApiError> {
    existing_order(app, order_no).await?;
    let mut changes = app.store.changes(order_no);
    let first = evaluate(app, order_no).await?;
    let Some(wait) = wait_secs.map(|w| w.min(app.settings().max_wait_secs)) else {
        return Ok((first, None));
    };
    let mut current = first.clone();
    if first.waits() && wait > 0 {
        // Rule 2.3: hold the reply until the status changes or `wait` seconds pass,
        // re-asking the provider every query interval in case its notify is lost.
        let deadline = app.clock.deadline_in(wait.saturating_mul(1000));
        loop {
            let left = app.clock.remaining_ms(deadline);
            if left == 0 {
                break;
            }
            let tick = app
                .settings()
                .query_interval_ms
                .clamp(50, 5000)
                .unsigned_abs();
            tokio::select! {
                () = app.clock.sleep_ms(tick.min(left)) => {}
                () = changes.changed() => {}
            }
            current = evaluate(app, order_no).await?;
            if !current.same(&first) {
                break;
            }
        }
    }
    Ok((current, Some(wait)))
}
