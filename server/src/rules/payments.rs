//! §1 and §2: create or reuse the one live attempt of an order, close before replacing, and
//! answer the order's status, asking the provider when its notify may be late.

use super::{Merchant, RuleError};
use crate::model::{Attempt, AttemptState};
use crate::provider::{PaymentState, PrepayRequest, Provider, ProviderError};
use crate::stats::Event;
use crate::store::{NewAttempt, NewReply, Store, StoreError};
use serde_json::{json, Value};
use std::net::IpAddr;

/// A create-payment request (§1), already checked for shape.
#[derive(Debug, Clone)]
pub struct CreatePayment<'a> {
    /// The business order.
    pub order_no: &'a str,
    /// The idempotency key.
    pub key: &'a str,
    /// The fingerprint the guard sent.
    pub fingerprint: &'a str,
    /// The buyer's IP address as the request showed it: an H5 prepay needs it (the scene
    /// itself is the order's, [`super::scene`]).
    pub client_ip: Option<IpAddr>,
}

/// The reply to a create-payment request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateReply {
    /// `true`: `201`, a new attempt; `false`: `200`, stored or reused.
    pub created: bool,
    /// The attempt body, without `now`.
    pub body: Value,
}

/// The attempt body of the contract (§1), without `now`.
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

/// An order's payment status as the contract spells it (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The order has no attempt.
    None,
    /// The latest attempt is live and its prepay valid.
    Unpaid,
    /// The provider says the buyer is paying.
    Paying,
    /// The order is paid.
    Paid,
    /// The latest attempt was closed at the provider.
    Closed,
    /// The latest attempt failed at the provider.
    Failed,
}

impl Status {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::None => "none",
            Status::Unpaid => "unpaid",
            Status::Paying => "paying",
            Status::Paid => "paid",
            Status::Closed => "closed",
            Status::Failed => "failed",
        }
    }
}

/// The order's payment status and the attempt it is about.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// The status.
    pub status: Status,
    /// The attempt it is about (`None` for [`Status::None`]).
    pub attempt: Option<Attempt>,
}

impl StatusView {
    /// A long-poll waits on these: the buyer may be paying.
    fn waits(&self) -> bool {
        matches!(self.status, Status::Unpaid | Status::Paying)
    }

    fn same(&self, other: &StatusView) -> bool {
        self.status == other.status
            && self.attempt.as_ref().map(|a| &a.attempt_id)
                == other.attempt.as_ref().map(|a| &a.attempt_id)
    }

