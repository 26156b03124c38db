//! The real guard core (`checkout_guard::core::machine`) against the backend under test: a
//! small native shell performs the core's actions over HTTP (storage in a map, one tab, a
//! buyer scripted per sequence, the wallet at the simulator), as `server/tests/guard_native.rs`
//! does for the reference server. Each sequence is adversarial for the backend (many clicks,
//! provider failures, lost notifies, two devices without shared storage, a reload mid-payment)
//! and ends by reading WeChat Pay's own charge count: the promise, one charge per order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use checkout_guard::core::config::Config as GuardConfig;
use checkout_guard::core::contract::{Exchange, HttpReply, Method, Request};
use checkout_guard::core::fingerprint::Fingerprint;
use checkout_guard::core::ids::OrderNo;
use checkout_guard::core::machine::{
    Action, CallerId, Event, Guard, Input, LaunchResult, LockResult, Outcome, OutcomeStatus,
    PayError,
};
use checkout_guard::core::storage::StorageOp;
use checkout_guard::core::time::Millis;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::backend::Backend;
use crate::cases::{expect_charges, Case, Kit, Outcome as CaseOutcome};
use crate::orders::Order;
use crate::report::Verdict;
use crate::sim::{wallet_id, Sim};

const NAMESPACE: &str = "conformance";
const SCOPE: &str = "buyer-1";

/// What the buyer does when the wallet opens.
#[derive(Clone, Copy, Debug)]
enum Buyer {
    /// Confirms after this many ms (with the page's confirm fault); the launcher returns `ok`.
    ConfirmAfter(u64),
    /// Cancels; the launcher returns `cancelled`.
    Cancel,
    /// Never comes back (the page is killed before the wallet returns).
    Away,
}

fn now() -> Millis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Millis(ms)
}

fn fail(why: impl Into<String>) -> Verdict {
    Verdict::Fail(why.into())
}

/// One page: the guard, its storage, and the shell's bookkeeping.
struct Page {
    backend: Arc<Backend>,
    sim: Sim,
    order: Order,
    guard: Guard,
    storage: HashMap<String, String>,
    inbox: VecDeque<Input>,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
    buyer: Buyer,
    confirm_fault: Option<&'static str>,
    results: Vec<Result<Outcome, PayError>>,
    events: Vec<Event>,
    creates_sent: u32,
    next_caller: u64,
}

impl Page {
    fn new(
        kit: &Kit,
        order: &Order,
        storage: HashMap<String, String>,
        buyer: Buyer,
    ) -> Result<Page, Verdict> {
        let mut config = GuardConfig {
            scope: SCOPE.into(),
            create_retry_ms: 200,
            // Short prepay lifetimes (the expiry cases' setting) must still be launchable.
            expiry_margin_ms: 500,
            ..GuardConfig::default()
        };
        config.poll.long_poll_secs = 2;
        config.poll.max_duration_ms = 25_000;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| fail(format!("no entropy: {e}")))?;
        let guard = Guard::new(config, seed).map_err(|e| fail(format!("guard config: {e:?}")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Page {
            backend: kit.backend.clone(),
            sim: kit.sim.clone(),
            order: order.clone(),
            guard,
            storage,
            inbox: VecDeque::new(),
            tx,
            rx,
            buyer,
            confirm_fault: None,
            results: Vec::new(),
            events: Vec::new(),
            creates_sent: 0,
            next_caller: 0,
        })
    }

    fn ids(&self) -> Result<(OrderNo, Fingerprint), Verdict> {
        let order_no = OrderNo::parse(&self.order.order_no)
            .map_err(|e| fail(format!("the guard refuses the order number: {e:?}")))?;
        let fingerprint = Fingerprint::parse(&self.order.fingerprint)
            .ok_or_else(|| fail("the guard refuses the fingerprint (not 64 lowercase hex)"))?;
        Ok((order_no, fingerprint))
    }

    fn click(&mut self) -> Result<(), Verdict> {
        let (order_no, fingerprint) = self.ids()?;
        self.next_caller += 1;
        self.inbox.push_back(Input::Pay {
            order_no,
            fingerprint,
            caller: CallerId(self.next_caller),
        });
        self.drive();
        Ok(())
    }

