//! The cases: each named, citing the rule of `docs/contract.md` it proves (`§1 rule 1` is rule
//! 1 of §1's "What the server must do"; `§2 rule 3` rule 3 of §2's "Rules for the server";
//! `§1 replies` and `§2 states` the two tables), observed only from outside: the backend's
//! replies and WeChat Pay's side of the record at the simulator.
//!
//! Every case makes its own orders, so a failure in one never poisons the next. The order of
//! [`all`] is the order of the run: the all-replies checks and the promise come last, so they
//! see what every earlier case provoked.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::backend::{Backend, KeyHeader, Reply};
use crate::orders::{Changed, Order};
use crate::report::Verdict;
use crate::sim::{wallet_id, Sim};
use crate::{new_key, KitError, Options};

/// A case's result: `Ok` is a pass; `Err` carries the fail or not-applicable verdict.
pub type Outcome = Result<(), Verdict>;

/// The future a case runs as.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable name (the JUnit test name).
    pub id: &'static str,
    /// The contract rule it proves.
    pub rule: &'static str,
    /// What it checks, in one line.
    pub title: &'static str,
    /// The check.
    pub run: for<'a> fn(&'a Kit) -> CaseFuture<'a>,
}

impl From<KitError> for Verdict {
    fn from(err: KitError) -> Self {
        Verdict::Fail(format!("could not run: {err}"))
    }
}

fn fail(why: impl Into<String>) -> Verdict {
    Verdict::Fail(why.into())
}

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(Verdict::Fail(why()))
    }
}

/// The shared state of a run.
pub struct Kit {
    /// The backend under test.
    pub backend: Arc<Backend>,
    /// The simulator.
    pub sim: Sim,
    /// The options.
    pub options: Options,
    made: Mutex<Vec<String>>,
}

/// A valid attempt body (§1).
#[derive(Debug, Clone)]
pub struct Attempt {
    /// `201` or `200`.
    pub status: u16,
    /// `attemptId` (WeChat Pay's `out_trade_no`).
    pub attempt_id: String,
    /// `prepay`.
    pub prepay: Value,
    /// `expiresAt`, when given.
    pub expires_at: Option<i64>,
    /// `reused`.
    pub reused: bool,
    /// `now`: the server's clock.
    pub now: i64,
    /// The whole body.
    pub body: Value,
}

impl Attempt {
    /// The simulator wallet id of its prepay.
    pub fn wallet(&self) -> Result<String, Verdict> {
        wallet_id(&self.prepay).ok_or_else(|| {
            fail(format!(
                "the prepay {} names no WeChat Pay prepay_id or code_url the simulator knows",
                self.prepay
            ))
        })
    }
}

fn is_attempt_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'|' | b'*'))
}

fn non_negative_int(value: Option<&Value>) -> Option<i64> {
    value?.as_i64().filter(|n| *n >= 0)
}

/// Checks an attempt body against §1 ("The attempt body").
pub fn check_attempt(reply: &Reply, order: &Order, fingerprint: &str) -> Result<Attempt, String> {
    if !matches!(reply.status, 200 | 201) {
        return Err(format!(
            "expected 201/200 with an attempt, got {}",
            reply.summary()
        ));
    }
    let body = reply
        .json
        .as_ref()
        .filter(|v| v.is_object())
        .ok_or_else(|| format!("{}: the body is not a JSON object", reply.status))?;
    let field = |name: &str| body.get(name);
    if field("orderNo").and_then(Value::as_str) != Some(order.order_no.as_str()) {
        return Err(format!("orderNo is not {:?}: {body}", order.order_no));
    }
    let attempt_id = field("attemptId")
        .and_then(Value::as_str)
        .filter(|id| is_attempt_id(id))
        .ok_or_else(|| format!("attemptId missing or not 1-64 of A-Za-z0-9-_|*: {body}"))?;
    if field("fingerprint").and_then(Value::as_str) != Some(fingerprint) {
        return Err(format!("fingerprint is not the one sent: {body}"));
    }
    let prepay = field("prepay")
        .filter(|p| p.is_object())
        .ok_or_else(|| format!("prepay is not a JSON object: {body}"))?;
    if prepay.to_string().len() > 4096 {
        return Err("prepay is larger than 4096 bytes".into());
    }
    let expires_at = match field("expiresAt") {
        None | Some(Value::Null) => None,
        some => Some(
            non_negative_int(some)
                .ok_or_else(|| format!("expiresAt is not a non-negative integer: {body}"))?,
        ),
    };
    let reused = field("reused")
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("reused is not a boolean: {body}"))?;
    let now = non_negative_int(field("now"))
        .ok_or_else(|| format!("now (the server's clock) is missing: {body}"))?;
    Ok(Attempt {
        status: reply.status,
        attempt_id: attempt_id.to_owned(),
        prepay: prepay.clone(),
        expires_at,
        reused,
        now,
        body: body.clone(),
    })
}

/// A valid status body (§2).
#[derive(Debug, Clone)]
pub struct Status {
    /// `none`, `unpaid`, `paying`, `paid`, `closed`, `failed`.
    pub status: String,
    /// `attemptId`, when given.
    pub attempt_id: Option<String>,
    /// The whole body.
    pub body: Value,
}

/// Checks a status body against §2's table: the state and its required fields.
pub fn check_status(reply: &Reply, order: &Order) -> Result<Status, String> {
    if reply.status != 200 {
        return Err(format!(
            "expected 200 with a status, got {}",
            reply.summary()
        ));
    }
    let body = reply
        .json
        .as_ref()
        .filter(|v| v.is_object())
        .ok_or_else(|| "the status body is not a JSON object".to_owned())?;
    if body.get("orderNo").and_then(Value::as_str) != Some(order.order_no.as_str()) {
        return Err(format!("orderNo is not {:?}: {body}", order.order_no));
    }
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("status missing: {body}"))?;
    let required: &[&str] = match status {
        "none" => &[],
        "unpaid" => &["attemptId", "fingerprint", "prepay", "expiresAt"],
        "paying" | "paid" | "closed" | "failed" => &["attemptId"],
        other => return Err(format!("status {other:?} is not one of the contract's")),
    };
    for name in required {
        if body.get(*name).is_none_or(Value::is_null) {
            return Err(format!(
                "status {status} without its required {name}: {body}"
            ));
        }
    }
    let attempt_id = body.get("attemptId").and_then(Value::as_str);
    if let Some(id) = attempt_id {
        if !is_attempt_id(id) {
            return Err(format!("attemptId {id:?} is not 1-64 of A-Za-z0-9-_|*"));
        }
    }
    if status == "unpaid" {
        if !body.get("prepay").is_some_and(Value::is_object) {
            return Err(format!(
                "unpaid with a prepay that is not an object: {body}"
            ));
        }
        if non_negative_int(body.get("expiresAt")).is_none() {
            return Err(format!(
                "unpaid with an expiresAt that is not an integer: {body}"
            ));
        }
    }
    if non_negative_int(body.get("now")).is_none() {
        return Err(format!("now (the server's clock) is missing: {body}"));
    }
    Ok(Status {
        status: status.to_owned(),
        attempt_id: attempt_id.map(str::to_owned),
        body: body.clone(),
    })
}