    /// The reply body, without `now`.
    pub fn body(&self, order_no: &str) -> Value {
        let mut body = json!({"orderNo": order_no, "status": self.status.as_str()});
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

fn view(status: Status, attempt: Attempt) -> StatusView {
    StatusView {
        status,
        attempt: Some(attempt),
    }
}

/// Live: could still be paid, with at least `margin_ms` left on its prepay (contract
/// vocabulary, "live attempt").
fn is_live(attempt: &Attempt, now: i64, margin_ms: i64) -> bool {
    matches!(attempt.state, AttemptState::Unpaid | AttemptState::Paying)
        && attempt
            .expires_at
            .is_some_and(|at| at > now.saturating_add(margin_ms))
}

/// What closing an attempt at the provider revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseOutcome {
    /// Closed (or never existed there): it can never be charged.
    Dead,
    /// The provider refused: it was paid (now recorded).
    Paid,
    /// The provider did not answer: the attempt may still be payable. Each caller says what
    /// that means for its request (`provider_unavailable` for a create or a status,
    /// `attempt_open` for a content change).
    Unreachable,
}

impl<P: Provider, S: Store> Merchant<P, S> {
    /// Create-payment (§1). See the module documentation of [`crate::rules`] for the rules in
    /// the order they are checked.
    pub async fn create_payment(&self, req: &CreatePayment<'_>) -> Result<CreateReply, RuleError> {
        let CreatePayment {
            order_no,
            key,
            fingerprint,
            ..
        } = *req;
        // Rule 2.5 (and §1's 404): no lease for an order that does not exist.
        self.order(order_no).await?;
        // §1 `409 in_progress`: a create or close for this order is running (perhaps with
        // this very key).
        let Some(_lease) = self.store.try_lease_order(order_no).await? else {
            return Err(RuleError::PaymentInProgress);
        };
        let order = self.order(order_no).await?;
        // Rule 1.4: paid is final, whatever the key (checked before rule 1.1).
        if order.paid_attempt.is_some() {
            return Err(RuleError::AlreadyPaid(order_no.to_owned()));
        }
        // Rule 1.1: the stored reply for this key.
        if let Some(stored) = self.store.reply(order_no, key).await? {
            if stored.fingerprint == fingerprint {
                return Ok(CreateReply {
                    created: false,
                    body: stored.reply,
                });
            }
            return Err(RuleError::PaymentKeyReused);
        }
        // Rule 1.6: the server's own copy of the order decides what the buyer pays for.
        if fingerprint != order.fingerprint {
            return Err(RuleError::FingerprintMismatch);
        }
        let settings = self.settings();
        let now = self.clock.now_ms();
        if let Some(mut latest) = self.store.latest_attempt(order_no).await? {
            let reusable = |a: &Attempt| {
                is_live(a, now, settings.reuse_margin_ms) && a.fingerprint == fingerprint
            };
            // Rule 1.2: the live attempt is reused whatever the key, but its notify may not
            // have arrived yet: ask the provider first, so a just-paid attempt is answered
            // `already_paid` (rule 1.4) rather than launched again.
            if reusable(&latest) {
                self.refresh_from_provider(&latest).await?;
                latest = self.reload(&latest).await?;
                if latest.state == AttemptState::Paid {
                    return Err(RuleError::AlreadyPaid(order_no.to_owned()));
                }
            }
            if reusable(&latest) {
                let body = attempt_body(&latest, true);
                let reply = NewReply {
                    order_no,
                    key,
                    fingerprint,
                    body: &body,
                    attempt_id: &latest.attempt_id,
                    now,
                };
                if !self.store.put_reply(&reply).await? {
                    // Another request answered this key meanwhile: its reply is the one.
                    return Err(RuleError::PaymentInProgress);
                }
                return Ok(CreateReply {
                    created: false,
                    body,
                });
            }
            // Rule 1.3: close at the provider before anything replaces it.
            if !latest.state.is_dead() && self.close_or_unavailable(&latest).await? {
                return Err(RuleError::AlreadyPaid(order_no.to_owned()));
            }
        }
        // The order's scene decides the prepay's shape; refused before anything is written.
        let scene = super::scene::scene_of(&order.content, req.client_ip)?;
        // A new merchant payment number for the same business order, stored as `creating`
        // before the provider hears of it.
        let new = NewAttempt {
            order_no,
            fingerprint,
            amount: order.amount,
            now,
        };
        let Some(attempt) = self.store.begin_attempt(&new).await? else {
            // Paid, or an attempt not known dead appeared meanwhile (a request holding no
            // lease): the next try sees it.
            return Err(RuleError::PaymentInProgress);
        };
        self.observer.observe(order_no, Event::AttemptCreated);
        let request = PrepayRequest {
            attempt_id: attempt.attempt_id.clone(),
            order_no: order_no.to_owned(),
            amount: order.amount,
            scene,
            ttl_ms: settings.prepay_ttl_ms,
        };
        let granted = match self.provider.create(&request).await {
            Ok(granted) => granted,
            Err(err @ (ProviderError::DuplicateNumber | ProviderError::Rejected(_))) => {
                // The number belongs to someone else at the provider ("201"), or the provider
                // refused the request: ours never existed there, so it is dead without a
                // close (closing a duplicate would close *theirs*).
                tracing::error!(%err, attempt = %attempt.attempt_id, "create refused");
                let now = self.clock.now_ms();
                self.store
                    .set_attempt_state(&attempt.attempt_id, AttemptState::Closed, now)
                    .await?;
                return Err(RuleError::ProviderUnavailable);
            }
            Err(err) => {
                // Unknown: it may exist at the provider. It stays `creating`, and rule 1.3
                // closes it before anything replaces it.
                tracing::warn!(%err, attempt = %attempt.attempt_id, "create failed");
                return Err(RuleError::ProviderUnavailable);
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
        if !self
            .store
            .finish_attempt(&prepay, granted.expires_at, &reply)
            .await?
        {
            // Someone moved the attempt on, or answered the key, without the lease.
            return Err(RuleError::PaymentInProgress);
        }
        Ok(CreateReply {
            created: true,
            body,
        })
    }

    /// The status reply (§2) and, for a long-poll, the wait that was applied (seconds).
    pub async fn payment_status(
        &self,
        order_no: &str,
        wait_secs: Option<u64>,
    ) -> Result<(StatusView, Option<u64>), RuleError> {
        // Rule 2.5.
        self.order(order_no).await?;
        let mut changes = self.store.changes(order_no);
        let first = self.evaluate(order_no).await?;
        let Some(wait) = wait_secs.map(|w| w.min(self.settings().max_wait_secs)) else {
            return Ok((first, None));
        };
        let mut current = first.clone();
        if first.waits() && wait > 0 {
            // Rule 2.3: hold the reply until the status changes or `wait` seconds pass,
            // re-asking the provider every query interval in case its notify is lost.
            let deadline = self.clock.deadline_in(wait.saturating_mul(1000));
            loop {
                let left = self.clock.remaining_ms(deadline);
                if left == 0 {
                    break;
                }
                let tick = self
                    .settings()
                    .query_interval_ms
                    .clamp(50, 5000)
                    .unsigned_abs();
                tokio::select! {
                    () = self.clock.sleep_ms(tick.min(left)) => {}
                    () = changes.changed() => {}
                }
                current = self.evaluate(order_no).await?;
                if !current.same(&first) {
                    break;
                }
            }
        }
        Ok((current, Some(wait)))
    }

    /// One evaluation of the order's status, under the order's lease.
    async fn evaluate(&self, order_no: &str) -> Result<StatusView, RuleError> {
        let settings = self.settings();
        // §2.4: a busy order is `503 busy` once the lease stays taken this long.
        let Some(_lease) = self
            .store
            .lease_order(order_no, settings.busy_wait_ms)
            .await?
        else {
            return Err(RuleError::Busy);
        };
        let order = self.order(order_no).await?;
        if let Some(paid) = &order.paid_attempt {
            let attempt = self
                .store
                .attempt(paid)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("paid attempt {paid}")))?;
            return Ok(view(Status::Paid, attempt));
        }
        let Some(latest) = self.store.latest_attempt(order_no).await? else {
            return Ok(StatusView {
                status: Status::None,
                attempt: None,
            });
        };
        let now = self.clock.now_ms();
        let expired = latest.expires_at.is_none_or(|at| at <= now);
        let latest = match latest.state {
            AttemptState::Paid => return Ok(view(Status::Paid, latest)),
            AttemptState::Closed => return Ok(view(Status::Closed, latest)),
            AttemptState::Failed => return Ok(view(Status::Failed, latest)),
            // Rule 2.1: an attempt whose creation's outcome is unknown, or whose prepay
            // expired, is `closed` only after the provider closed it; a payment found then is
            // `paid`.
            AttemptState::Creating => return self.close_then_answer(latest).await,
            AttemptState::Unpaid | AttemptState::Paying if expired => {
                return self.close_then_answer(latest).await;
            }
            AttemptState::Unpaid | AttemptState::Paying => {
                // Rule 2.2: ask the provider, at most once per interval per order.
                if now.saturating_sub(latest.last_query_at) >= settings.query_interval_ms {
                    self.refresh_from_provider(&latest).await?;
                    self.reload(&latest).await?
                } else {
                    latest
                }
            }
        };
        Ok(match latest.state {
            AttemptState::Paid => view(Status::Paid, latest),
            AttemptState::Paying => view(Status::Paying, latest),
            AttemptState::Failed => view(Status::Failed, latest),
            AttemptState::Closed => view(Status::Closed, latest),
            AttemptState::Unpaid | AttemptState::Creating => view(Status::Unpaid, latest),
        })
    }

