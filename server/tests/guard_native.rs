//! The real guard core against the real backend: a small native shell performs the core's
//! actions over HTTP (storage in a map, one tab, a buyer scripted per test, paying in the
//! WeChat Pay simulator's wallet), so the two halves of the contract are proven together
//! without a browser. Every test ends by reading the charge count at the simulator.

mod common;

use checkout_guard::core::config::Config as GuardConfig;
use checkout_guard::core::contract::{Endpoints, Exchange};
use checkout_guard::core::fingerprint::{self, Fingerprint};
use checkout_guard::core::ids::OrderNo;
use checkout_guard::core::machine::{
    Action, CallerId, Event, Guard, Input, LaunchResult, LockResult, Outcome, OutcomeStatus,
    PayError, SubmitError, Submitted,
};
use checkout_guard::core::time::Millis;
use checkout_guard_conformance::guard::{in_memory, perform};
use common::{spawn, wallet_id, TestServer};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// What the buyer does when the wallet opens.
#[derive(Clone, Copy, Debug)]
enum Buyer {
    /// Confirms after this many ms; the launcher then returns `ok`.
    ConfirmAfter(u64),
    /// Cancels; the launcher returns `cancelled`.
    Cancel,
}

fn now() -> Millis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Millis(ms)
}

/// One page: the guard, its storage, and the shell's bookkeeping.
struct Page<'a> {
    server: &'a TestServer,
    guard: Guard,
    storage: HashMap<String, String>,
    inbox: VecDeque<Input>,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
    buyer: Buyer,
    /// `X-Fault` for the next create requests, one per request.
    create_faults: VecDeque<&'static str>,
    /// `X-Fault` for the buyer's wallet confirm.
    confirm_fault: Option<&'static str>,
    results: Vec<(CallerId, Result<Outcome, PayError>)>,
    events: Vec<Event>,
    creates_sent: u32,
    statuses_sent: u32,
    submits_sent: u32,
    submitted: Vec<(CallerId, Result<Submitted, SubmitError>)>,
    next_caller: u64,
}

