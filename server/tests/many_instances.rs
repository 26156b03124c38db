//! Issue 12's multi-instance proof (run when `CG_TEST_DATABASE_URL` is set, as `cargo xtask ci`
//! and `cargo xtask postgres -- cargo test -p checkout-guard-server --test many_instances` do):
//! three `checkout-guard-server` **processes** on one PostgreSQL database, in front of one
//! WeChat Pay v3 simulator (in this process, shared by the three: `provider = wechatpay`, each
//! instance's notify URL its own), and 240 buyers at once, each the real guard core driven by a
//! native shell (as in `guard_native.rs`) whose every request goes to an instance picked at
//! random.
//!
//! The buyers submit their cart through the guard, double-click, keep two tabs on one storage
//! and cross-tab lock, lose replies (the payment center's `drop-reply` and `503`, lost provider
//! replies and provider errors at the simulator, a lost wallet reply), lose notifies
//! (`notify=lost`, and whatever is sent to the instance that is down), confirm or cancel in the
//! simulator's wallet, pay again when a round did not end paid, or close the page right after
//! paying with the notify lost (only the sweeper can find those payments). One instance is
//! killed with SIGKILL while creates run on it and started again on the same port.
//!
//! Asserted from the provider's own records (`/sim/admin/stats/{orderNo}`): at most one charge
//! per business order; never two payable attempts of one order at the same moment
//! (`maxPayableAtOnce`); every charged order `paid` at the payment center, with no page asking,
//! and every uncharged one not; no `paid` outcome without a charge; every buyer who wanted to
//! pay (and stayed) told `paid`, every buyer who only cancelled told `cancelled`. From the
//! business system's webhook receiver (signatures verified; some first deliveries refused, some
//! processed and answered 500): exactly one event per charged order after de-duplication by
//! event id, naming the charged attempt and the order's amount, none for an uncharged one.

mod common;

use checkout_guard::core::config::Config as GuardConfig;
use checkout_guard::core::contract::{Endpoints, Exchange, HttpReply};
use checkout_guard::core::fingerprint;
use checkout_guard::core::ids::OrderNo;
use checkout_guard::core::machine::{
    Action, CallerId, Guard, Input, LaunchResult, LockResult, Outcome, OutcomeStatus, PayError,
    SubmitError, Submitted,
};
use checkout_guard::core::time::Millis;
use checkout_guard_conformance::guard::{in_memory, read_reply, request_builder};
use checkout_guard_server::Storage;
use checkout_guard_wechatpay_sim::{Config as SimConfig, RunningSim};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

const VECTORS: &str = include_str!("../../wechatpay/tests/vectors/wechatpay-v3.json");
const APPID: &str = "wxd678efh567hg6787";
const INSTANCES: usize = 3;
const BUYERS: usize = 240;
/// The instance killed with SIGKILL and started again.
const VICTIM: usize = 1;
/// How long the victim stays down.
const DOWN_FOR: Duration = Duration::from_millis(1500);
/// Rounds of paying a buyer who wants to pay goes through before giving up.
const ROUNDS: usize = 4;
/// The business system's webhook secret.
const WEBHOOK_SECRET: &str = "whsec-many-instances-0123456789abcdef";

fn vector(name: &str) -> String {
    let v: Value = serde_json::from_str(VECTORS).expect("vector file is JSON");
    v[name].as_str().expect("string field").to_owned()
}

fn now() -> Millis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Millis(ms)
}

// ---- randomness ----------------------------------------------------------------------------

/// A small xorshift generator: the plan is reproducible from the printed seed (the instances a
/// request goes to are drawn from it too, but their timing is not).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn entropy() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("entropy");
    u64::from_le_bytes(bytes)
}

fn rand_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("entropy");
    seed
}

// ---- the instances -------------------------------------------------------------------------

/// A free port on loopback (bound, read, released: the instance binds it again, and so does
/// its restart).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// How to start one instance: the same for all three but the port and its notify URL.
struct Launch {
    store: String,
    dir: std::path::PathBuf,
    sim_url: String,
    webhook_url: String,
}

/// One payment-center process; killed when dropped.
struct Instance {
    port: u16,
    child: Option<Child>,
}