    /// Rule 2.1: closes `attempt` at the provider, then answers `closed`, or `paid` when the
    /// close revealed a payment.
    async fn close_then_answer(&self, attempt: Attempt) -> Result<StatusView, RuleError> {
        let paid = self.close_or_unavailable(&attempt).await?;
        let status = if paid { Status::Paid } else { Status::Closed };
        Ok(view(status, self.reload(&attempt).await?))
    }

    /// Closes `attempt` at the provider and records what that revealed. Callers hold the
    /// order's lease.
    pub(super) async fn close_at_provider(
        &self,
        attempt: &Attempt,
    ) -> Result<CloseOutcome, RuleError> {
        let closed = self.provider.close(&attempt.attempt_id).await;
        let now = self.clock.now_ms();
        Ok(match closed {
            // Never reached the provider, or closed now: it can never be charged.
            Ok(()) | Err(ProviderError::NotFound) => {
                self.store
                    .set_attempt_state(&attempt.attempt_id, AttemptState::Closed, now)
                    .await?;
                CloseOutcome::Dead
            }
            Err(ProviderError::AlreadyPaid) => {
                // A close refusal carries no amount: the attempt's own (what it was created
                // for) is what the provider charged.
                let paid = self.store.mark_paid(&attempt.attempt_id, None, now).await?;
                self.count_mismatch(&attempt.order_no, paid);
                CloseOutcome::Paid
            }
            Err(
                err @ (ProviderError::Unavailable(_)
                | ProviderError::DuplicateNumber
                | ProviderError::Rejected(_)),
            ) => {
                tracing::warn!(%err, attempt = %attempt.attempt_id, "close failed");
                CloseOutcome::Unreachable
            }
        })
    }