impl<'a> Page<'a> {
    fn new(server: &'a TestServer, storage: HashMap<String, String>, buyer: Buyer) -> Page<'a> {
        let mut config = GuardConfig {
            scope: "buyer-1".into(),
            create_retry_ms: 50,
            ..GuardConfig::default()
        };
        config.poll.long_poll_secs = 2;
        config.poll.max_duration_ms = 20_000;
        let (tx, rx) = mpsc::unbounded_channel();
        Page {
            server,
            guard: Guard::new(config, rand_seed()).expect("valid config"),
            storage,
            inbox: VecDeque::new(),
            tx,
            rx,
            buyer,
            create_faults: VecDeque::new(),
            confirm_fault: None,
            results: Vec::new(),
            events: Vec::new(),
            creates_sent: 0,
            statuses_sent: 0,
            submits_sent: 0,
            submitted: Vec::new(),
            next_caller: 0,
        }
    }

    fn click(&mut self, order_no: &OrderNo, fingerprint: &Fingerprint) {
        self.next_caller += 1;
        self.inbox.push_back(Input::Pay {
            order_no: order_no.clone(),
            fingerprint: fingerprint.clone(),
            caller: CallerId(self.next_caller),
        });
        self.drive();
    }

    /// Submits the order form's `content` (`docs/contract.md` §4).
    fn submit(&mut self, content: &Value) {
        self.next_caller += 1;
        self.inbox.push_back(Input::Submit {
            content: fingerprint::canonicalize(content).expect("JSON content"),
            fingerprint: fingerprint::fingerprint(content).expect("JSON content"),
            caller: CallerId(self.next_caller),
        });
        self.drive();
    }

    /// Runs until `callers` submissions are answered (or 30 s pass).
    async fn run_until_submitted(&mut self, callers: usize) {
        self.run_until(|page| page.submitted.len() >= callers, "no order")
            .await
    }

    /// Feeds queued inputs and performs the resulting actions, in order.
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
                if let Some(input) = in_memory(&mut self.storage, stored, "test", "buyer-1") {
                    self.inbox.push_back(input);
                }
            }
            send @ (Action::SendCreate { .. }
            | Action::SendStatus { .. }
            | Action::SendSubmit { .. }) => {
                // `X-Fault` for the next create or submit requests, one per request.
                let fault = match &send {
                    Action::SendCreate { .. } => {
                        self.creates_sent += 1;
                        self.create_faults.pop_front()
                    }
                    Action::SendSubmit { .. } => {
                        self.submits_sent += 1;
                        self.create_faults.pop_front()
                    }
                    _ => {
                        self.statuses_sent += 1;
                        None
                    }
                };
                let Some(exchange) = Exchange::of(send, &Endpoints::under(&self.server.url)) else {
                    return;
                };
                let extra: Vec<(String, String)> = fault
                    .map(|f| ("X-Fault".to_owned(), f.to_owned()))
                    .into_iter()
                    .collect();
                let (client, tx) = (self.server.client.clone(), self.tx.clone());
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
                let prepay_id = wallet_id(&Value::Object(prepay.as_map()));
                let client = self.server.client.clone();
                let base = self.server.wallet_base().to_owned();
                let tx = self.tx.clone();
                let buyer = self.buyer;
                let fault = self.confirm_fault;
                tokio::spawn(async move {
                    let (action, result, delay) = match buyer {
                        Buyer::ConfirmAfter(ms) => ("confirm", LaunchResult::Ok, ms),
                        Buyer::Cancel => ("cancel", LaunchResult::Cancelled, 0),
                    };
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let mut req = client
                        .post(format!("{base}/sim/wallet/{prepay_id}/{action}"))
                        .header("Accept", "application/json");
                    if let Some(fault) = fault {
                        req = req.header("X-Fault", fault);
                    }
                    let _ = req.send().await;
                    let _ = tx.send(Input::Launched {
                        order_no,
                        request,
                        result,
                    });
                });
            }
            Action::Resolve { callers, result } => {
                for caller in callers {
                    self.results.push((caller, result.clone()));
                }
            }
            Action::Emit(event) => self.events.push(event),
            Action::ResolveSubmit { callers, result } => {
                for caller in callers {
                    self.submitted.push((caller, result.clone()));
                }
            }
            Action::LockUi { .. }
            | Action::UnlockUi { .. }
            | Action::ReleaseTabLock { .. }
            | Action::Broadcast { .. } => {}
        }
    }

    /// Runs until `callers` results are in (or 30 s pass), feeding replies and timers.
    async fn run_until_resolved(&mut self, callers: usize) {
        self.run_until(|page| page.results.len() >= callers, "no outcome")
            .await
    }

    /// Feeds replies and timers until `done` holds (or 30 s pass: `what`, with the events).
    async fn run_until(&mut self, done: impl Fn(&Page<'a>) -> bool, what: &str) {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{what}: {:#?}",
                self.events
            );
            let wait = self
                .guard
                .poll_timeout()
                .map(|at| Duration::from_millis(at.since(now())))
                .unwrap_or(Duration::from_secs(30));
            tokio::select! {
                input = self.rx.recv() => {
                    if let Some(input) = input {
                        self.inbox.push_back(input);
                    }
                }
                _ = tokio::time::sleep(wait) => self.inbox.push_back(Input::TimerFired),
            }
            self.drive();
        }
    }

    fn statuses(&self) -> Vec<OutcomeStatus> {
        self.results
            .iter()
            .map(|(_, r)| {
                r.as_ref()
                    .map(|o| o.status)
                    .expect("an outcome, not an error")
            })
            .collect()
    }
}

fn rand_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("entropy");
    seed
}

/// Sends; `None` when no HTTP reply came (connection dropped, time-out).
async fn new_order(server: &TestServer) -> (OrderNo, Fingerprint) {
    let (order_no, fingerprint) = server.simple_order().await;
    (
        OrderNo::parse(&order_no).expect("server order numbers are valid"),
        Fingerprint::parse(&fingerprint).expect("server fingerprints are valid"),
    )
}

async fn stats(server: &TestServer, order_no: &OrderNo) -> (u64, u64) {
    let stats: Value = server.stats(order_no.as_str()).await;
    (
        stats["attemptsCreated"].as_u64().expect("attempts"),
        stats["charges"].as_u64().expect("charges"),
    )
}

#[tokio::test]
async fn ten_clicks_make_one_attempt_and_one_charge() {
    let server = spawn().await;
    let (order_no, fingerprint) = new_order(&server).await;
    let mut page = Page::new(&server, HashMap::new(), Buyer::ConfirmAfter(100));
    for _ in 0..10 {
        page.click(&order_no, &fingerprint);
    }
    page.run_until_resolved(10).await;
    assert_eq!(page.statuses(), vec![OutcomeStatus::Paid; 10]);
    assert_eq!(page.creates_sent, 1);
    assert_eq!(stats(&server, &order_no).await, (1, 1));
}