impl Instance {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Launch {
    /// Starts the binary on `port` (instance `index`) and waits for its "listening" line.
    fn start(&self, index: usize, port: u16, generation: u32) -> Child {
        let url = format!("http://127.0.0.1:{port}");
        let log =
            std::fs::File::create(self.dir.join(format!("instance-{index}-{generation}.log")))
                .expect("log file");
        let file = |name: &str| self.dir.join(name).display().to_string();
        let mut command = Command::new(env!("CARGO_BIN_EXE_checkout-guard-server"));
        command
            .args(["--profile", "demo", "--provider", "wechatpay"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--store", &self.store])
            .args(["--www", "/nonexistent/www", "--pkg", "/nonexistent/pkg"])
            // A status asks the provider at most once a second per order (the lost-notify check).
            .args(["--query-interval-ms", "1000"])
            .env("CG_WECHATPAY_BASE_URL", &self.sim_url)
            .env("CG_WECHATPAY_MCHID", vector("mchid"))
            .env("CG_WECHATPAY_APPID", APPID)
            .env("CG_WECHATPAY_MERCHANT_SERIAL", vector("merchant_serial_no"))
            .env(
                "CG_WECHATPAY_MERCHANT_PRIVATE_KEY_FILE",
                file("apiclient_key.pem"),
            )
            .env("CG_WECHATPAY_PUBLIC_KEY_FILE", file("pub_key.pem"))
            .env(
                "CG_WECHATPAY_PUBLIC_KEY_ID",
                vector("wechatpay_public_key_id"),
            )
            .env("CG_WECHATPAY_APIV3_KEY_FILE", file("apiv3.key"))
            // Its own notify endpoint: notifies to an instance that is down are lost.
            .env(
                "CG_WECHATPAY_NOTIFY_URL",
                format!("{url}/api/wechatpay/notify"),
            )
            // Paid orders to the business system, retried quickly; the sweeper settles attempts
            // nobody touched for half a second (a lost notify with the page gone).
            .args(["--webhook-url", &self.webhook_url])
            .args([
                "--webhook-retry-ms",
                "200",
                "--webhook-retry-max-ms",
                "1000",
            ])
            .args(["--sweep-after-ms", "500", "--sweep-every-ms", "200"])
            .env("CG_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("RUST_LOG", "warn");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        assert!(
            line.trim().ends_with(&url),
            "instance {index} did not start on {url} ({line:?}); see {}",
            self.dir.display()
        );
        child
    }
}

// ---- the network between the buyers and the instances -------------------------------------

/// What was sent, and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Submit,
    Create,
    Status,
    /// A status with `Prefer: wait` (its latency includes the hold).
    LongPoll,
}

/// The client-side spread: every request to a random instance, counted and timed.
struct Net {
    client: reqwest::Client,
    urls: Vec<String>,
    sim_url: String,
    requests: AtomicU64,
    wallet_requests: AtomicU64,
    /// Requests that got no HTTP reply (refused by the instance that is down, dropped).
    no_reply: AtomicU64,
    latencies: Mutex<Vec<(Kind, u64)>>,
    /// Creates in flight per instance.
    creates_in_flight: Vec<AtomicU64>,
    /// Wallet confirms accepted so far (notifies are on their way).
    confirms: AtomicU64,
}

impl Net {
    fn pick(&self) -> usize {
        (entropy() % self.urls.len() as u64) as usize
    }

    /// Sends to a random instance; `None` when no HTTP reply came.
    async fn send(
        &self,
        kind: Kind,
        build: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Option<(u16, Option<String>, String)> {
        let instance = self.pick();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        if kind == Kind::Create {
            self.creates_in_flight[instance].fetch_add(1, Ordering::Relaxed);
        }
        let reply = read_reply(build(&self.client, &self.urls[instance])).await;
        if kind == Kind::Create {
            self.creates_in_flight[instance].fetch_sub(1, Ordering::Relaxed);
        }
        match reply {
            Some(_) => {
                let ms = started.elapsed().as_millis() as u64;
                self.latencies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((kind, ms));
            }
            None => {
                self.no_reply.fetch_add(1, Ordering::Relaxed);
            }
        }
        reply
    }
}

// ---- one buyer: the guard in one or two tabs over one storage ------------------------------

/// What the buyer does in the wallet in one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wallet {
    /// Pays after this many ms.
    Confirm(u64),
    /// Backs out.
    Cancel,
}

/// One buyer's script.
#[derive(Debug, Clone)]
struct Plan {
    /// Two tabs sharing storage and the cross-tab lock, both clicking.
    tabs: usize,
    /// Clicks per tab at once (a double click: 2).
    clicks: usize,
    /// What the wallet does, round by round (the last one repeats).
    wallet: Vec<Wallet>,
    /// `X-Fault` of the next create-payment requests (payment center), one per request.
    create_faults: VecDeque<&'static str>,
    /// `X-Fault` of the next status requests.
    status_faults: VecDeque<&'static str>,
    /// `X-Fault` of the next submit requests.
    submit_faults: VecDeque<&'static str>,
    /// `X-Fault` on the first wallet confirm (simulator): `notify=lost`, `drop-reply`.
    confirm_fault: Option<&'static str>,
    /// The buyer closes the page as soon as the wallet answers the confirm: no page asks the
    /// status again, only the sweeper can find the payment.
    leaves: bool,
}

impl Plan {
    fn wants_to_pay(&self) -> bool {
        self.wallet.iter().any(|w| matches!(w, Wallet::Confirm(_)))
    }