/// A fingerprint no order has: 64 lowercase hex characters.
fn foreign_fingerprint() -> String {
    format!("{}{}", new_key(), new_key())
}

impl Kit {
    /// A kit over `backend` and `sim`.
    pub fn new(backend: Backend, sim: Sim, options: Options) -> Self {
        Kit {
            backend: Arc::new(backend),
            sim,
            options,
            made: Mutex::new(Vec::new()),
        }
    }

    /// Every order the run made.
    pub fn made(&self) -> Vec<String> {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A fresh unpaid order for 19.99.
    pub async fn order(&self) -> Result<Order, Verdict> {
        let order = self
            .options
            .orders
            .create(self.backend.client(), 1999)
            .await?;
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(order.order_no.clone());
        Ok(order)
    }

    /// Creates with `key` and the order's own fingerprint; a valid attempt or a fail.
    pub async fn attempt(&self, order: &Order, key: &str) -> Result<Attempt, Verdict> {
        let reply = self.backend.create(order, key, &order.fingerprint).await?;
        check_attempt(&reply, order, &order.fingerprint).map_err(fail)
    }

    /// The status, checked for shape.
    pub async fn status(&self, order: &Order) -> Result<Status, Verdict> {
        let reply = self.backend.status(order, None).await?;
        check_status(&reply, order).map_err(fail)
    }

    /// Polls the status (no `Prefer`) until it is `want` or `timeout` passes.
    pub async fn wait_for(
        &self,
        order: &Order,
        want: &str,
        timeout: Duration,
    ) -> Result<Status, Verdict> {
        let started = Instant::now();
        loop {
            let status = self.status(order).await?;
            if status.status == want {
                return Ok(status);
            }
            if started.elapsed() > timeout {
                return Err(fail(format!(
                    "still {:?} after {:.1} s, expected {want}",
                    status.status,
                    timeout.as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The buyer acts in the wallet on `attempt`'s prepay; the simulator's status code.
    pub async fn wallet(
        &self,
        attempt: &Attempt,
        action: &str,
        fault: Option<&str>,
    ) -> Result<u16, Verdict> {
        Ok(self.sim.wallet(&attempt.wallet()?, action, fault).await?)
    }

    /// The buyer pays `attempt`; the payment must go through.
    pub async fn pay(&self, attempt: &Attempt, fault: Option<&str>) -> Outcome {
        let code = self.wallet(attempt, "confirm", fault).await?;
        ensure(code == 200, || {
            format!("the wallet refused to pay a fresh prepay: {code}")
        })
    }

    /// Checks that WeChat Pay charged the order at most `charges` times... exactly.
    async fn charges_are(&self, order: &Order, charges: u64) -> Outcome {
        let stats = self.sim.stats(&order.order_no).await?;
        let by_number = self.charges_by_number(order).await?;
        let seen = stats.charges.max(by_number);
        ensure(seen == charges, || {
            format!("WeChat Pay charged the order {seen} times, expected {charges}")
        })
    }

    /// Charges summed over the transactions the simulator files under the order (`attach`).
    async fn charges_by_number(&self, order: &Order) -> Result<u64, Verdict> {
        let list = self.sim.transactions(&order.order_no).await?;
        Ok(list.iter().filter(|t| t.trade_state == "SUCCESS").count() as u64)
    }

    /// The transactions WeChat Pay holds for the order; a backend that does not put the
    /// business order number in `attach` gets `n/a` for the checks that need them.
    async fn numbers(&self, order: &Order) -> Result<Vec<crate::sim::Transaction>, Verdict> {
        let list = self.sim.transactions(&order.order_no).await?;
        if list.is_empty() {
            return Err(Verdict::NotApplicable(format!(
                "WeChat Pay holds no transaction with attach={:?}: the backend does not put \
                 the business order number in `attach`, so per-order provider counts cannot \
                 be read",
                order.order_no
            )));
        }
        Ok(list)
    }

    /// Sends `n` creates at once (`key_for(i)` each), the order's own fingerprint.
    async fn parallel(
        &self,
        order: &Order,
        n: usize,
        key_for: impl Fn(usize) -> String,
    ) -> Result<Vec<Reply>, Verdict> {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let backend = self.backend.clone();
            let order = order.clone();
            let key = key_for(i);
            tasks.spawn(async move { backend.create(&order, &key, &order.fingerprint).await });
        }
        let mut replies = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let reply = joined.map_err(|e| fail(format!("a create task failed: {e}")))??;
            replies.push(reply);
        }
        Ok(replies)
    }

    /// Sends `request` until its reply is no longer `409 in_progress`, waiting `Retry-After`
    /// (0.2 to 2 s) in between, as the guard does; gives up after 30 tries with the last reply.
    async fn settled<F, Fut>(&self, request: F) -> Result<Reply, Verdict>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Reply, KitError>>,
    {
        let mut reply = request().await?;
        for _ in 0..30 {
            if !(reply.status == 409 && reply.error_code() == Some("in_progress")) {
                break;
            }
            let secs = reply
                .retry_after
                .as_deref()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(1.0)
                .clamp(0.2, 2.0);
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            reply = request().await?;
        }
        Ok(reply)
    }

    /// How long until `attempt`'s prepay expires on the server's clock; `n/a` when that is
    /// longer than the kit may wait.
    fn expiry_wait(&self, attempt: &Attempt) -> Result<Duration, Verdict> {
        let Some(expires_at) = attempt.expires_at else {
            return Err(Verdict::NotApplicable(
                "the attempt carries no expiresAt, so its expiry cannot be timed".into(),
            ));
        };
        let left = expires_at.saturating_sub(attempt.now).max(0);
        let left = Duration::from_millis(left.unsigned_abs());
        if left > self.options.max_expiry_wait {
            return Err(Verdict::NotApplicable(format!(
                "prepays live {:.0} s here, longer than --max-expiry-wait ({} s): start the \
                 backend with a prepay lifetime of a few seconds (reference server: \
                 --prepay-ttl-ms 4000 --reuse-margin-ms 0; simulator: --min-time-expire-ms 0)",
                left.as_secs_f64(),
                self.options.max_expiry_wait.as_secs()
            )));
        }
        Ok(left + Duration::from_millis(400))
    }
}

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    let mut cases = vec![
        Case {
            id: "status_none",
            rule: "§2 states",
            title: "a new order's status is `none`",
            run: |k| Box::pin(status_none(k)),
        },
        Case {
            id: "create_attempt",
            rule: "§1 replies",
            title: "a new key creates an attempt: 201, the attempt body, reused false, now",
            run: |k| Box::pin(create_attempt(k)),
        },
        Case {
            id: "idempotent_replay",
            rule: "§1 rule 1",
            title: "same key + same fingerprint returns the stored reply (200)",
            run: |k| Box::pin(idempotent_replay(k)),
        },
        Case {
            id: "key_reused",
            rule: "§1 rule 1",
            title: "same key + other fingerprint is 422 key_reused",
            run: |k| Box::pin(key_reused(k)),
        },
        Case {
            id: "parallel_same_key",
            rule: "§1 rule 1",
            title: "parallel creates with one key: one attempt, the rest 200 or 409 in_progress",
            run: |k| Box::pin(parallel_same_key(k)),
        },
        Case {
            id: "parallel_fresh_keys",
            rule: "§1 rule 2",
            title: "parallel creates with as many keys: one live attempt (also for keys re-sent after in_progress), one prepay call",
            run: |k| Box::pin(parallel_fresh_keys(k)),
        },
        Case {
            id: "reuse_live_attempt",
            rule: "§1 rule 2",
            title: "a new key gets the live attempt (200, reused true), no second prepay call",
            run: |k| Box::pin(reuse_live_attempt(k)),
        },
        Case {
            id: "reuse_asks_provider_first",
            rule: "§1 rule 2",
            title: "a paid attempt whose notify is lost is answered 409 already_paid, not reused",
            run: |k| Box::pin(reuse_asks_provider_first(k)),
        },
        Case {
            id: "content_change_closes_first",
            rule: "§1 rule 3",
            title: "a content change closes the live attempt at the provider before it is accepted",
            run: |k| Box::pin(content_change_closes_first(k)),
        },
        Case {
            id: "content_change_cannot_close",
            rule: "§1 rule 3",
            title: "a content change while the provider cannot close is 409 attempt_open; accepted once it can",
            run: |k| Box::pin(content_change_cannot_close(k)),
        },
        Case {
            id: "expired_replaced_after_close",
            rule: "§1 rule 3",
            title: "an expired attempt is closed at the provider before a new number replaces it",
            run: |k| Box::pin(expired_replaced_after_close(k)),
        },
        Case {
            id: "expired_closed_after_close",
            rule: "§2 rule 1",
            title: "an expired prepay is `closed` only after the close at the provider",
            run: |k| Box::pin(expired_closed_after_close(k)),
        },
        Case {
            id: "lost_create_closed_first",
            rule: "§2 rule 1",
            title: "a create whose provider reply was lost is closed before it is replaced",
            run: |k| Box::pin(lost_create_closed_first(k)),
        },
        Case {
            id: "paid_is_final",
            rule: "§1 rule 4",
            title: "once paid, every create is 409 already_paid (stored key too), status paid",
            run: |k| Box::pin(paid_is_final(k)),
        },
        Case {
            id: "fingerprint_mismatch",
            rule: "§1 rule 6",
            title: "a fingerprint other than the order's is 422 fingerprint_mismatch",
            run: |k| Box::pin(fingerprint_mismatch(k)),
        },
        Case {
            id: "status_unpaid",
            rule: "§2 states",
            title: "`unpaid` names the attempt, fingerprint, prepay and expiresAt",
            run: |k| Box::pin(status_unpaid(k)),
        },
        Case {
            id: "status_paying",
            rule: "§2 states",
            title: "a buyer paying at the provider (USERPAYING) shows as `paying`",
            run: |k| Box::pin(status_paying(k)),
        },
        Case {
            id: "status_failed",
            rule: "§2 states",
            title: "a payment failed at the provider (PAYERROR) shows as `failed`",
            run: |k| Box::pin(status_failed(k)),
        },
        Case {
            id: "prefer_wait_held",
            rule: "§2 rule 3",
            title: "Prefer: wait holds an unpaid status and answers Preference-Applied",
            run: |k| Box::pin(prefer_wait_held(k)),
        },
        Case {
            id: "prefer_wait_released",
            rule: "§2 rule 3",
            title: "a held status is released by the payment, answering `paid`",
            run: |k| Box::pin(prefer_wait_released(k)),
        },
        Case {
            id: "provider_busy_retry_after",
            rule: "§2 rule 4",
            title:
                "a provider 503/429 gives 5xx (429/503 with Retry-After); the same key then works",
            run: |k| Box::pin(provider_busy_retry_after(k)),
        },
        Case {
            id: "key_bare_token",
            rule: "§1 request",
            title: "a bare key (no quotes) is accepted and is the same key as the quoted one",
            run: |k| Box::pin(key_bare_token(k)),
        },
        Case {
            id: "malformed_keys",
            rule: "§1 rule 1",
            title: "missing or malformed keys are 400 invalid_idempotency_key",
            run: |k| Box::pin(malformed_keys(k)),
        },
        Case {
            id: "malformed_bodies",
            rule: "§1 replies",
            title: "malformed bodies are 400 invalid_body",
            run: |k| Box::pin(malformed_bodies(k)),
        },
        Case {
            id: "unknown_order",
            rule: "§2 rule 5",
            title: "create and status of an unknown order are 404 unknown_order",
            run: |k| Box::pin(unknown_order(k)),
        },
        Case {
            id: "lost_notify_active_query",
            rule: "§2 rule 2",
            title: "a payment whose notify is lost still turns the status `paid`",
            run: |k| Box::pin(lost_notify_active_query(k)),
        },
        Case {
            id: "duplicate_notify",
            rule: "§3",
            title: "a notify delivered twice is acknowledged twice and changes nothing",
            run: |k| Box::pin(duplicate_notify(k)),
        },
        Case {
            id: "submit_idempotent",
            rule: "§4 rule 1",
            title: "a submission: 201 and the order body; the same key + content again, the same order (200, reused)",
            run: |k| Box::pin(submit_idempotent(k)),
        },
        Case {
            id: "submit_key_reused",
            rule: "§4 rule 1",
            title: "a submission key sent again with other content is 422 key_reused",
            run: |k| Box::pin(submit_key_reused(k)),
        },
        Case {
            id: "submit_parallel",
            rule: "§4 rule 2",
            title: "parallel submissions of one content (one key and fresh keys) make one order",
            run: |k| Box::pin(submit_parallel(k)),
        },
    ];
    cases.extend(crate::guard::cases());
    cases.extend([
        Case {
            id: "retry_after_everywhere",
            rule: "§2 rule 4",
            title: "every 429, 503 and 409 in_progress seen in the run carried Retry-After",
            run: |k| Box::pin(retry_after_everywhere(k)),
        },
        Case {
            id: "error_body_shape",
            rule: "errors",
            title: "every error seen in the run had {\"error\": code, \"message\": text}",
            run: |k| Box::pin(error_body_shape(k)),
        },
        Case {
            id: "never_charged_twice",
            rule: "promise",
            title: "no order of the run was charged twice or left two payable numbers",
            run: |k| Box::pin(never_charged_twice(k)),
        },
    ]);
    cases
}

async fn status_none(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let status = kit.status(&order).await?;
    ensure(status.status == "none", || {
        format!("a new order's status is {:?}", status.status)
    })
}

async fn create_attempt(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let attempt = kit.attempt(&order, &new_key()).await?;
    ensure(attempt.status == 201, || {
        format!("a new attempt answered {}, not 201", attempt.status)
    })?;
    ensure(!attempt.reused, || "a new attempt says reused: true".into())?;
    attempt.wallet()?;
    Ok(())
}

/// `body` without `now`, which is the clock of each reply (also a stored one sent again).
fn without_now(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("now");
    }
    body
}

async fn idempotent_replay(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let key = new_key();
    let first = kit.attempt(&order, &key).await?;
    let again = kit.attempt(&order, &key).await?;
    ensure(again.status == 200, || {
        format!("the same key again answered {}, not 200", again.status)
    })?;
    ensure(without_now(&again.body) == without_now(&first.body), || {
        format!(
            "the same key again is not the stored reply: first {}, then {}",
            first.body, again.body
        )
    })
}

async fn key_reused(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let key = new_key();
    kit.attempt(&order, &key).await?;
    let reply = kit
        .backend
        .create(&order, &key, &foreign_fingerprint())
        .await?;
    ensure(
        reply.status == 422 && reply.error_code() == Some("key_reused"),
        || format!("same key, other fingerprint: {}", reply.summary()),
    )
}

/// Checks parallel replies: exactly one `201`, every `2xx` the same attempt, the others
/// `409 in_progress`; the attempt.
fn one_attempt(kit_order: &Order, replies: &[Reply]) -> Result<Attempt, Verdict> {
    let mut created = 0;
    let mut attempt: Option<Attempt> = None;
    for reply in replies {
        match reply.status {
            200 | 201 => {
                let a = check_attempt(reply, kit_order, &kit_order.fingerprint).map_err(fail)?;
                if reply.status == 201 {
                    created += 1;
                }
                if let Some(seen) = &attempt {
                    if seen.attempt_id != a.attempt_id {
                        return Err(fail(format!(
                            "two attempts for one order: {} and {}",
                            seen.attempt_id, a.attempt_id
                        )));
                    }
                } else {
                    attempt = Some(a);
                }
            }
            409 if reply.error_code() == Some("in_progress") => {}
            _ => {
                return Err(fail(format!(
                    "a parallel create answered {}",
                    reply.summary()
                )))
            }
        }
    }
    if created != 1 {
        return Err(fail(format!("{created} creates answered 201, expected 1")));
    }
    attempt.ok_or_else(|| fail("no create got an attempt"))
}

async fn one_number_at_provider(kit: &Kit, order: &Order, attempt: &Attempt) -> Outcome {
    let numbers = kit.numbers(order).await?;
    let ids: Vec<&str> = numbers.iter().map(|t| t.out_trade_no.as_str()).collect();
    ensure(ids == [attempt.attempt_id.as_str()], || {
        format!(
            "WeChat Pay holds {ids:?} for the order, expected only {}",
            attempt.attempt_id
        )
    })?;
    let stats = kit.sim.stats(&order.order_no).await?;
    ensure(stats.prepay_calls == 1, || {
        format!(
            "WeChat Pay received {} prepay calls, expected 1",
            stats.prepay_calls
        )
    })
}

async fn parallel_same_key(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let key = new_key();
    let replies = kit
        .parallel(&order, kit.options.parallel, |_| key.clone())
        .await?;
    let attempt = one_attempt(&order, &replies)?;
    let again = kit.attempt(&order, &key).await?;
    ensure(again.attempt_id == attempt.attempt_id, || {
        format!(
            "afterwards the key answers {}, not {}",
            again.attempt_id, attempt.attempt_id
        )
    })?;
    one_number_at_provider(kit, &order, &attempt).await
}

async fn parallel_fresh_keys(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let keys: Vec<String> = (0..kit.options.parallel).map(|_| new_key()).collect();
    let replies = kit
        .parallel(&order, keys.len(), |i| keys[i].clone())
        .await?;
    let attempt = one_attempt(&order, &replies)?;
    // As the guard does, keys answered `in_progress` are re-sent (a few, one after another,
    // well within the prepay's lifetime): whatever the key, the one live attempt is the answer
    // (rule 2), never a new number.
    let waiting = keys
        .iter()
        .zip(&replies)
        .filter(|(_, reply)| reply.status == 409)
        .map(|(key, _)| key)
        .take(3);
    for key in waiting {
        let reply = kit
            .settled(|| kit.backend.create(&order, key, &order.fingerprint))
            .await?;
        let again = check_attempt(&reply, &order, &order.fingerprint).map_err(fail)?;
        if attempt.expires_at.is_some_and(|at| again.now >= at) {
            // The live attempt expired meanwhile (a very slow run): a new number is right.
            break;
        }
        ensure(
            again.attempt_id == attempt.attempt_id && again.status == 200,
            || {
                format!(
                    "a key re-sent after in_progress got {} {}, not 200 with the live {}",
                    again.status, again.attempt_id, attempt.attempt_id
                )
            },
        )?;
    }
    one_number_at_provider(kit, &order, &attempt).await
}

async fn reuse_live_attempt(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let first = kit.attempt(&order, &new_key()).await?;
    let second = kit.attempt(&order, &new_key()).await?;
    ensure(second.status == 200 && second.reused, || {
        format!(
            "a new key answered {} reused={}, expected 200 reused=true",
            second.status, second.reused
        )
    })?;
    ensure(second.attempt_id == first.attempt_id, || {
        format!(
            "a new key got {}, not the live {}",
            second.attempt_id, first.attempt_id
        )
    })?;
    ensure(second.prepay == first.prepay, || {
        "the reused attempt's prepay differs from the live one's".into()
    })?;
    one_number_at_provider(kit, &order, &first).await
}

async fn reuse_asks_provider_first(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let attempt = kit.attempt(&order, &new_key()).await?;
    kit.pay(&attempt, Some("notify=lost")).await?;
    let reply = kit
        .backend
        .create(&order, &new_key(), &order.fingerprint)
        .await?;
    ensure(
        reply.status == 409 && reply.error_code() == Some("already_paid"),
        || {
            format!(
                "a paid-but-not-notified attempt was answered {} (the provider was not asked first)",
                reply.summary()
            )
        },
    )?;
    kit.charges_are(&order, 1).await
}

async fn content_change_closes_first(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let old = kit.attempt(&order, &new_key()).await?;
    let changed = kit
        .options
        .orders
        .change(kit.backend.client(), &order, 2999)
        .await?;
    let new_fingerprint = match changed {
        Changed::Done(fp) => fp,
        Changed::Unsupported(why) => return Err(Verdict::NotApplicable(why)),
        Changed::Refused { status, text, .. } => {
            return Err(fail(format!(
                "the change was refused with {status} though the provider could close: {text}"
            )))
        }
    };
    ensure(new_fingerprint != order.fingerprint, || {
        "the changed order kept its fingerprint".into()
    })?;
    let closes = kit.sim.stats_of(&old.attempt_id).await?.closes;
    ensure(closes >= 1, || {
        format!(
            "the change was accepted but {} was never closed at WeChat Pay",
            old.attempt_id
        )
    })?;
    let paid = kit.wallet(&old, "confirm", None).await?;
    ensure(paid != 200, || {
        format!(
            "the old prepay of {} could still be paid after the change",
            old.attempt_id
        )
    })?;
    let changed = Order {
        fingerprint: new_fingerprint.clone(),
        ..order.clone()
    };
    let reply = kit
        .backend
        .create(&changed, &new_key(), &new_fingerprint)
        .await?;
    let new = check_attempt(&reply, &changed, &new_fingerprint).map_err(fail)?;
    ensure(new.attempt_id != old.attempt_id, || {
        "the new content got the old merchant payment number".into()
    })?;
    kit.charges_are(&order, 0).await
}

async fn content_change_cannot_close(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let old = kit.attempt(&order, &new_key()).await?;
    // WeChat Pay fails every close of this attempt (and only of it) while the change is tried.
    let close_path = format!("/v3/pay/transactions/out-trade-no/{}/close", old.attempt_id);
    kit.sim
        .fault("status=503", &close_path, Some("POST"), 1000)
        .await?;
    let refused = kit
        .options
        .orders
        .change(kit.backend.client(), &order, 2999)
        .await;
    kit.sim.clear_faults().await?;
    let refused = refused?;
    let retry_after = match &refused {
        Changed::Unsupported(why) => return Err(Verdict::NotApplicable(why.clone())),
        Changed::Done(_) => {
            return Err(fail(format!(
                "the change was accepted though WeChat Pay could not close {}",
                old.attempt_id
            )))
        }
        Changed::Refused {
            status,
            text,
            retry_after,
        } => {
            ensure(
                *status == 409 && refused.error_code().as_deref() == Some("attempt_open"),
                || {
                    format!(
                        "while WeChat Pay could not close, the change was refused with {status} \
                         {text}, not 409 attempt_open"
                    )
                },
            )?;
            retry_after.clone()
        }
    };
    if kit.options.orders.speaks_http() {
        ensure(
            retry_after
                .as_deref()
                .is_some_and(|v| v.trim().parse::<u64>().is_ok()),
            || "409 attempt_open without a Retry-After in seconds".into(),
        )?;
    }
    // The provider can close again: the same change is accepted, and only after the close.
    let changed = kit
        .options
        .orders
        .change(kit.backend.client(), &order, 2999)
        .await?;
    match changed {
        Changed::Done(fingerprint) => ensure(fingerprint != order.fingerprint, || {
            "the changed order kept its fingerprint".into()
        })?,
        other => {
            return Err(fail(format!(
                "once WeChat Pay could close again the change was not accepted: {other:?}"
            )))
        }
    }
    let closes = kit.sim.stats_of(&old.attempt_id).await?.closes;
    ensure(closes >= 1, || {
        format!(
            "the change was accepted but {} was never closed at WeChat Pay",
            old.attempt_id
        )
    })?;
    kit.charges_are(&order, 0).await
}

async fn expired_replaced_after_close(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let old = kit.attempt(&order, &new_key()).await?;
    tokio::time::sleep(kit.expiry_wait(&old)?).await;
    // No status request first: the create itself must close before it replaces.
    let new = kit.attempt(&order, &new_key()).await?;
    ensure(new.attempt_id != old.attempt_id, || {
        format!("an expired attempt {} was handed out again", old.attempt_id)
    })?;
    let closes = kit.sim.stats_of(&old.attempt_id).await?.closes;
    ensure(closes >= 1, || {
        format!(
            "{} replaced {} without closing it at WeChat Pay",
            new.attempt_id, old.attempt_id
        )
    })
}

async fn expired_closed_after_close(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let old = kit.attempt(&order, &new_key()).await?;
    tokio::time::sleep(kit.expiry_wait(&old)?).await;
    let status = kit.status(&order).await?;
    ensure(status.status == "closed", || {
        format!(
            "after its expiresAt the status is {:?}, expected closed",
            status.status
        )
    })?;
    ensure(
        status.attempt_id.as_deref() == Some(old.attempt_id.as_str()),
        || {
            format!(
                "closed names {:?}, not {}",
                status.attempt_id, old.attempt_id
            )
        },
    )?;
    let closes = kit.sim.stats_of(&old.attempt_id).await?.closes;
    ensure(closes >= 1, || {
        format!(
            "answered closed, but {} was never closed at WeChat Pay",
            old.attempt_id
        )
    })
}

async fn lost_create_closed_first(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let key = new_key();
    kit.sim.fault_creates("drop-reply", 1).await?;
    let first = kit.backend.create(&order, &key, &order.fingerprint).await;
    kit.sim.clear_faults().await?;
    if let Ok(reply) = &first {
        ensure(!(200..300).contains(&reply.status), || {
            format!(
                "answered {} though WeChat Pay's reply to the create was lost",
                reply.status
            )
        })?;
    }
    let attempt = kit.attempt(&order, &key).await?;
    let numbers = kit.numbers(&order).await?;
    let payable: Vec<&str> = numbers
        .iter()
        .filter(|t| t.payable)
        .map(|t| t.out_trade_no.as_str())
        .collect();
    ensure(payable == [attempt.attempt_id.as_str()], || {
        format!(
            "payable at WeChat Pay: {payable:?}; expected only {} (the lost create's number must be closed before another replaces it)",
            attempt.attempt_id
        )
    })
}

async fn paid_is_final(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let key = new_key();
    let attempt = kit.attempt(&order, &key).await?;
    kit.pay(&attempt, None).await?;
    let paid = kit
        .wait_for(&order, "paid", kit.options.settle_timeout)
        .await?;
    ensure(
        paid.attempt_id.as_deref() == Some(attempt.attempt_id.as_str()),
        || {
            format!(
                "paid names {:?}, not {}",
                paid.attempt_id, attempt.attempt_id
            )
        },
    )?;
    for (what, key) in [("the stored key", key), ("a new key", new_key())] {
        let reply = kit.backend.create(&order, &key, &order.fingerprint).await?;
        ensure(
            reply.status == 409 && reply.error_code() == Some("already_paid"),
            || format!("{what} after payment answered {}", reply.summary()),
        )?;
    }
    let again = kit.status(&order).await?;
    ensure(again.status == "paid", || {
        format!("then the status is {:?}", again.status)
    })?;
    kit.charges_are(&order, 1).await
}

async fn fingerprint_mismatch(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let reply = kit
        .backend
        .create(&order, &new_key(), &foreign_fingerprint())
        .await?;
    ensure(
        reply.status == 422 && reply.error_code() == Some("fingerprint_mismatch"),
        || format!("a foreign fingerprint answered {}", reply.summary()),
    )?;
    let stats = kit.sim.stats(&order.order_no).await?;
    ensure(stats.prepay_calls == 0, || {
        "a prepay was asked for content the server does not hold".into()
    })
}

async fn status_unpaid(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let attempt = kit.attempt(&order, &new_key()).await?;
    let status = kit.status(&order).await?;
    ensure(status.status == "unpaid", || {
        format!("after a create the status is {:?}", status.status)
    })?;
    ensure(
        status.attempt_id.as_deref() == Some(attempt.attempt_id.as_str()),
        || {
            format!(
                "unpaid names {:?}, not {}",
                status.attempt_id, attempt.attempt_id
            )
        },
    )?;
    ensure(
        status.body.get("fingerprint").and_then(Value::as_str) == Some(order.fingerprint.as_str()),
        || "unpaid names another fingerprint".into(),
    )?;
    ensure(status.body.get("prepay") == Some(&attempt.prepay), || {
        "unpaid carries another prepay than the attempt's".into()
    })
}

async fn status_after_wallet(kit: &Kit, action: &str, want: &str) -> Outcome {
    let order = kit.order().await?;
    let attempt = kit.attempt(&order, &new_key()).await?;
    let code = kit.wallet(&attempt, action, None).await?;
    ensure(code == 200, || {
        format!("the wallet refused {action}: {code}")
    })?;
    let status = kit
        .wait_for(&order, want, kit.options.settle_timeout)
        .await?;
    ensure(
        status.attempt_id.as_deref() == Some(attempt.attempt_id.as_str()),
        || {
            format!(
                "{want} names {:?}, not {}",
                status.attempt_id, attempt.attempt_id
            )
        },
    )
}

async fn status_paying(kit: &Kit) -> Outcome {
    status_after_wallet(kit, "start", "paying").await
}

async fn status_failed(kit: &Kit) -> Outcome {
    status_after_wallet(kit, "fail", "failed").await
}

/// `Preference-Applied: wait=<n>` read; `None` when absent.
fn applied_wait(reply: &Reply) -> Result<Option<u64>, Verdict> {
    let Some(value) = &reply.preference_applied else {
        return Ok(None);
    };
    value
        .trim()
        .strip_prefix("wait=")
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| fail(format!("Preference-Applied is {value:?}, not wait=<n>")))
}

async fn prefer_wait_held(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    kit.attempt(&order, &new_key()).await?;
    let reply = kit.backend.status(&order, Some(2)).await?;
    let status = check_status(&reply, &order).map_err(fail)?;
    let applied = applied_wait(&reply)?;
    let Some(n) = applied else {
        return if reply.elapsed < Duration::from_millis(1500) {
            Err(Verdict::NotApplicable(
                "the backend ignores Prefer (allowed: the guard then polls)".into(),
            ))
        } else {
            Err(fail("the reply was held but carries no Preference-Applied"))
        };
    };
    ensure(n <= 2, || {
        format!("Preference-Applied: wait={n} for wait=2")
    })?;
    let held = reply.elapsed >= Duration::from_millis(n.saturating_mul(1000).saturating_sub(500));
    ensure(held || status.status != "unpaid", || {
        format!(
            "Preference-Applied: wait={n}, but an unpaid status came back after {} ms",
            reply.elapsed.as_millis()
        )
    })
}

async fn prefer_wait_released(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let attempt = kit.attempt(&order, &new_key()).await?;
    let backend = kit.backend.clone();
    let waiting = order.clone();
    let held = tokio::spawn(async move { backend.status(&waiting, Some(20)).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    kit.pay(&attempt, None).await?;
    let reply = held
        .await
        .map_err(|e| fail(format!("the long-poll task failed: {e}")))??;
    let status = check_status(&reply, &order).map_err(fail)?;
    if applied_wait(&reply)?.is_none() && status.status == "unpaid" {
        return Err(Verdict::NotApplicable(
            "the backend ignores Prefer (allowed: the guard then polls)".into(),
        ));
    }
    ensure(status.status == "paid", || {
        format!(
            "the held status came back {:?} after {} ms, not paid",
            status.status,
            reply.elapsed.as_millis()
        )
    })?;
    ensure(reply.elapsed < kit.options.settle_timeout, || {
        format!("released only after {} ms", reply.elapsed.as_millis())
    })
}

fn retry_after_ok(reply: &Reply) -> bool {
    reply
        .retry_after
        .as_deref()
        .is_some_and(|v| v.trim().parse::<u64>().is_ok())
}

async fn provider_busy_retry_after(kit: &Kit) -> Outcome {
    let mut checked = 0;
    for spec in ["status=503", "status=429"] {
        let order = kit.order().await?;
        let key = new_key();
        kit.sim.fault_creates(spec, 20).await?;
        let reply = kit.backend.create(&order, &key, &order.fingerprint).await;
        kit.sim.clear_faults().await?;
        let reply = reply?;
        ensure(reply.status >= 500 || reply.status == 429, || {
            format!(
                "WeChat Pay answered {spec} to every create, the backend {}",
                reply.summary()
            )
        })?;
        if matches!(reply.status, 429 | 503) {
            checked += 1;
            ensure(retry_after_ok(&reply), || {
                format!("{} without a Retry-After in seconds", reply.summary())
            })?;
        }
        // Nothing usable was created: the same key now gets the attempt.
        let attempt = kit.attempt(&order, &key).await?;
        attempt.wallet()?;
    }
    if checked == 0 {
        return Err(Verdict::NotApplicable(
            "provider failures were answered with other 5xx codes (allowed); no 429/503 to check"
                .into(),
        ));
    }
    Ok(())
}

async fn key_bare_token(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let key = new_key();
    let body = json!({ "fingerprint": order.fingerprint }).to_string();
    let bare = kit
        .backend
        .create_raw(&order, &KeyHeader::Bare(key.clone()), &body)
        .await?;
    let bare = check_attempt(&bare, &order, &order.fingerprint)
        .map_err(|why| fail(format!("a bare key was not accepted: {why}")))?;
    let quoted = kit.attempt(&order, &key).await?;
    ensure(
        quoted.status == 200 && quoted.attempt_id == bare.attempt_id,
        || {
            format!(
                "the quoted form of the same key answered {} {}, not 200 {}",
                quoted.status, quoted.attempt_id, bare.attempt_id
            )
        },
    )
}

async fn malformed_keys(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let body = json!({ "fingerprint": order.fingerprint }).to_string();
    let keys = [
        ("no key", KeyHeader::Missing),
        ("15 characters", KeyHeader::Quoted("a".repeat(15))),
        ("65 characters", KeyHeader::Quoted("a".repeat(65))),
        (
            "a space",
            KeyHeader::Raw(format!("\"{} {}\"", "a".repeat(10), "b".repeat(10))),
        ),
        (
            "a dot",
            KeyHeader::Quoted(format!("{}.{}", "a".repeat(10), "b".repeat(10))),
        ),
        (
            "an open quote",
            KeyHeader::Raw(format!("\"{}", "a".repeat(32))),
        ),
        ("empty quotes", KeyHeader::Raw("\"\"".into())),
    ];
    let mut wrong = Vec::new();
    for (what, key) in keys {
        let reply = kit.backend.create_raw(&order, &key, &body).await?;
        if !(reply.status == 400 && reply.error_code() == Some("invalid_idempotency_key")) {
            wrong.push(format!("{what}: {}", reply.summary()));
        }
    }
    ensure(wrong.is_empty(), || wrong.join("; "))?;
    let stats = kit.sim.stats(&order.order_no).await?;
    ensure(stats.prepay_calls == 0, || {
        "a malformed key reached WeChat Pay".into()
    })
}

async fn malformed_bodies(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let bodies = [
        ("not JSON", "{\"fingerprint\": ".to_owned()),
        ("an array", "[]".to_owned()),
        ("no fingerprint", "{}".to_owned()),
        ("a number", "{\"fingerprint\": 7}".to_owned()),
        ("short hex", "{\"fingerprint\": \"abc123\"}".to_owned()),
    ];
    let mut wrong = Vec::new();
    for (what, body) in bodies {
        let reply = kit
            .backend
            .create_raw(&order, &KeyHeader::Quoted(new_key()), &body)
            .await?;
        if !(reply.status == 400 && reply.error_code() == Some("invalid_body")) {
            wrong.push(format!("{what}: {}", reply.summary()));
        }
    }
    ensure(wrong.is_empty(), || wrong.join("; "))
}

async fn unknown_order(kit: &Kit) -> Outcome {
    let order = Order {
        order_no: format!("CKnone{}", crate::random_token(12)),
        fingerprint: foreign_fingerprint(),
        buyer_token: None,
    };
    let create = kit
        .backend
        .create(&order, &new_key(), &order.fingerprint)
        .await?;
    let status = kit.backend.status(&order, None).await?;
    let mut wrong = Vec::new();
    for (what, reply) in [("create", &create), ("status", &status)] {
        if !(reply.status == 404 && reply.error_code() == Some("unknown_order")) {
            wrong.push(format!("{what}: {}", reply.summary()));
        }
    }
    ensure(wrong.is_empty(), || wrong.join("; "))
}

async fn lost_notify_active_query(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let attempt = kit.attempt(&order, &new_key()).await?;
    kit.pay(&attempt, Some("notify=lost")).await?;
    kit.wait_for(&order, "paid", kit.options.settle_timeout)
        .await?;
    kit.charges_are(&order, 1).await
}

async fn duplicate_notify(kit: &Kit) -> Outcome {
    let order = kit.order().await?;
    let attempt = kit.attempt(&order, &new_key()).await?;
    kit.pay(&attempt, Some("notify=dup")).await?;
    kit.wait_for(&order, "paid", kit.options.settle_timeout)
        .await?;
    // Both deliveries, then what they left.
    let started = Instant::now();
    let stats = loop {
        let stats = kit.sim.stats_of(&attempt.attempt_id).await?;
        if stats.notify_attempts >= 2 || started.elapsed() > Duration::from_secs(5) {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure(stats.notify_attempts >= 2, || {
        format!(
            "the simulator delivered {} notifies, expected 2",
            stats.notify_attempts
        )
    })?;
    ensure(stats.notifies_acknowledged >= 2, || {
        format!(
            "{} of {} deliveries acknowledged: a repeated notify must be acknowledged (and change nothing)",
            stats.notifies_acknowledged, stats.notify_attempts
        )
    })?;
    let status = kit.status(&order).await?;
    ensure(
        status.status == "paid"
            && status.attempt_id.as_deref() == Some(attempt.attempt_id.as_str()),
        || {
            format!(
                "after the repeat the status is {:?} {:?}",
                status.status, status.attempt_id
            )
        },
    )?;
    let reply = kit
        .backend
        .create(&order, &new_key(), &order.fingerprint)
        .await?;
    ensure(
        reply.status == 409 && reply.error_code() == Some("already_paid"),
        || format!("a create after the repeat answered {}", reply.summary()),
    )?;
    kit.charges_are(&order, 1).await
}

/// The content the submission cases send unless told (`{nonce}` replaced): the payment
/// center's shape (`docs/business-api.md`); another backend may need `--submit-content`.
pub const DEFAULT_SUBMIT_CONTENT: &str =
    r#"{"amount": 1999, "currency": "CNY", "description": "conformance", "nonce": "{nonce}"}"#;

/// A fresh buyer (the guard's `scope`): submission keys are scoped per buyer.
fn buyer() -> String {
    format!("kit-{}", crate::random_token(12))
}

/// One order content to submit (§4) for a buyer, and its fingerprint.
struct Submission {
    body: Value,
    fingerprint: String,
}

/// A submitted order's body (§4), checked.
struct Submitted {
    status: u16,
    order_no: String,
    reused: bool,
}

fn check_submitted(reply: &Reply, fingerprint: &str) -> Result<Submitted, String> {
    if !matches!(reply.status, 200 | 201) {
        return Err(format!(
            "expected 201/200 with an order, got {}",
            reply.summary()
        ));
    }
    let body = reply
        .json
        .as_ref()
        .filter(|v| v.is_object())
        .ok_or_else(|| format!("{}: the body is not a JSON object", reply.status))?;
    let order_no = body
        .get("orderNo")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("orderNo missing: {body}"))?;
    if body.get("fingerprint").and_then(Value::as_str) != Some(fingerprint) {
        return Err(format!("fingerprint is not the content's: {body}"));
    }
    if non_negative_int(body.get("expiresAt")).is_none() {
        return Err(format!("expiresAt is not a non-negative integer: {body}"));
    }
    let reused = body
        .get("reused")
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("reused is not a boolean: {body}"))?;
    if non_negative_int(body.get("now")).is_none() {
        return Err(format!("now (the server's clock) is missing: {body}"));
    }
    Ok(Submitted {
        status: reply.status,
        order_no: order_no.to_owned(),
        reused,
    })
}

impl Kit {
    /// A fresh order content, from `--submit-content` or the default, for `buyer`.
    fn submission(&self, buyer: &str) -> Result<Submission, Verdict> {
        let template = self
            .options
            .submit_content
            .as_deref()
            .unwrap_or(DEFAULT_SUBMIT_CONTENT);
        let text = template.replace("{nonce}", &crate::random_token(16));
        let content: Value = serde_json::from_str(&text)
            .map_err(|e| fail(format!("--submit-content is not JSON ({e}): {text}")))?;
        if !content.is_object() {
            return Err(fail("--submit-content is not a JSON object"));
        }
        let fingerprint = checkout_guard::core::fingerprint::fingerprint(&content)
            .map_err(|e| fail(format!("the content cannot be fingerprinted: {e:?}")))?
            .as_str()
            .to_owned();
        let body = json!({"content": content, "fingerprint": fingerprint, "buyer": buyer});
        Ok(Submission { body, fingerprint })
    }

    /// Submits `submission` with `key`, re-sent while `409 in_progress`.
    async fn submit(&self, submission: &Submission, key: &str) -> Result<Reply, Verdict> {
        self.settled(|| self.backend.submit(key, &submission.body))
            .await
    }

    /// The first submission of a case: `n/a` when the backend offers no submission (§4 is
    /// optional) or refuses the kit's default content as malformed.
    async fn first_submit(&self, submission: &Submission, key: &str) -> Result<Submitted, Verdict> {
        let reply = self.submit(submission, key).await?;
        if matches!(reply.status, 404 | 405) {
            return Err(Verdict::NotApplicable(format!(
                "the backend offers no order submission at POST {} ({}); §4 is optional \
                 (--submit-path if it is elsewhere)",
                self.backend.submit_url(),
                reply.status
            )));
        }
        if reply.status == 400 && self.options.submit_content.is_none() {
            return Err(Verdict::NotApplicable(format!(
                "the backend refused the kit's default content ({}): pass --submit-content \
                 with an order content it accepts",
                reply.summary()
            )));
        }
        let submitted = check_submitted(&reply, &submission.fingerprint).map_err(fail)?;
        ensure(submitted.status == 201 && !submitted.reused, || {
            format!(
                "a new key and new content answered {} reused={}, not 201 reused=false",
                submitted.status, submitted.reused
            )
        })?;
        Ok(submitted)
    }
}

async fn submit_idempotent(kit: &Kit) -> Outcome {
    let submission = kit.submission(&buyer())?;
    let key = new_key();
    let first = kit.first_submit(&submission, &key).await?;
    let reply = kit.submit(&submission, &key).await?;
    let again = check_submitted(&reply, &submission.fingerprint).map_err(fail)?;
    ensure(
        again.status == 200 && again.reused && again.order_no == first.order_no,
        || {
            format!(
                "the same key and content again answered {} reused={} {}, not 200 reused=true {}",
                again.status, again.reused, again.order_no, first.order_no
            )
        },
    )
}

async fn submit_key_reused(kit: &Kit) -> Outcome {
    let buyer = buyer();
    let submission = kit.submission(&buyer)?;
    let key = new_key();
    kit.first_submit(&submission, &key).await?;
    let other = kit.submission(&buyer)?;
    let reply = kit.submit(&other, &key).await?;
    ensure(
        reply.status == 422 && reply.error_code() == Some("key_reused"),
        || format!("the same key with other content: {}", reply.summary()),
    )
}

async fn submit_parallel(kit: &Kit) -> Outcome {
    let buyer = buyer();
    let submission = kit.submission(&buyer)?;
    // Probe first (n/a when there is no submission), with a content of its own.
    kit.first_submit(&kit.submission(&buyer)?, &new_key())
        .await?;
    let shared = new_key();
    let keys: Vec<String> = (0..kit.options.parallel)
        .map(|i| {
            if i % 2 == 0 {
                shared.clone()
            } else {
                new_key()
            }
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for key in keys {
        let backend = kit.backend.clone();
        let body = submission.body.clone();
        tasks.spawn(async move {
            let reply = backend.submit(&key, &body).await;
            (key, reply)
        });
    }
    let mut replies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (key, reply) = joined.map_err(|e| fail(format!("a submit task failed: {e}")))?;
        replies.push((key, reply?));
    }
    let mut orders = std::collections::BTreeSet::new();
    let mut created = 0;
    for (key, reply) in replies {
        // `in_progress` is re-sent with the same key, as the guard does.
        let reply = if reply.status == 409 && reply.error_code() == Some("in_progress") {
            kit.submit(&submission, &key).await?
        } else {
            reply
        };
        let submitted = check_submitted(&reply, &submission.fingerprint)
            .map_err(|why| fail(format!("a parallel submission: {why}")))?;
        if submitted.status == 201 {
            created += 1;
        }
        orders.insert(submitted.order_no);
    }
    ensure(orders.len() == 1, || {
        format!(
            "{} parallel submissions of one content made {} orders: {orders:?}",
            kit.options.parallel,
            orders.len()
        )
    })?;
    ensure(created == 1, || {
        format!("{created} submissions answered 201, expected 1")
    })
}

async fn retry_after_everywhere(kit: &Kit) -> Outcome {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for seen in kit.backend.seen() {
        let reply = &seen.reply;
        let needs = matches!(reply.status, 429 | 503)
            || (reply.status == 409 && reply.error_code() == Some("in_progress"));
        if needs {
            checked += 1;
            if !retry_after_ok(reply) {
                wrong.push(format!("{} → {}", seen.request, reply.summary()));
            }
        }
    }
    if checked == 0 {
        return Err(Verdict::NotApplicable(
            "no 429, 503 or 409 in_progress was seen in this run".into(),
        ));
    }
    ensure(wrong.is_empty(), || {
        format!("without Retry-After in seconds: {}", wrong.join("; "))
    })
}

async fn error_body_shape(kit: &Kit) -> Outcome {
    let mut wrong = Vec::new();
    for seen in kit.backend.seen() {
        let reply = &seen.reply;
        if !((400..500).contains(&reply.status) || reply.status == 503) {
            continue;
        }
        let ok = reply.json.as_ref().is_some_and(|body| {
            body.get("error")
                .and_then(Value::as_str)
                .is_some_and(|code| !code.is_empty())
                && body.get("message").is_some_and(Value::is_string)
        });
        if !ok {
            wrong.push(format!(
                "{} → {} {}",
                seen.request, reply.status, reply.text
            ));
        }
    }
    ensure(wrong.is_empty(), || {
        let shown: Vec<String> = wrong.iter().take(3).cloned().collect();
        format!(
            "{} error replies without the shape, e.g. {}",
            wrong.len(),
            shown.join("; ")
        )
    })
}

async fn never_charged_twice(kit: &Kit) -> Outcome {
    let mut wrong = Vec::new();
    for order_no in kit.made() {
        let list = kit.sim.transactions(&order_no).await?;
        let charged = list.iter().filter(|t| t.trade_state == "SUCCESS").count();
        let payable = list.iter().filter(|t| t.payable).count();
        if charged > 1 {
            wrong.push(format!("{order_no} charged {charged} times"));
        }
        if payable > 1 || (charged > 0 && payable > 0) {
            wrong.push(format!(
                "{order_no} has {payable} payable numbers ({charged} charged)"
            ));
        }
    }
    ensure(wrong.is_empty(), || wrong.join("; "))
}

/// Runs `check` against `kit`'s backend with a fresh order (for [`crate::guard`]).
pub async fn with_order<F, Fut>(kit: &Kit, check: F) -> Outcome
where
    F: FnOnce(Order) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let order = kit.order().await?;
    check(order).await
}

/// `charges_are` for the guard sequences.
pub async fn expect_charges(kit: &Kit, order: &Order, charges: u64) -> Outcome {
    kit.charges_are(order, charges).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_listed_once() {
        let mut ids: Vec<&str> = all().iter().map(|c| c.id).collect();
        let listed = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), listed, "a case id is listed twice");
    }
}