    /// [`Merchant::close_at_provider`] for the payment endpoints: `true` when a payment was
    /// found, [`RuleError::ProviderUnavailable`] when the provider could not close.
    async fn close_or_unavailable(&self, attempt: &Attempt) -> Result<bool, RuleError> {
        match self.close_at_provider(attempt).await? {
            CloseOutcome::Dead => Ok(false),
            CloseOutcome::Paid => Ok(true),
            CloseOutcome::Unreachable => Err(RuleError::ProviderUnavailable),
        }
    }

    /// Asks the provider about a possibly late notify (掉单) and records what it says. A
    /// provider that does not answer leaves the local state as it is.
    pub(super) async fn refresh_from_provider(&self, attempt: &Attempt) -> Result<(), RuleError> {
        let now = self.clock.now_ms();
        self.store.touch_query(&attempt.attempt_id, now).await?;
        let payment = match self.provider.query(&attempt.attempt_id).await {
            Ok(payment) => payment,
            Err(err) => {
                tracing::warn!(%err, attempt = %attempt.attempt_id, "active query failed");
                return Ok(());
            }
        };
        let now = self.clock.now_ms();
        let state = match payment.state {
            PaymentState::Paid => {
                let paid = self
                    .store
                    .mark_paid(&attempt.attempt_id, Some(payment.amount), now)
                    .await?;
                self.count_mismatch(&attempt.order_no, paid);
                return Ok(());
            }
            PaymentState::Paying => AttemptState::Paying,
            PaymentState::NotPaid => AttemptState::Unpaid,
            PaymentState::Failed => AttemptState::Failed,
            PaymentState::Closed => AttemptState::Closed,
        };
        self.store
            .set_attempt_state(&attempt.attempt_id, state, now)
            .await?;
        Ok(())
    }

    /// `attempt` as stored now.
    pub(super) async fn reload(&self, attempt: &Attempt) -> Result<Attempt, RuleError> {
        Ok(self
            .store
            .attempt(&attempt.attempt_id)
            .await?
            .unwrap_or_else(|| attempt.clone()))
    }
}