#[tokio::test]
async fn a_create_reply_lost_after_commit_is_retried_with_the_same_key() {
    let server = spawn().await;
    let (order_no, fingerprint) = new_order(&server).await;
    let mut page = Page::new(&server, HashMap::new(), Buyer::ConfirmAfter(50));
    page.create_faults.push_back("drop-reply");
    page.create_faults.push_back("status=503");
    page.click(&order_no, &fingerprint);
    page.run_until_resolved(1).await;
    assert_eq!(page.statuses(), vec![OutcomeStatus::Paid]);
    assert_eq!(page.creates_sent, 3, "lost, 503, then the stored reply");
    let keys: Vec<_> = page
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CreateSent { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "one key: {keys:?}");
    assert_eq!(stats(&server, &order_no).await, (1, 1));
}

#[tokio::test]
async fn a_lost_notify_is_found_by_polling() {
    let server = spawn().await;
    let (order_no, fingerprint) = new_order(&server).await;
    let mut page = Page::new(&server, HashMap::new(), Buyer::ConfirmAfter(50));
    page.confirm_fault = Some("notify=lost");
    page.click(&order_no, &fingerprint);
    page.run_until_resolved(1).await;
    assert_eq!(page.statuses(), vec![OutcomeStatus::Paid]);
    assert_eq!(stats(&server, &order_no).await, (1, 1));
}

#[tokio::test]
async fn cancel_then_pay_again_reuses_the_prepay() {
    let server = spawn().await;
    let (order_no, fingerprint) = new_order(&server).await;
    let mut page = Page::new(&server, HashMap::new(), Buyer::Cancel);
    page.click(&order_no, &fingerprint);
    page.run_until_resolved(1).await;
    assert_eq!(page.statuses(), vec![OutcomeStatus::Cancelled]);
    let creates = page.creates_sent;
    page.buyer = Buyer::ConfirmAfter(50);
    page.click(&order_no, &fingerprint);
    page.run_until_resolved(2).await;
    assert_eq!(page.statuses()[1], OutcomeStatus::Paid);
    assert_eq!(
        page.creates_sent, creates,
        "no create: the stored prepay was reused"
    );
    assert!(page
        .events
        .iter()
        .any(|e| matches!(e, Event::PrepayReused { .. })));
    let stats: Value = server.stats(order_no.as_str()).await;
    assert_eq!(stats["prepayCalls"], 1, "{stats}");
    assert_eq!(stats["charges"], 1, "{stats}");
}

#[tokio::test]
async fn a_reload_while_paying_follows_the_same_attempt() {
    let server = spawn().await;
    let (order_no, fingerprint) = new_order(&server).await;
    // The first page launches the wallet and dies before the buyer confirms.
    let mut first = Page::new(&server, HashMap::new(), Buyer::ConfirmAfter(60_000));
    first.click(&order_no, &fingerprint);
    let started = Instant::now();
    while !first
        .events
        .iter()
        .any(|e| matches!(e, Event::LaunchStarted { .. }))
    {
        assert!(started.elapsed() < Duration::from_secs(10));
        if let Some(input) = first.rx.recv().await {
            first.inbox.push_back(input);
            first.drive();
        }
    }
    let storage = first.storage.clone();
    drop(first);
    // The buyer pays on the phone meanwhile; the reloaded page resumes and sees it.
    let dump = server.dump(order_no.as_str()).await;
    let prepay_id = wallet_id(&dump["attempts"][0]["prepay"]);
    server.wallet(&prepay_id, "confirm", None).await;
    let mut second = Page::new(&server, storage, Buyer::ConfirmAfter(0));
    second.click(&order_no, &fingerprint);
    second.run_until_resolved(1).await;
    assert_eq!(second.statuses(), vec![OutcomeStatus::Paid]);
    assert_eq!(second.creates_sent, 0, "asked the status, created nothing");
    assert!(!second
        .events
        .iter()
        .any(|e| matches!(e, Event::LaunchStarted { .. })));
    assert_eq!(stats(&server, &order_no).await, (1, 1));
}