    /// The scripts, in turn: every tenth buyer only cancels, every twentieth pays (its notify
    /// lost) and closes the page at once.
    fn for_buyer(i: usize, rng: &mut Rng) -> Plan {
        let confirm = Wallet::Confirm(20 + rng.below(300));
        let mut plan = Plan {
            tabs: 1,
            clicks: 1,
            wallet: vec![confirm],
            create_faults: VecDeque::new(),
            status_faults: VecDeque::new(),
            submit_faults: VecDeque::new(),
            confirm_fault: None,
            leaves: false,
        };
        match i % 10 {
            0 => plan.wallet = vec![Wallet::Cancel],
            1 => plan.wallet = vec![Wallet::Cancel, confirm],
            2 => plan.clicks = 2,
            3 => plan.tabs = 2,
            4 => plan.create_faults.push_back("drop-reply"),
            5 => {
                plan.create_faults.push_back("status=503");
                plan.status_faults.push_back("drop-reply");
                plan.submit_faults.push_back("drop-reply");
            }
            6 => plan.confirm_fault = Some("notify=lost"),
            7 => plan.confirm_fault = Some("drop-reply"),
            8 => {
                plan.tabs = 2;
                plan.clicks = 2;
                plan.create_faults.push_back("drop-reply");
                plan.confirm_fault = Some("notify=lost");
            }
            9 if i % 20 == 9 => {
                plan.confirm_fault = Some("notify=lost");
                plan.leaves = true;
            }
            _ => {}
        }
        plan
    }
}

struct Tab {
    guard: Guard,
    inbox: VecDeque<Input>,
    results: Vec<(CallerId, Result<Outcome, PayError>)>,
    submitted: Vec<(CallerId, Result<Submitted, SubmitError>)>,
    next_caller: u64,
}

/// What became of one buyer.
#[derive(Debug)]
struct Report {
    index: usize,
    order_no: String,
    amount: i64,
    wants_to_pay: bool,
    /// Closed the page right after the wallet's answer.
    left: bool,
    /// Every tab's outcome in the last round.
    last: Vec<OutcomeStatus>,
    /// Any `paid` outcome in any round.
    told_paid: bool,
    rounds: usize,
    creates: u64,
    keys: usize,
    /// Confirms the wallet accepted (a 200 `SUCCESS`).
    confirms_accepted: u64,
}

/// A buyer: one or two tabs, their shared storage and cross-tab lock, and the shell.
struct Buyer {
    index: usize,
    scope: String,
    net: Arc<Net>,
    tabs: Vec<Tab>,
    storage: HashMap<String, String>,
    /// Which tab holds an order's cross-tab lock.
    locks: HashMap<String, usize>,
    tx: mpsc::UnboundedSender<(usize, Input)>,
    rx: mpsc::UnboundedReceiver<(usize, Input)>,
    plan: Plan,
    round: usize,
    creates: u64,
    keys: BTreeSet<String>,
    confirms_accepted: Arc<AtomicU64>,
    /// Set when a leaving buyer's wallet answered: the page is gone.
    left: Arc<AtomicBool>,
    events: Vec<String>,
}

impl Buyer {
    fn new(index: usize, net: Arc<Net>, plan: Plan) -> Buyer {
        let scope = format!("buyer-{index}");
        let tabs = (0..plan.tabs)
            .map(|_| {
                let mut config = GuardConfig {
                    scope: scope.clone(),
                    create_retries: 6,
                    create_retry_ms: 100,
                    lock_retry_ms: 100,
                    lock_wait_ms: 30_000,
                    ..GuardConfig::default()
                };
                config.poll.long_poll_secs = 2;
                config.poll.fast_ms = vec![0, 300, 600];
                config.poll.base_ms = 500;
                config.poll.floor_ms = 300;
                config.poll.cap_ms = 2000;
                config.poll.max_duration_ms = 15_000;
                Tab {
                    guard: Guard::new(config, rand_seed()).expect("valid config"),
                    inbox: VecDeque::new(),
                    results: Vec::new(),
                    submitted: Vec::new(),
                    next_caller: 0,
                }
            })
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        Buyer {
            index,
            scope,
            net,
            tabs,
            storage: HashMap::new(),
            locks: HashMap::new(),
            tx,
            rx,
            plan,
            round: 0,
            creates: 0,
            keys: BTreeSet::new(),
            confirms_accepted: Arc::new(AtomicU64::new(0)),
            left: Arc::new(AtomicBool::new(false)),
            events: Vec::new(),
        }
    }

    /// Submits the cart in every tab, then pays round by round; the buyer's report.
    async fn run(mut self, content: Value) -> Report {
        let print = fingerprint::fingerprint(&content).expect("fingerprint");
        for tab in 0..self.tabs.len() {
            let t = &mut self.tabs[tab];
            t.next_caller += 1;
            let caller = CallerId(t.next_caller);
            t.inbox.push_back(Input::Submit {
                content: fingerprint::canonicalize(&content).expect("JSON content"),
                fingerprint: print.clone(),
                caller,
            });
        }
        self.drive();
        self.run_until(
            |b| b.tabs.iter().all(|t| !t.submitted.is_empty()),
            "no order",
        )
        .await;
        let orders: BTreeSet<String> = self
            .tabs
            .iter()
            .map(|t| match &t.submitted[0].1 {
                Ok(done) => done.order_no.as_str().to_owned(),
                Err(e) => panic!("buyer {}: submit failed: {e}", self.index),
            })
            .collect();
        assert_eq!(orders.len(), 1, "buyer {}: one cart, one order", self.index);
        let order_no = OrderNo::parse(orders.first().expect("an order")).expect("order number");

        let mut told_paid = false;
        let mut last = Vec::new();
        let wants_to_pay = self.plan.wants_to_pay();
        for round in 0..ROUNDS {
            self.round = round;
            let expected: Vec<usize> = self.tabs.iter().map(|t| t.results.len()).collect();
            for tab in 0..self.tabs.len() {
                for _ in 0..self.plan.clicks {
                    let t = &mut self.tabs[tab];
                    t.next_caller += 1;
                    let caller = CallerId(t.next_caller);
                    t.inbox.push_back(Input::Pay {
                        order_no: order_no.clone(),
                        fingerprint: print.clone(),
                        caller,
                    });
                }
            }
            self.drive();
            let clicks = self.plan.clicks;
            self.run_until(
                |b| {
                    b.left.load(Ordering::Relaxed)
                        || b.tabs
                            .iter()
                            .zip(&expected)
                            .all(|(t, n)| t.results.len() >= n + clicks)
                },
                "no outcome",
            )
            .await;
            if self.left.load(Ordering::Relaxed) {
                break;
            }
            last = self
                .tabs
                .iter()
                .zip(&expected)
                .flat_map(|(t, n)| t.results[*n..].iter())
                .map(|(_, r)| match r {
                    Ok(outcome) => outcome.status,
                    Err(e) => panic!("buyer {}: pay failed: {e}", self.index),
                })
                .collect();
            told_paid |= last.contains(&OutcomeStatus::Paid);
            // Paid, or a buyer who only cancels has gone through the script: done. Anyone else
            // pays again (a `pending`, `failed` or `cancelled` round).
            if told_paid || (!wants_to_pay && round + 1 >= self.plan.wallet.len()) {
                break;
            }
        }
        Report {
            index: self.index,
            order_no: order_no.as_str().to_owned(),
            amount: content["amount"].as_i64().expect("amount"),
            wants_to_pay,
            left: self.left.load(Ordering::Relaxed),
            last,
            told_paid,
            rounds: self.round + 1,
            creates: self.creates,
            keys: self.keys.len(),
            confirms_accepted: self.confirms_accepted.load(Ordering::Relaxed),
        }
    }