    fn drive(&mut self) {
        while let Some(input) = self.inbox.pop_front() {
            self.guard.handle(input, now());
            while let Some(action) = self.guard.poll_action() {
                self.perform(action);
            }
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::AcquireTabLock { order_no, request } => self.inbox.push_back(Input::TabLock {
                order_no,
                request,
                result: LockResult::Acquired,
            }),
            stored @ (Action::LoadRecord { .. }
            | Action::Persist(_)
            | Action::Remove { .. }
            | Action::LoadSubmission { .. }
            | Action::PersistSubmission(_)
            | Action::RemoveSubmission { .. }) => {
                if let Some(input) = in_memory(&mut self.storage, stored, NAMESPACE, SCOPE) {
                    self.inbox.push_back(input);
                }
            }
            send @ (Action::SendCreate { .. } | Action::SendStatus { .. }) => {
                if matches!(send, Action::SendCreate { .. }) {
                    self.creates_sent += 1;
                }
                let Some(exchange) = Exchange::of(send, &self.backend.endpoints()) else {
                    return;
                };
                let mut extra = Vec::new();
                if let Some(token) = &self.order.buyer_token {
                    extra.push(("X-Buyer-Token".to_owned(), token.clone()));
                }
                let (client, tx) = (self.backend.client().clone(), self.tx.clone());
                tokio::spawn(async move {
                    let _ = tx.send(perform(&client, exchange, &extra).await);
                });
            }
            Action::Launch {
                order_no,
                request,
                prepay,
                ..
            } => {
                let wallet = wallet_id(&Value::Object(prepay.as_map())).unwrap_or_default();
                let sim = self.sim.clone();
                let tx = self.tx.clone();
                let buyer = self.buyer;
                let fault = self.confirm_fault;
                tokio::spawn(async move {
                    let (action, result, delay) = match buyer {
                        Buyer::ConfirmAfter(ms) => ("confirm", LaunchResult::Ok, ms),
                        Buyer::Cancel => ("cancel", LaunchResult::Cancelled, 0),
                        Buyer::Away => return,
                    };
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let _ = sim.wallet(&wallet, action, fault).await;
                    let _ = tx.send(Input::Launched {
                        order_no,
                        request,
                        result,
                    });
                });
            }
            Action::Resolve { result, callers } => {
                for _ in callers {
                    self.results.push(result.clone());
                }
            }
            Action::Emit(event) => self.events.push(event),
            // Submission (§4) is not what these sequences test; the UI and cross-tab actions
            // have nothing to do in a one-tab shell.
            Action::SendSubmit { .. }
            | Action::ResolveSubmit { .. }
            | Action::LockUi { .. }
            | Action::UnlockUi { .. }
            | Action::ReleaseTabLock { .. }
            | Action::Broadcast { .. } => {}
        }
    }

    /// Feeds replies and timers until `done` holds; a fail after 40 s.
    async fn run_until(&mut self, done: impl Fn(&Page) -> bool) -> Result<(), Verdict> {
        let started = Instant::now();
        while !done(self) {
            if started.elapsed() > Duration::from_secs(40) {
                let last: Vec<String> = self
                    .events
                    .iter()
                    .rev()
                    .take(4)
                    .map(|e| format!("{e:?}"))
                    .collect();
                return Err(fail(format!(
                    "the guard did not finish in 40 s; last events: {}",
                    last.join(" | ")
                )));
            }
            let wait = self
                .guard
                .poll_timeout()
                .map(|at| Duration::from_millis(at.since(now())))
                .unwrap_or(Duration::from_secs(40));
            tokio::select! {
                input = self.rx.recv() => {
                    if let Some(input) = input {
                        self.inbox.push_back(input);
                    }
                }
                () = tokio::time::sleep(wait) => self.inbox.push_back(Input::TimerFired),
            }
            self.drive();
        }
        Ok(())
    }

    async fn run_until_resolved(&mut self, callers: usize) -> Result<(), Verdict> {
        self.run_until(|page| page.results.len() >= callers).await
    }

    /// Every outcome, or a fail naming the first error.
    fn statuses(&self) -> Result<Vec<OutcomeStatus>, Verdict> {
        self.results
            .iter()
            .map(|r| match r {
                Ok(outcome) => Ok(outcome.status),
                Err(e) => Err(fail(format!("the guard ended in error {e:?}"))),
            })
            .collect()
    }

    fn expect_all(&self, want: OutcomeStatus) -> CaseOutcome {
        let statuses = self.statuses()?;
        if statuses.iter().all(|s| *s == want) {
            Ok(())
        } else {
            Err(fail(format!(
                "outcomes {statuses:?}, expected all {want:?}"
            )))
        }
    }