#[tokio::test]
async fn a_changed_amount_is_paid_with_a_new_attempt_and_the_old_one_closed() {
    let server = spawn().await;
    let (order_no, fingerprint) = new_order(&server).await;
    let mut page = Page::new(&server, HashMap::new(), Buyer::Cancel);
    page.click(&order_no, &fingerprint);
    page.run_until_resolved(1).await;
    let new_fp = server
        .change_order(
            order_no.as_str(),
            json!({"amount": 2999, "currency": "CNY"}),
        )
        .await;
    let new_fp = Fingerprint::parse(&new_fp).expect("fingerprint");
    page.buyer = Buyer::ConfirmAfter(50);
    page.click(&order_no, &new_fp);
    page.run_until_resolved(2).await;
    assert_eq!(
        page.statuses(),
        vec![OutcomeStatus::Cancelled, OutcomeStatus::Paid]
    );
    let dump = server.dump(order_no.as_str()).await;
    let states: Vec<&str> = dump["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states.len(), 2, "{dump}");
    assert!(
        states.contains(&"closed") && states.contains(&"paid"),
        "{states:?}"
    );
    assert_eq!(stats(&server, &order_no).await, (2, 1));
}

/// The order number a page's `submit` was answered with.
fn submitted_order(page: &Page<'_>, index: usize) -> (OrderNo, bool) {
    match &page.submitted[index].1 {
        Ok(done) => (done.order_no.clone(), done.reused),
        Err(e) => panic!("submit failed: {e}"),
    }
}

#[tokio::test]
async fn a_double_submit_and_a_relaunch_make_one_order_and_one_charge() {
    let server = spawn().await;
    let content = json!({"amount": 1999, "currency": "CNY", "items": [{"sku": "tea", "qty": 1}]});
    let print = fingerprint::fingerprint(&content).expect("fingerprint");
    let mut page = Page::new(&server, HashMap::new(), Buyer::ConfirmAfter(50));
    page.submit(&content);
    page.submit(&content);
    page.run_until_submitted(2).await;
    assert_eq!(page.submits_sent, 1, "the double submit joined");
    let (order_no, _) = submitted_order(&page, 0);
    assert_eq!(submitted_order(&page, 1).0, order_no);
    page.click(&order_no, &print);
    page.run_until_resolved(1).await;
    assert_eq!(page.statuses(), vec![OutcomeStatus::Paid]);
    // The app is killed and launched again: the same cart is the same order, already paid.
    let mut relaunched = Page::new(&server, page.storage.clone(), Buyer::ConfirmAfter(50));
    relaunched.submit(&content);
    relaunched.run_until_submitted(1).await;
    assert_eq!(submitted_order(&relaunched, 0), (order_no.clone(), true));
    relaunched.click(&order_no, &print);
    relaunched.run_until_resolved(1).await;
    assert_eq!(relaunched.statuses(), vec![OutcomeStatus::Paid]);
    assert_eq!(relaunched.creates_sent, 0);
    assert_eq!(stats(&server, &order_no).await, (1, 1));
}

#[tokio::test]
async fn two_pages_without_shared_storage_submitting_at_once_get_one_order() {
    let server = spawn().await;
    let content = json!({"amount": 500, "currency": "CNY", "cart": "two-devices"});
    let mut first = Page::new(&server, HashMap::new(), Buyer::Cancel);
    let mut second = Page::new(&server, HashMap::new(), Buyer::Cancel);
    first.submit(&content);
    second.submit(&content);
    tokio::join!(first.run_until_submitted(1), second.run_until_submitted(1));
    assert_eq!(submitted_order(&first, 0).0, submitted_order(&second, 0).0);
    // Other content is another order.
    let other = json!({"amount": 600, "currency": "CNY", "cart": "two-devices"});
    first.submit(&other);
    first.run_until_submitted(2).await;
    assert_ne!(submitted_order(&first, 1).0, submitted_order(&first, 0).0);
}

#[tokio::test]
async fn a_lost_submit_reply_is_resent_with_the_same_key_and_makes_one_order() {
    let server = spawn().await;
    let content = json!({"amount": 700, "currency": "CNY", "cart": "lost-reply"});
    let mut page = Page::new(&server, HashMap::new(), Buyer::Cancel);
    page.create_faults.push_back("drop-reply");
    page.submit(&content);
    page.run_until_submitted(1).await;
    assert_eq!(page.submits_sent, 2);
    let (order_no, reused) = submitted_order(&page, 0);
    assert!(reused, "the second send found the order the first made");
    let keys: Vec<String> = page
        .events
        .iter()
        .filter_map(|e| match e {
            Event::SubmitSent { key, .. } => Some(key.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "the same key both times");
    let order = server.get_order(order_no.as_str()).await;
    assert_eq!(order["orderNo"], order_no.as_str());
}