    fn wallet_now(&self) -> Wallet {
        let wallet = &self.plan.wallet;
        wallet[self.round.min(wallet.len() - 1)]
    }

    /// Feeds queued inputs to their tabs and performs the resulting actions, in order.
    fn drive(&mut self) {
        loop {
            let Some(tab) = self.tabs.iter().position(|t| !t.inbox.is_empty()) else {
                return;
            };
            let input = self.tabs[tab].inbox.pop_front().expect("queued");
            self.tabs[tab].guard.handle(input, now());
            while let Some(action) = self.tabs[tab].guard.poll_action() {
                self.perform(tab, action);
            }
        }
    }

    fn reply_to(&self, tab: usize) -> impl Fn(Input) + Send + 'static {
        let tx = self.tx.clone();
        move |input| {
            let _ = tx.send((tab, input));
        }
    }

    fn perform(&mut self, tab: usize, action: Action) {
        let scope = self.scope.clone();
        match action {
            Action::AcquireTabLock { order_no, request } => {
                let holder = *self
                    .locks
                    .entry(order_no.as_str().to_owned())
                    .or_insert(tab);
                let result = if holder == tab {
                    LockResult::Acquired
                } else {
                    LockResult::HeldElsewhere
                };
                self.tabs[tab].inbox.push_back(Input::TabLock {
                    order_no,
                    request,
                    result,
                });
            }
            Action::ReleaseTabLock { order_no } => {
                let holder = self.locks.remove(order_no.as_str());
                assert_eq!(
                    holder,
                    Some(tab),
                    "tab {tab} released a lock it did not hold"
                );
            }
            stored @ (Action::LoadRecord { .. }
            | Action::Persist(_)
            | Action::Remove { .. }
            | Action::LoadSubmission { .. }
            | Action::PersistSubmission(_)
            | Action::RemoveSubmission { .. }) => {
                if let Some(input) = in_memory(&mut self.storage, stored, "test", &scope) {
                    self.tabs[tab].inbox.push_back(input);
                }
            }
            send @ (Action::SendCreate { .. }
            | Action::SendStatus { .. }
            | Action::SendSubmit { .. }) => {
                let (kind, fault) = match &send {
                    Action::SendCreate { key, .. } => {
                        self.creates += 1;
                        self.keys.insert(key.as_str().to_owned());
                        (Kind::Create, self.plan.create_faults.pop_front())
                    }
                    Action::SendStatus { wait_secs, .. } => {
                        let kind = if *wait_secs > 0 {
                            Kind::LongPoll
                        } else {
                            Kind::Status
                        };
                        (kind, self.plan.status_faults.pop_front())
                    }
                    _ => (Kind::Submit, self.plan.submit_faults.pop_front()),
                };
                // Paths only: the instance is picked for each request.
                let Some(exchange) = Exchange::of(send, &Endpoints::default()) else {
                    return;
                };
                let extra: Vec<(String, String)> = fault
                    .map(|f| ("X-Fault".to_owned(), f.to_owned()))
                    .into_iter()
                    .collect();
                let net = self.net.clone();
                let reply = self.reply_to(tab);
                tokio::spawn(async move {
                    let request = &exchange.request;
                    let sent = net
                        .send(kind, |client, base| {
                            request_builder(client, &[base, &request.url].concat(), request, &extra)
                        })
                        .await;
                    reply(match sent {
                        Some((status, retry, body)) => exchange.replied(&HttpReply {
                            status,
                            retry_after: retry.as_deref(),
                            body: &body,
                        }),
                        None => exchange.lost(),
                    });
                });
            }
            Action::Launch {
                order_no,
                request,
                prepay,
                ..
            } => {
                // A Native prepay: `weixin://wxpay/bizpayurl?pr=<token>`, the wallet's id.
                let map = prepay.as_map();
                let wallet_id = map["codeUrl"]
                    .as_str()
                    .and_then(|url| url.split_once("pr=").map(|(_, id)| id.to_owned()))
                    .or_else(|| map["prepayId"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let wallet = self.wallet_now();
                let fault = match wallet {
                    Wallet::Confirm(_) => self.plan.confirm_fault.take(),
                    Wallet::Cancel => None,
                };
                let net = self.net.clone();
                let accepted = self.confirms_accepted.clone();
                let leaves = (self.plan.leaves && matches!(wallet, Wallet::Confirm(_)))
                    .then(|| self.left.clone());
                let reply = self.reply_to(tab);
                tokio::spawn(async move {
                    let (action, delay) = match wallet {
                        Wallet::Confirm(ms) => ("confirm", ms),
                        Wallet::Cancel => ("cancel", 0),
                    };
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    net.wallet_requests.fetch_add(1, Ordering::Relaxed);
                    let mut req = net
                        .client
                        .post(format!("{}/sim/wallet/{wallet_id}/{action}", net.sim_url))
                        .header("Accept", "application/json");
                    if let Some(fault) = fault {
                        req = req.header("X-Fault", fault);
                    }
                    let status = req.send().await.map(|r| r.status().as_u16()).ok();
                    let result = match (wallet, status) {
                        (Wallet::Cancel, _) => LaunchResult::Cancelled,
                        (Wallet::Confirm(_), Some(200)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            net.confirms.fetch_add(1, Ordering::Relaxed);
                            LaunchResult::Ok
                        }
                        // Refused (closed, expired, paid) or no reply: the server must tell.
                        (Wallet::Confirm(_), _) => LaunchResult::Failed,
                    };
                    if let Some(left) = leaves {
                        // The page is closed: the launcher's answer reaches no guard.
                        left.store(true, Ordering::Relaxed);
                        return;
                    }
                    reply(Input::Launched {
                        order_no,
                        request,
                        result,
                    });
                });
            }
            Action::Resolve { callers, result } => {
                for caller in callers {
                    self.tabs[tab].results.push((caller, result.clone()));
                }
            }
            Action::Emit(event) => {
                if self.events.len() < 200 {
                    self.events.push(format!("tab {tab}: {event:?}"));
                }
            }
            Action::Broadcast { order_no, status } => {
                for (other, t) in self.tabs.iter_mut().enumerate() {
                    if other != tab {
                        t.inbox.push_back(Input::OtherTabFinished {
                            order_no: order_no.clone(),
                            status,
                        });
                    }
                }
            }
            Action::ResolveSubmit { callers, result } => {
                for caller in callers {
                    self.tabs[tab].submitted.push((caller, result.clone()));
                }
            }
            Action::LockUi { .. } | Action::UnlockUi { .. } => {}
        }
    }

    /// Feeds replies and timers until `done` holds (or 60 s pass).
    async fn run_until(&mut self, done: impl Fn(&Buyer) -> bool, what: &str) {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "buyer {}: {what}: {:#?}",
                self.index,
                self.events
            );
            let next = self
                .tabs
                .iter()
                .filter_map(|t| t.guard.poll_timeout())
                .min();
            // At least every 100 ms: a page closed from the launcher is noticed.
            let wait = next
                .map(|at| Duration::from_millis(at.since(now())))
                .unwrap_or(Duration::MAX)
                .min(Duration::from_millis(100));
            tokio::select! {
                input = self.rx.recv() => {
                    if let Some((tab, input)) = input {
                        self.tabs[tab].inbox.push_back(input);
                    }
                }
                _ = tokio::time::sleep(wait) => {
                    let at = now();
                    for t in &mut self.tabs {
                        if t.guard.poll_timeout().is_some_and(|due| due <= at) {
                            t.inbox.push_back(Input::TimerFired);
                        }
                    }
                }
            }
            self.drive();
        }
    }
}

// ---- the business system's webhook receiver ------------------------------------------------

/// One event as the receiver processed it.
struct Delivered {
    order_no: String,
    attempt_id: String,
    amount: i64,
    paid_amount: i64,
    times: u64,
    /// When it was first processed.
    at: Instant,
}

/// What the receiver saw.
#[derive(Default)]
struct Hooks {
    /// Events processed (de-duplicated by id): the event's order number, attempt, amounts,
    /// and how many deliveries of it came after it was first processed, that one included.
    processed: BTreeMap<String, Delivered>,
    /// Event ids whose first delivery was refused with a 500, unprocessed.
    refused: BTreeSet<String>,
    /// Event ids whose first delivery was processed and then answered 500 anyway (the
    /// acknowledgement lost): the redelivery is a duplicate to drop.
    reply_lost: BTreeSet<String>,
    /// Deliveries whose signature, event id header or body did not check.
    bad: Vec<String>,
    deliveries: u64,
}

/// Verifies `Checkout-Guard-Signature: t=<s>,v1=<hex>` over `"<t>.<body>"`.
fn signature_ok(header: &str, body: &[u8], now_s: i64) -> bool {
    use hmac::{Hmac, KeyInit, Mac};
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.push(value.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else {
        return false;
    };
    if (now_s - t).abs() > 300 {
        return false;
    }
    let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(WEBHOOK_SECRET.as_bytes())
    else {
        return false;
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    // Several `v1` while the secret is rotated: any one will do.
    v1.contains(&expected)
}

async fn hook(
    axum::extract::State(hooks): axum::extract::State<Arc<Mutex<Hooks>>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let now_s = (now().0 / 1000) as i64;
    let mut hooks = hooks.lock().unwrap_or_else(|e| e.into_inner());
    hooks.deliveries += 1;
    let id = header("checkout-guard-event-id");
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let order_no = event["data"]["orderNo"].as_str().unwrap_or("").to_owned();
    if !signature_ok(&header("checkout-guard-signature"), &body, now_s)
        || id.is_empty()
        || event["id"] != id.as_str()
        || event["type"] != "order.paid"
        || order_no.is_empty()
        || !event["data"]["attemptId"].is_string()
        || !event["data"]["paidAmount"].is_i64()
    {
        hooks.bad.push(String::from_utf8_lossy(&body).into_owned());
        return StatusCode::BAD_REQUEST;
    }
    // Every fourth event's first delivery is refused, and every seventh's is processed but
    // answered 500: the outbox must deliver both again, with the same id.
    let first = !hooks.processed.contains_key(&id) && !hooks.refused.contains(&id);
    let hash = id.bytes().map(u64::from).sum::<u64>();
    if first && hash % 4 == 0 {
        hooks.refused.insert(id);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let data = &event["data"];
    hooks
        .processed
        .entry(id.clone())
        .or_insert_with(|| Delivered {
            order_no,
            attempt_id: data["attemptId"].as_str().unwrap_or("").to_owned(),
            amount: data["amount"].as_i64().unwrap_or(-1),
            paid_amount: data["paidAmount"].as_i64().unwrap_or(-1),
            times: 0,
            at: Instant::now(),
        })
        .times += 1;
    if first && hash % 7 == 0 {
        hooks.reply_lost.insert(id);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (String, Arc<Mutex<Hooks>>) {
    let hooks = Arc::new(Mutex::new(Hooks::default()));
    let app = axum::Router::new()
        .route("/hooks/checkout-guard", axum::routing::post(hook))
        .with_state(hooks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks/checkout-guard"), hooks)
}

// ---- the run -------------------------------------------------------------------------------

async fn start_sim() -> RunningSim {
    // The test vectors' throwaway keys, as the payment center here is configured.
    let mut config = SimConfig::from_test_vectors().expect("the test vectors");
    // WeChat Pay's notify retries, 15 s, 15 s, 30 s, 3 min…, a hundred times faster.
    config.notify_time_scale = 0.01;
    checkout_guard_wechatpay_sim::start(config)
        .await
        .expect("the simulator starts")
}

async fn sim_stats(client: &reqwest::Client, sim: &str, order_no: &str) -> Value {
    client
        .get(format!("{sim}/sim/admin/stats/{order_no}"))
        .send()
        .await
        .expect("sim stats")
        .json()
        .await
        .expect("stats JSON")
}

async fn sim_fault(client: &reqwest::Client, sim: &str, rule: Value) {
    let reply = client
        .post(format!("{sim}/sim/admin/faults"))
        .json(&rule)
        .send()
        .await
        .expect("sim admin");
    assert_eq!(reply.status(), 201, "{rule}");
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() - 1) * p / 100]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_many_buyers_one_charge_each() {
    let Storage::Postgres(store) = common::test_storage() else {
        eprintln!("skipped: CG_TEST_DATABASE_URL is not set (this test needs PostgreSQL)");
        return;
    };
    let started = Instant::now();
    let seed = entropy();
    eprintln!("many_instances: seed {seed:#x}");
    let mut rng = Rng::new(seed);

    let sim = start_sim().await;
    let sim_url = sim.base_url().to_owned();
    let (webhook_url, hooks) = start_receiver().await;
    let dir = common::temp_dir("many-instances");
    std::fs::write(
        dir.join("apiclient_key.pem"),
        vector("merchant_private_key_pem"),
    )
    .expect("key file");
    std::fs::write(dir.join("pub_key.pem"), vector("wechatpay_public_key_pem")).expect("pem");
    std::fs::write(dir.join("apiv3.key"), vector("apiv3_key")).expect("apiv3 file");
    let launch = Arc::new(Launch {
        store,
        dir: dir.clone(),
        sim_url: sim_url.clone(),
        webhook_url,
    });
    // One after the other: the first runs the migrations.
    let mut instances = Vec::new();
    for index in 0..INSTANCES {
        let port = free_port();
        let child = launch.start(index, port, 0);
        instances.push(Instance {
            port,
            child: Some(child),
        });
    }
    let urls: Vec<String> = instances.iter().map(Instance::url).collect();
    let victim_port = instances[VICTIM].port;
    let instances = Arc::new(Mutex::new(instances));
    eprintln!(
        "many_instances: {INSTANCES} instances up in {:?}",
        started.elapsed()
    );

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let net = Arc::new(Net {
        client: client.clone(),
        urls,
        sim_url: sim_url.clone(),
        requests: AtomicU64::new(0),
        wallet_requests: AtomicU64::new(0),
        no_reply: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
        creates_in_flight: (0..INSTANCES).map(|_| AtomicU64::new(0)).collect(),
        confirms: AtomicU64::new(0),
    });
    // Provider replies lost after the provider committed (creates, closes) and provider errors
    // (queries): the payment center must close what it cannot see before it makes another
    // attempt. One rule per path and method: rules matching one request add up.
    let by_no = "/v3/pay/transactions/out-trade-no/";
    for rule in [
        json!({"spec": "drop-reply", "pathPrefix": "/v3/pay/transactions/native", "method": "POST", "times": 8}),
        json!({"spec": "drop-reply", "pathPrefix": by_no, "method": "POST", "times": 4}),
        json!({"spec": "status=500", "pathPrefix": by_no, "method": "GET", "times": 8}),
    ] {
        sim_fault(&client, &sim_url, rule).await;
    }

    // The buyers, all at once (within half a second).
    let run_started = Instant::now();
    let mut buyers = Vec::new();
    for index in 0..BUYERS {
        let plan = Plan::for_buyer(index, &mut rng);
        let jitter = rng.below(500);
        let net = net.clone();
        let content = json!({
            "amount": 100 + index as i64,
            "currency": "CNY",
            "cart": format!("many-{seed:x}-{index}"),
            "items": [{"sku": "tea", "qty": 1 + index % 3}],
        });
        buyers.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(jitter)).await;
            Buyer::new(index, net, plan).run(content).await
        }));
    }

    // SIGKILL the victim while creates run on it and notifies are on their way to it (or, if
    // the confirms are slow to come, while creates run), then start it again on the same port.
    let killed = Arc::new(AtomicBool::new(false));
    let killer = {
        let net = net.clone();
        let instances = instances.clone();
        let launch = launch.clone();
        let killed = killed.clone();
        tokio::spawn(async move {
            let waited = Instant::now();
            loop {
                let creating = net.creates_in_flight[VICTIM].load(Ordering::Relaxed);
                let confirms = net.confirms.load(Ordering::Relaxed);
                let late = waited.elapsed() > Duration::from_secs(15);
                if (creating >= 2 && confirms >= 10)
                    || (creating >= 1 && late)
                    || waited.elapsed() > Duration::from_secs(25)
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let in_flight = net.creates_in_flight[VICTIM].load(Ordering::Relaxed);
            let confirms = net.confirms.load(Ordering::Relaxed);
            let mut child = instances.lock().unwrap_or_else(|e| e.into_inner())[VICTIM]
                .child
                .take()
                .expect("the victim runs");
            child.kill().expect("SIGKILL");
            let _ = child.wait();
            killed.store(true, Ordering::Relaxed);
            let at = run_started.elapsed();
            tokio::time::sleep(DOWN_FOR).await;
            let child = tokio::task::spawn_blocking(move || launch.start(VICTIM, victim_port, 1))
                .await
                .expect("restart");
            instances.lock().unwrap_or_else(|e| e.into_inner())[VICTIM].child = Some(child);
            (at, in_flight, confirms)
        })
    };

    let mut reports = Vec::new();
    for buyer in buyers {
        reports.push(buyer.await.expect("a buyer panicked"));
    }
    let (killed_at, in_flight_at_kill, confirms_at_kill) = killer.await.expect("the killer");
    assert!(killed.load(Ordering::Relaxed));
    let buyers_done = run_started.elapsed();

    // ---- the provider's records ----
    let mut charged = BTreeSet::new();
    let mut failures = Vec::new();
    let (mut prepay_calls, mut closes, mut notify_tries, mut notifies_acked) = (0, 0, 0, 0);
    let all_stats = futures::future::join_all(
        reports
            .iter()
            .map(|r| sim_stats(&client, &sim_url, &r.order_no)),
    )
    .await;
    for (report, stats) in reports.iter().zip(&all_stats) {
        let charges = stats["charges"].as_u64().expect("charges");
        let payable = stats["maxPayableAtOnce"]
            .as_u64()
            .expect("maxPayableAtOnce");
        prepay_calls += stats["prepayCalls"].as_u64().unwrap_or(0);
        closes += stats["closes"].as_u64().unwrap_or(0);
        notify_tries += stats["notifyAttempts"].as_u64().unwrap_or(0);
        notifies_acked += stats["notifiesAcknowledged"].as_u64().unwrap_or(0);
        if charges > 1 {
            failures.push(format!(
                "buyer {}: {charges} charges: {stats}",
                report.index
            ));
        }
        if payable > 1 {
            failures.push(format!(
                "buyer {}: {payable} attempts payable at once: {stats}",
                report.index
            ));
        }
        if charges == 1 {
            charged.insert(report.order_no.clone());
        }
        if report.told_paid && charges != 1 {
            failures.push(format!(
                "buyer {}: told paid, {charges} charges",
                report.index
            ));
        }
        if report.wants_to_pay && !report.told_paid && !report.left {
            failures.push(format!(
                "buyer {}: wanted to pay, never told paid (last round {:?}, {} rounds)",
                report.index, report.last, report.rounds
            ));
        }
        if !report.wants_to_pay && charges != 0 {
            failures.push(format!(
                "buyer {}: only cancelled, charged {charges}",
                report.index
            ));
        }
        if !report.wants_to_pay && report.last.iter().any(|s| *s != OutcomeStatus::Cancelled) {
            failures.push(format!(
                "buyer {}: only cancelled, outcomes {:?}",
                report.index, report.last
            ));
        }
    }

    // ---- the payment center: every charged order paid, every other one not ----
    let deadline = Instant::now() + Duration::from_secs(10);
    let settled = reports.iter().map(|report| {
        let want = charged.contains(&report.order_no);
        let (client, net) = (&client, &net);
        async move {
            loop {
                let url = format!("{}/api/orders/{}", net.urls[net.pick()], report.order_no);
                let order: Value = client
                    .get(url)
                    .send()
                    .await
                    .expect("order")
                    .json()
                    .await
                    .expect("order JSON");
                let paid = order["paid"].as_bool().expect("paid");
                if paid == want {
                    return None;
                }
                if paid || Instant::now() > deadline {
                    return Some(format!(
                        "buyer {}: charged {want}, paid at the payment center {paid}",
                        report.index
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    failures.extend(
        futures::future::join_all(settled)
            .await
            .into_iter()
            .flatten(),
    );

    // ---- the business system's webhook ----
    // Events the victim had claimed when it was killed stay its own for 15 s (the outbox's
    // claim, `CLAIM_MS` in `src/webhook/push.rs`) before another instance sends them.
    let deadline = (Instant::now() + Duration::from_secs(15))
        .max(run_started + killed_at + Duration::from_secs(40));
    let webhook_wait = Instant::now();
    loop {
        let done = {
            let hooks = hooks.lock().unwrap_or_else(|e| e.into_inner());
            let orders: BTreeSet<&String> = hooks.processed.values().map(|d| &d.order_no).collect();
            charged.iter().all(|o| orders.contains(o))
                && hooks
                    .refused
                    .iter()
                    .all(|id| hooks.processed.contains_key(id))
                && hooks
                    .reply_lost
                    .iter()
                    .all(|id| hooks.processed.get(id).is_some_and(|d| d.times > 1))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let webhook_wait = webhook_wait.elapsed();
    // A moment more: a second event for an order, if any instance made one, shows up.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let hooks = std::mem::take(&mut *hooks.lock().unwrap_or_else(|e| e.into_inner()));
    let amounts: BTreeMap<&str, i64> = reports
        .iter()
        .map(|r| (r.order_no.as_str(), r.amount))
        .collect();
    let mut events_per_order: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    // The attempt each event names is the one the provider charged, for the order's amount.
    let attempt_stats = futures::future::join_all(hooks.processed.values().map(|event| {
        let attempt = format!("out-trade-no/{}", event.attempt_id);
        let (client, sim_url) = (&client, &sim_url);
        async move { sim_stats(client, sim_url, &attempt).await }
    }))
    .await;
    for ((id, event), stats) in hooks.processed.iter().zip(&attempt_stats) {
        events_per_order
            .entry(&event.order_no)
            .or_default()
            .insert(id);
        let want = amounts.get(event.order_no.as_str()).copied();
        if stats["charges"] != 1 || want != Some(event.amount) || event.paid_amount != event.amount
        {
            failures.push(format!(
                "event {id} for {} ({}, amount {} paid {}, the order's {want:?}): the provider says {stats}",
                event.order_no, event.attempt_id, event.amount, event.paid_amount
            ));
        }
    }
    for bad in &hooks.bad {
        failures.push(format!("a webhook delivery did not verify: {bad}"));
    }
    for id in &hooks.refused {
        if !hooks.processed.contains_key(id) {
            failures.push(format!("event {id} was refused once and never redelivered"));
        }
    }
    for id in &hooks.reply_lost {
        if hooks.processed.get(id).is_none_or(|d| d.times < 2) {
            failures.push(format!(
                "event {id}: its acknowledgement was lost and it was never delivered again"
            ));
        }
    }
    for order in &charged {
        let n = events_per_order
            .get(order.as_str())
            .map_or(0, BTreeSet::len);
        if n != 1 {
            failures.push(format!("order {order}: {n} distinct paid events"));
        }
    }
    for (order, ids) in &events_per_order {
        if !charged.contains(*order) {
            failures.push(format!(
                "order {order}: paid events {ids:?} without a charge"
            ));
        }
    }
    let duplicates: u64 = hooks.processed.values().map(|d| d.times - 1).sum();
    let claim_ran_out = run_started + killed_at + Duration::from_secs(25);
    let late = hooks
        .processed
        .values()
        .filter(|d| d.at > claim_ran_out)
        .count();

    // ---- the numbers ----
    let mut latencies = net
        .latencies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    latencies.sort();
    let of = |kind: Kind| -> Vec<u64> {
        let mut v: Vec<u64> = latencies
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, ms)| *ms)
            .collect();
        v.sort_unstable();
        v
    };
    let (creates, statuses, polls, submits) = (
        of(Kind::Create),
        of(Kind::Status),
        of(Kind::LongPoll),
        of(Kind::Submit),
    );
    let creates_sent: u64 = reports.iter().map(|r| r.creates).sum();
    let keys: usize = reports.iter().map(|r| r.keys).sum();
    let accepted: u64 = reports.iter().map(|r| r.confirms_accepted).sum();
    let paid_buyers = reports.iter().filter(|r| r.told_paid).count();
    let extra_rounds: usize = reports.iter().map(|r| r.rounds - 1).sum();
    println!("many_instances: seed {seed:#x}, {INSTANCES} instances on one PostgreSQL, one WeChat Pay simulator");
    println!(
        "  orders {}: {} charged, {} buyers told paid, {} cancel-only; {extra_rounds} extra pay rounds",
        reports.len(),
        charged.len(),
        paid_buyers,
        reports.iter().filter(|r| !r.wants_to_pay).count()
    );
    let left: Vec<&Report> = reports.iter().filter(|r| r.left).collect();
    println!(
        "  {} buyers closed the page right after paying with the notify lost: {} of their orders charged, all paid at the payment center with no page asking",
        left.len(),
        left.iter().filter(|r| charged.contains(&r.order_no)).count()
    );
    println!(
        "  requests to the instances {} ({} without a reply), wallet requests {} ({accepted} confirms accepted)",
        net.requests.load(Ordering::Relaxed),
        net.no_reply.load(Ordering::Relaxed),
        net.wallet_requests.load(Ordering::Relaxed),
    );
    println!(
        "  creates sent {creates_sent} with {keys} keys ({} re-sent with the same key); provider: {prepay_calls} create calls, {closes} closes, {notify_tries} notify tries, {} not acknowledged",
        creates_sent.saturating_sub(keys as u64),
        notify_tries - notifies_acked
    );
    println!(
        "  instance {VICTIM} SIGKILLed at {killed_at:?} with {in_flight_at_kill} creates in flight and {confirms_at_kill} confirms made, back after {DOWN_FOR:?}"
    );
    println!(
        "  create   latency p50 {} ms, p99 {} ms ({} replies)",
        percentile(&creates, 50),
        percentile(&creates, 99),
        creates.len()
    );
    println!(
        "  status   latency p50 {} ms, p99 {} ms ({} replies, no wait)",
        percentile(&statuses, 50),
        percentile(&statuses, 99),
        statuses.len()
    );
    println!(
        "  longpoll latency p50 {} ms, p99 {} ms ({} replies, Prefer: wait=2, the hold included)",
        percentile(&polls, 50),
        percentile(&polls, 99),
        polls.len()
    );
    println!(
        "  submit   latency p50 {} ms, p99 {} ms ({} replies)",
        percentile(&submits, 50),
        percentile(&submits, 99),
        submits.len()
    );
    println!(
        "  webhook: {} deliveries: {} first ones refused, {} processed but answered 500, {duplicates} duplicates dropped by event id; {} distinct events; all in {webhook_wait:?} after the checks above, {late} of them once the victim's claim ran out",
        hooks.deliveries,
        hooks.refused.len(),
        hooks.reply_lost.len(),
        hooks.processed.len()
    );
    println!(
        "  buyers done in {buyers_done:?}; total {:?}",
        started.elapsed()
    );

    sim.shutdown().await;
    drop(instances);
    assert!(
        failures.is_empty(),
        "{} failures (instance logs in {}):\n{}",
        failures.len(),
        dir.display(),
        failures.join("\n")
    );
    if std::env::var_os("CG_KEEP_LOGS").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