    fn launched(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::LaunchStarted { .. }))
    }
}

/// Sends; `None` when no HTTP reply came (connection dropped, time-out).
/// Sends one of the core's requests as `core::contract` built it (with the page's `extra`
/// headers) and returns the core's input for what came back. Shared by every native shell
/// (this kit's, the payment center's tests).
pub async fn perform(
    client: &reqwest::Client,
    exchange: Exchange,
    extra: &[(String, String)],
) -> Input {
    let req = request_builder(client, &exchange.request.url, &exchange.request, extra);
    match read_reply(req).await {
        Some((status, retry, body)) => exchange.replied(&HttpReply {
            status,
            retry_after: retry.as_deref(),
            body: &body,
        }),
        None => exchange.lost(),
    }
}

/// Performs one of the core's six storage actions on a map (`core::storage` says which key and
/// what text) and returns the input a read answers with. Shared by every native shell.
pub fn in_memory(
    storage: &mut HashMap<String, String>,
    action: Action,
    namespace: &str,
    scope: &str,
) -> Option<Input> {
    match StorageOp::of(action, namespace, scope)? {
        StorageOp::Read(read) => {
            let stored = storage.get(&read.key).cloned();
            Some(read.answered(stored.as_deref()))
        }
        StorageOp::Write { key, value } => {
            storage.insert(key, value);
            None
        }
        StorageOp::Delete { key } => {
            storage.remove(&key);
            None
        }
    }
}

/// `request` to `url` (its own, or the same path on another instance) as reqwest sends it:
/// the page's `extra` headers first, then the contract's, which win.
pub fn request_builder(
    client: &reqwest::Client,
    url: &str,
    request: &Request,
    extra: &[(String, String)],
) -> reqwest::RequestBuilder {
    let mut req = match request.method {
        Method::Get => client.get(url),
        Method::Post => client.post(url),
    };
    for (name, value) in extra {
        req = req.header(name.as_str(), value.as_str());
    }
    for (name, value) in &request.headers {
        req = req.header(*name, value.as_str());
    }
    if let Some(body) = &request.body {
        req = req.body(body.clone());
    }
    req
}

/// Status, `Retry-After` and body text, or `None` when no whole reply came.
pub async fn read_reply(req: reqwest::RequestBuilder) -> Option<(u16, Option<String>, String)> {
    let response = req.send().await.ok()?;
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.ok()?;
    Some((status, retry, body))
}

/// The guard sequences, in the order they run.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "guard_many_clicks",
            rule: "promise, §1 rule 1",
            title: "guard: ten clicks make one create and one charge",
            run: |k| Box::pin(many_clicks(k)),
        },
        Case {
            id: "guard_provider_fails_then_pays",
            rule: "promise, §1 replies",
            title: "guard: the provider fails two creates; the same key then pays, one charge",
            run: |k| Box::pin(provider_fails_then_pays(k)),
        },
        Case {
            id: "guard_lost_notify",
            rule: "promise, §2 rule 2",
            title: "guard: a lost notify is found by polling; paid, one charge",
            run: |k| Box::pin(lost_notify(k)),
        },
        Case {
            id: "guard_cancel_then_pay",
            rule: "promise, §1 rule 2",
            title: "guard: cancel, then pay again with the same prepay; one prepay call",
            run: |k| Box::pin(cancel_then_pay(k)),
        },
        Case {
            id: "guard_two_devices",
            rule: "promise, §1 rule 2",
            title: "guard: two devices without shared storage both pay; one charge",
            run: |k| Box::pin(two_devices(k)),
        },
        Case {
            id: "guard_reload_while_paying",
            rule: "promise, §2 rule 2",
            title: "guard: reloaded after the buyer paid elsewhere; no create, paid, one charge",
            run: |k| Box::pin(reload_while_paying(k)),
        },
    ]
}

async fn many_clicks(kit: &Kit) -> CaseOutcome {
    let order = kit.order().await?;
    let mut page = Page::new(kit, &order, HashMap::new(), Buyer::ConfirmAfter(100))?;
    for _ in 0..10 {
        page.click()?;
    }
    page.run_until_resolved(10).await?;
    page.expect_all(OutcomeStatus::Paid)?;
    if page.creates_sent != 1 {
        return Err(fail(format!(
            "{} creates sent, expected 1",
            page.creates_sent
        )));
    }
    expect_charges(kit, &order, 1).await
}

async fn provider_fails_then_pays(kit: &Kit) -> CaseOutcome {
    let order = kit.order().await?;
    kit.sim.fault_creates("status=500", 2).await?;
    let mut page = Page::new(kit, &order, HashMap::new(), Buyer::ConfirmAfter(50))?;
    page.click()?;
    page.run_until_resolved(1).await?;
    page.expect_all(OutcomeStatus::Paid)?;
    let keys: Vec<String> = page
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CreateSent { key, .. } => Some(key.as_str().to_owned()),
            _ => None,
        })
        .collect();
    if keys.windows(2).any(|w| w[0] != w[1]) {
        return Err(fail(format!("the guard re-sent with other keys: {keys:?}")));
    }
    expect_charges(kit, &order, 1).await
}

async fn lost_notify(kit: &Kit) -> CaseOutcome {
    let order = kit.order().await?;
    let mut page = Page::new(kit, &order, HashMap::new(), Buyer::ConfirmAfter(50))?;
    page.confirm_fault = Some("notify=lost");
    page.click()?;
    page.run_until_resolved(1).await?;
    page.expect_all(OutcomeStatus::Paid)?;
    expect_charges(kit, &order, 1).await
}

async fn cancel_then_pay(kit: &Kit) -> CaseOutcome {
    let order = kit.order().await?;
    let mut page = Page::new(kit, &order, HashMap::new(), Buyer::Cancel)?;
    page.click()?;
    page.run_until_resolved(1).await?;
    page.expect_all(OutcomeStatus::Cancelled)?;
    page.buyer = Buyer::ConfirmAfter(50);
    page.click()?;
    page.run_until_resolved(2).await?;
    let statuses = page.statuses()?;
    if statuses.get(1) != Some(&OutcomeStatus::Paid) {
        return Err(fail(format!(
            "outcomes {statuses:?}, expected cancelled then paid"
        )));
    }
    let stats = kit.sim.stats(&order.order_no).await?;
    if stats.prepay_calls > 1 {
        return Err(fail(format!(
            "{} prepay calls: the live prepay was not reused",
            stats.prepay_calls
        )));
    }
    expect_charges(kit, &order, 1).await
}

async fn two_devices(kit: &Kit) -> CaseOutcome {
    let order = kit.order().await?;
    let mut phone = Page::new(kit, &order, HashMap::new(), Buyer::ConfirmAfter(300))?;
    let mut laptop = Page::new(kit, &order, HashMap::new(), Buyer::ConfirmAfter(300))?;
    phone.click()?;
    laptop.click()?;
    let (a, b) = tokio::join!(phone.run_until_resolved(1), laptop.run_until_resolved(1));
    a?;
    b?;
    phone.expect_all(OutcomeStatus::Paid)?;
    laptop.expect_all(OutcomeStatus::Paid)?;
    expect_charges(kit, &order, 1).await
}

async fn reload_while_paying(kit: &Kit) -> CaseOutcome {
    let order = kit.order().await?;
    // The first page launches the wallet and dies before the buyer comes back.
    let mut first = Page::new(kit, &order, HashMap::new(), Buyer::Away)?;
    first.click()?;
    first.run_until(Page::launched).await?;
    let storage = first.storage.clone();
    drop(first);
    // The buyer pays on the phone meanwhile, with the prepay the backend holds.
    let status = kit.status(&order).await?;
    let prepay = status
        .body
        .get("prepay")
        .cloned()
        .ok_or_else(|| fail("the launched attempt has no prepay in its status"))?;
    let wallet = wallet_id(&prepay).ok_or_else(|| fail("no wallet id in the prepay"))?;
    let paid = kit.sim.wallet(&wallet, "confirm", None).await?;
    if paid != 200 {
        return Err(fail(format!("the wallet refused the live prepay: {paid}")));
    }
    let mut second = Page::new(kit, &order, storage, Buyer::ConfirmAfter(0))?;
    second.click()?;
    second.run_until_resolved(1).await?;
    second.expect_all(OutcomeStatus::Paid)?;
    // A launch of the same prepay is allowed (the status may still say `unpaid` within the
    // backend's query interval): WeChat Pay refuses to charge it twice. A create is not.
    if second.creates_sent != 0 {
        return Err(fail(format!(
            "the reloaded page sent {} creates for an attempt already paid",
            second.creates_sent
        )));
    }
    expect_charges(kit, &order, 1).await
}
