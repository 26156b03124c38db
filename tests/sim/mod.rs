//! A whole world for the guard, sans IO: tabs sharing one storage and one cross-tab lock, a
//! network that delays, loses and duplicates, a server that keeps `docs/contract.md`, and a
//! buyer who may pay any live attempt in the wallet at any moment (even after closing the page).
//!
//! Every step is chosen by the caller (a random byte stream, or an exhaustive search), so a
//! failing sequence replays exactly. After every step the world checks **the promise**:
//!
//! - the server never charges the order twice and never holds two live attempts;
//! - no tab sends a create with a **new** key while the server holds a live, unexpired attempt
//!   for the same content, or after it was told the order is paid (by the server or another
//!   tab), or while storage records the order as paid;
//! - no tab launches payment after it was told the order is paid, or while storage says paid;
//! - when the world settles, every caller got an answer, no lock is left held, and a fresh page
//!   paying again for a paid order is answered `paid` without a launch or a new key.

#![allow(dead_code)] // each test binary uses a different part of the world

use checkout_guard::core::config::Config;
use checkout_guard::core::contract::{
    parse_create, parse_server_now, parse_status, CreateReply, HttpReply, OrderStatus, StatusReply,
};
use checkout_guard::core::fingerprint::Fingerprint;
use checkout_guard::core::ids::{IdempotencyKey, OrderNo};
use checkout_guard::core::machine::{
    Action, CallerId, Event, Guard, Input, LaunchResult, Loaded, LockResult, Outcome,
    OutcomeStatus, RequestId,
};
use checkout_guard::core::record::{Record, RecordState};
use checkout_guard::core::time::Millis;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub const ORDER: &str = "A1";
pub const T0: Millis = Millis(1_800_000_000_000);
/// How long the simulated provider keeps a prepay valid.
pub const PREPAY_LIFE_MS: u64 = 120_000;

pub fn order() -> OrderNo {
    OrderNo::parse(ORDER).unwrap_or_else(|e| panic!("{e}"))
}

/// The two contents the buyer may pay for (the amount may change once).
pub fn content(n: u8) -> Fingerprint {
    Fingerprint::parse(&format!("{:02x}", n + 1).repeat(32)).unwrap_or_else(|| panic!("fp"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    Live,
    Closed,
    Paid,
}

#[derive(Debug, Clone)]
pub struct ServerAttempt {
    pub id: String,
    pub fingerprint: Fingerprint,
    pub state: AttemptState,
    pub expires_at: Millis,
}

/// The merchant backend + provider, keeping the contract's rules.
#[derive(Debug, Clone, Default)]
pub struct Server {
    pub attempts: Vec<ServerAttempt>,
    pub keys: BTreeMap<String, (Fingerprint, usize)>,
    pub charges: u32,
    pub creates_seen: u32,
}

impl Server {
    fn live(&self, now: Millis) -> Option<usize> {
        self.attempts
            .iter()
            .position(|a| a.state == AttemptState::Live && now < a.expires_at)
    }

    pub fn paid(&self) -> bool {
        self.attempts.iter().any(|a| a.state == AttemptState::Paid)
    }

    /// Closes every attempt that is not paid: what the server does before a new attempt, or
    /// when it finds one expired.
    fn close_unpaid(&mut self) {
        for a in &mut self.attempts {
            if a.state == AttemptState::Live {
                a.state = AttemptState::Closed;
            }
        }
    }

    fn attempt_body(&self, index: usize, reused: bool, now: Millis) -> String {
        let a = &self.attempts[index];
        json!({
            "orderNo": ORDER, "attemptId": a.id, "fingerprint": a.fingerprint.as_str(),
            "prepay": {"prepayId": format!("wx-{}", a.id)}, "expiresAt": a.expires_at.0,
            "reused": reused, "now": now.0
        })
        .to_string()
    }

    /// `POST /payments` per docs/contract.md; returns (status, body).
    pub fn create(&mut self, key: &str, fingerprint: &Fingerprint, now: Millis) -> (u16, String) {
        self.creates_seen += 1;
        if self.paid() {
            return (409, r#"{"error":"already_paid"}"#.into());
        }
        if let Some((stored_fp, index)) = self.keys.get(key) {
            if stored_fp != fingerprint {
                return (422, r#"{"error":"key_reused"}"#.into());
            }
            return (200, self.attempt_body(*index, false, now));
        }
        if let Some(index) = self.live(now) {
            if &self.attempts[index].fingerprint == fingerprint {
                self.keys
                    .insert(key.to_owned(), (fingerprint.clone(), index));
                return (200, self.attempt_body(index, true, now));
            }
        }
        self.close_unpaid();
        let index = self.attempts.len();
        self.attempts.push(ServerAttempt {
            id: format!("A1x{index}"),
            fingerprint: fingerprint.clone(),
            state: AttemptState::Live,
            expires_at: now.plus(PREPAY_LIFE_MS),
        });
        self.keys
            .insert(key.to_owned(), (fingerprint.clone(), index));
        (201, self.attempt_body(index, false, now))
    }

    /// `GET /payment` per docs/contract.md.
    pub fn status(&mut self, now: Millis) -> (u16, String) {
        if let Some(a) = self.attempts.iter().find(|a| a.state == AttemptState::Paid) {
            return (
                200,
                json!({"orderNo": ORDER, "status": "paid", "attemptId": a.id, "now": now.0})
                    .to_string(),
            );
        }
        let Some(last) = self.attempts.len().checked_sub(1) else {
            return (
                200,
                json!({"orderNo": ORDER, "status": "none", "now": now.0}).to_string(),
            );
        };
        let expired = now >= self.attempts[last].expires_at;
        if self.attempts[last].state == AttemptState::Live && expired {
            self.close_unpaid();
        }
        let a = &self.attempts[last];
        let body = match a.state {
            AttemptState::Live => json!({
                "orderNo": ORDER, "status": "unpaid", "attemptId": a.id,
                "fingerprint": a.fingerprint.as_str(),
                "prepay": {"prepayId": format!("wx-{}", a.id)}, "expiresAt": a.expires_at.0,
                "now": now.0
            }),
            _ => json!({"orderNo": ORDER, "status": "closed", "attemptId": a.id, "now": now.0}),
        };
        (200, body.to_string())
    }

    /// The buyer confirms attempt `index` in the wallet: charged only if it is live.
    pub fn wallet_confirm(&mut self, index: usize, now: Millis) -> bool {
        let Some(a) = self.attempts.get_mut(index) else {
            return false;
        };
        if a.state == AttemptState::Live && now < a.expires_at {
            a.state = AttemptState::Paid;
            self.charges += 1;
            return true;
        }
        false
    }
}

#[derive(Debug, Clone)]
pub enum Request {
    Create {
        key: IdempotencyKey,
        fingerprint: Fingerprint,
    },
    Status,
}

#[derive(Debug, Clone)]
pub struct InFlight {
    pub tab: usize,
    pub generation: u32,
    pub request: RequestId,
    pub body: Request,
    /// The server's reply, once it processed the request.
    pub reply: Option<(u16, String)>,
    pub fingerprint: Option<Fingerprint>,
}

#[derive(Debug, Clone)]
pub struct Tab {
    pub guard: Guard,
    /// Bumped on reload: replies to an older page are lost.
    pub generation: u32,
    pub launches: Vec<(RequestId, String)>,
    pub next_caller: u64,
    pub open_callers: BTreeSet<u64>,
    pub inbox: VecDeque<Input>,
    pub button_locked: bool,
    /// This page was told the order is paid (a reply, or another tab's broadcast).
    pub told_paid: bool,
    pub last_outcome: Option<OutcomeStatus>,
    /// The outcome events this tab emitted while handling the current input.
    pub outcomes_emitted: Vec<Outcome>,
}

/// What the wallet does with a launched payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wallet {
    PayThenOk,
    Ok,
    Cancel,
    Fail,
}

impl From<u16> for Wallet {
    fn from(arg: u16) -> Wallet {
        [Wallet::PayThenOk, Wallet::Ok, Wallet::Cancel, Wallet::Fail][usize::from(arg % 4)]
    }
}

/// One thing that can happen in the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Move {
    /// The buyer clicks Pay in a tab.
    Click(usize),
    /// The cart changes (the amount of the same order).
    ChangeContent,
    /// The server receives the n-th request still on its way.
    DeliverRequest(usize),
    /// The server receives a copy of it (the original stays on its way).
    DuplicateRequest(usize),
    /// The page receives the n-th reply.
    DeliverReply(usize),
    /// The network loses the n-th request or reply; the page's time-out reports it.
    Lose(usize),
    /// The page gives up on the n-th request; it may still reach the server.
    TimeOut(usize),
    /// The n-th open launch returns.
    FinishLaunch(usize, Wallet),
    /// The buyer pays the n-th attempt (a QR code still on screen, another device).
    WalletPay(usize),
    /// A tab's timer fires (time moves to its deadline).
    FireTimer(usize),
    /// Time passes.
    Advance(u64),
    /// A tab reloads (and resumes, or not).
    Reload(usize, bool),
    /// The n-th cross-tab message arrives.
    DeliverBroadcast(usize),
    /// The buyer comes back to a tab.
    PageShown(usize),
    /// The buyer's clock jumps.
    JumpClock(i64),
}

/// The world. `step(choice)` plays one event chosen by `choice`.
#[derive(Debug, Clone)]
pub struct World {
    pub now: Millis,
    pub tabs: Vec<Tab>,
    pub storage: Option<String>,
    pub lock: Option<usize>,
    pub server: Server,
    pub network: Vec<InFlight>,
    pub broadcasts: Vec<(usize, OutcomeStatus)>,
    pub keys_sent: BTreeSet<String>,
    pub seeds: u8,
    pub content: u8,
    pub log: Vec<String>,
    pub steps: u64,
    /// How far the buyer's clock is off the server's (ms, may be negative): clock jumps.
    pub skew: i64,
}

pub fn config() -> Config {
    let mut config = Config {
        scope: "buyer".into(),
        prepay_ttl_ms: 60_000,
        expiry_margin_ms: 10_000,
        create_retries: 2,
        lock_wait_ms: 120_000,
        ..Config::default()
    };
    config.poll.max_duration_ms = 90_000;
    config
}

impl World {
    pub fn new(tabs: usize) -> World {
        let mut world = World {
            now: T0,
            tabs: Vec::new(),
            storage: None,
            lock: None,
            server: Server::default(),
            network: Vec::new(),
            broadcasts: Vec::new(),
            keys_sent: BTreeSet::new(),
            seeds: 0,
            content: 0,
            log: Vec::new(),
            steps: 0,
            skew: 0,
        };
        for _ in 0..tabs {
            let tab = world.new_tab(0);
            world.tabs.push(tab);
        }
        world
    }

    fn new_tab(&mut self, generation: u32) -> Tab {
        self.seeds = self.seeds.wrapping_add(1);
        Tab {
            guard: Guard::new(config(), [self.seeds; 32]).unwrap_or_else(|e| panic!("{e}")),
            generation,
            launches: Vec::new(),
            next_caller: 0,
            open_callers: BTreeSet::new(),
            inbox: VecDeque::new(),
            button_locked: false,
            told_paid: false,
            last_outcome: None,
            outcomes_emitted: Vec::new(),
        }
    }

    /// Number of distinct events [`World::step`] understands.
    pub const EVENTS: u16 = 17;

    /// Plays one event. `choice` picks the kind (mod [`World::EVENTS`]) and `arg` its target.
    pub fn step(&mut self, choice: u16, arg: u16) {
        let tab = usize::from(arg) % self.tabs.len();
        let pick = usize::from(arg / 2);
        let m = match choice % Self::EVENTS {
            0 | 1 => Move::Click(tab),
            2 => Move::ChangeContent,
            3 | 4 => Move::DeliverRequest(pick),
            5 => Move::DuplicateRequest(pick),
            6 => Move::DeliverReply(pick),
            7 => Move::Lose(pick),
            8 => Move::TimeOut(pick),
            9 => Move::FinishLaunch(pick, Wallet::from(arg)),
            10 => Move::WalletPay(pick),
            11 => Move::FireTimer(tab),
            12 => Move::Advance(u64::from(arg) * 1000),
            13 => Move::Reload(tab, arg % 2 == 0),
            14 => Move::DeliverBroadcast(pick),
            15 => Move::PageShown(tab),
            16 => Move::JumpClock(if arg % 2 == 0 { 3_600_000 } else { -3_600_000 }),
            _ => unreachable!("choice is reduced mod EVENTS"),
        };
        self.apply(m);
    }

    /// Plays one move and checks the promise.
    pub fn apply(&mut self, m: Move) {
        self.steps += 1;
        match m {
            Move::Click(tab) => self.click(tab),
            Move::ChangeContent => {
                // The buyer changes the cart: new content for the same order.
                self.content = (self.content + 1) % 2;
                self.log.push("content changed".into());
            }
            Move::DeliverRequest(pick) => self.deliver_request(pick, false),
            Move::DuplicateRequest(pick) => self.deliver_request(pick, true),
            Move::DeliverReply(pick) => self.deliver_reply(pick),
            Move::Lose(pick) => self.lose(pick),
            Move::TimeOut(pick) => self.time_out(pick),
            Move::FinishLaunch(pick, wallet) => self.finish_launch(pick, wallet),
            Move::WalletPay(pick) => self.wallet_pay(pick),
            Move::FireTimer(tab) => self.fire_timer(tab),
            Move::Advance(ms) => self.advance(ms),
            Move::Reload(tab, resume) => self.reload(tab, resume),
            Move::DeliverBroadcast(pick) => self.deliver_broadcast(pick),
            Move::PageShown(tab) => self.feed(tab, Input::PageShown),
            Move::JumpClock(ms) => self.jump_clock(ms),
        }
        self.check();
    }

    /// Every move that can change something now, for exhaustive exploration.
    pub fn moves(&self) -> Vec<Move> {
        let mut moves = Vec::new();
        for tab in 0..self.tabs.len() {
            moves.push(Move::Click(tab));
            moves.push(Move::Reload(tab, true));
            moves.push(Move::PageShown(tab));
            if self.tabs[tab].guard.poll_timeout().is_some() {
                moves.push(Move::FireTimer(tab));
            }
        }
        moves.push(Move::ChangeContent);
        let pending = self.network.iter().filter(|f| f.reply.is_none()).count();
        let answered = self.network.len() - pending;
        for i in 0..pending {
            moves.push(Move::DeliverRequest(i));
            moves.push(Move::DuplicateRequest(i));
        }
        for i in 0..answered {
            moves.push(Move::DeliverReply(i));
        }
        for i in 0..self.network.len() {
            moves.push(Move::Lose(i));
            moves.push(Move::TimeOut(i));
        }
        let launches: usize = self.tabs.iter().map(|t| t.launches.len()).sum();
        for i in 0..launches {
            for wallet in [Wallet::PayThenOk, Wallet::Ok, Wallet::Cancel, Wallet::Fail] {
                moves.push(Move::FinishLaunch(i, wallet));
            }
        }
        for (i, a) in self.server.attempts.iter().enumerate() {
            if a.state == AttemptState::Live {
                moves.push(Move::WalletPay(i));
            }
        }
        for i in 0..self.broadcasts.len() {
            moves.push(Move::DeliverBroadcast(i));
        }
        moves.push(Move::Advance(PREPAY_LIFE_MS));
        moves.push(Move::JumpClock(-3_600_000));
        moves
    }

    fn click(&mut self, tab: usize) {
        let caller = {
            let t = &mut self.tabs[tab];
            t.next_caller += 1;
            t.open_callers.insert(t.next_caller);
            t.next_caller
        };
        self.log.push(format!("tab {tab} click (caller {caller})"));
        let fingerprint = content(self.content);
        self.feed(
            tab,
            Input::Pay {
                order_no: order(),
                fingerprint,
                caller: CallerId(caller),
            },
        );
    }

    pub fn feed(&mut self, tab: usize, input: Input) {
        self.tabs[tab].inbox.push_back(input);
        while let Some(input) = self.tabs[tab].inbox.pop_front() {
            let now = self.client_now();
            self.tabs[tab].outcomes_emitted.clear();
            self.tabs[tab].guard.handle(input, now);
            while let Some(action) = self.tabs[tab].guard.poll_action() {
                self.perform(tab, action);
            }
            self.check_ui(tab);
        }
    }

    fn perform(&mut self, tab: usize, action: Action) {
        let generation = self.tabs[tab].generation;
        match action {
            Action::LockUi { .. } => self.tabs[tab].button_locked = true,
            Action::UnlockUi { .. } => self.tabs[tab].button_locked = false,
            Action::AcquireTabLock { order_no, request } => {
                let result = if self.lock.is_none() || self.lock == Some(tab) {
                    self.lock = Some(tab);
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
            Action::ReleaseTabLock { .. } => {
                assert_eq!(
                    self.lock,
                    Some(tab),
                    "tab {tab} releases a lock it does not hold"
                );
                self.lock = None;
            }
            Action::LoadRecord { order_no, request } => {
                let loaded = match &self.storage {
                    None => Loaded::Missing,
                    Some(text) => match Record::decode(text, "buyer", &order_no) {
                        Ok(record) => Loaded::Found(record),
                        Err(e) => Loaded::Unusable(e),
                    },
                };
                self.tabs[tab].inbox.push_back(Input::RecordLoaded {
                    order_no,
                    request,
                    loaded,
                });
            }
            Action::Persist(record) => {
                assert_eq!(self.lock, Some(tab), "tab {tab} writes without the lock");
                self.storage = Some(record.encode());
            }
            Action::Remove { .. } => self.storage = None,
            Action::SendCreate {
                request,
                key,
                fingerprint,
                ..
            } => {
                let new_key = self.keys_sent.insert(key.as_str().to_owned());
                if new_key {
                    self.check_new_key(tab, &fingerprint);
                }
                self.log.push(format!(
                    "tab {tab} create key {} new={new_key}",
                    &key.as_str()[..6]
                ));
                self.network.push(InFlight {
                    tab,
                    generation,
                    request,
                    fingerprint: Some(fingerprint.clone()),
                    body: Request::Create { key, fingerprint },
                    reply: None,
                });
            }
            Action::SendStatus { request, .. } => {
                self.network.push(InFlight {
                    tab,
                    generation,
                    request,
                    body: Request::Status,
                    reply: None,
                    fingerprint: None,
                });
            }
            Action::Launch {
                request,
                attempt_id,
                ..
            } => {
                assert!(
                    !self.tabs[tab].told_paid && !self.storage_says_paid(),
                    "tab {tab} launched {attempt_id} after the order was reported paid\n{}",
                    self.log.join("\n")
                );
                self.log.push(format!("tab {tab} launch {attempt_id}"));
                self.tabs[tab]
                    .launches
                    .push((request, attempt_id.as_str().to_owned()));
            }
            Action::Emit(Event::Outcome(outcome)) => self.tabs[tab].outcomes_emitted.push(outcome),
            Action::Emit(_) => {}
            Action::Resolve { callers, result } => {
                for caller in callers {
                    assert!(
                        self.tabs[tab].open_callers.remove(&caller.0),
                        "caller {} resolved twice or never asked",
                        caller.0
                    );
                }
                if let Ok(outcome) = result {
                    assert!(
                        self.tabs[tab].outcomes_emitted.contains(&outcome),
                        "tab {tab} resolved {outcome:?} without an outcome event\n{}",
                        self.log.join("\n")
                    );
                    self.log
                        .push(format!("tab {tab} outcome {:?}", outcome.status));
                    self.tabs[tab].last_outcome = Some(outcome.status);
                }
            }
            Action::Broadcast { status, .. } => {
                for other in 0..self.tabs.len() {
                    if other != tab {
                        self.broadcasts.push((other, status));
                    }
                }
            }
            Action::LoadSubmission { .. }
            | Action::PersistSubmission(_)
            | Action::RemoveSubmission { .. }
            | Action::SendSubmit { .. }
            | Action::ResolveSubmit { .. } => {
                panic!("tab {tab}: a submission action, but this world never submits")
            }
        }
    }

    /// "Every buyer can finish", after every input a tab handled: a tab with no call running
    /// has no caller left waiting and no button left locked.
    fn check_ui(&self, tab: usize) {
        let t = &self.tabs[tab];
        if t.guard.is_busy(&order()) {
            return;
        }
        assert!(
            t.open_callers.is_empty(),
            "tab {tab} is idle with callers never answered: {:?}\n{}",
            t.open_callers,
            self.log.join("\n")
        );
        assert!(
            !t.button_locked,
            "tab {tab} is idle with its button locked\n{}",
            self.log.join("\n")
        );
    }

    /// The promise, checked when a tab sends a never-sent key.
    fn check_new_key(&self, tab: usize, fingerprint: &Fingerprint) {
        let live_same = self.server.attempts.iter().any(|a| {
            a.state == AttemptState::Live
                && self.now < a.expires_at
                && &a.fingerprint == fingerprint
        });
        assert!(
            !live_same,
            "a new key was sent while an attempt for the same content could still be paid\n{}",
            self.log.join("\n")
        );
        assert!(
            !self.tabs[tab].told_paid && !self.storage_says_paid(),
            "a new key was sent after the order was reported paid\n{}",
            self.log.join("\n")
        );
    }

    fn storage_says_paid(&self) -> bool {
        self.storage.as_deref().is_some_and(|text| {
            Record::decode(text, "buyer", &order()).is_ok_and(|r| r.state == RecordState::Paid)
        })
    }

    fn deliver_request(&mut self, pick: usize, duplicate: bool) {
        let pending: Vec<usize> = (0..self.network.len())
            .filter(|&i| self.network[i].reply.is_none())
            .collect();
        if pending.is_empty() {
            return;
        }
        let index = pending[pick % pending.len()];
        let reply = match &self.network[index].body {
            Request::Create { key, fingerprint } => {
                self.server.create(key.as_str(), fingerprint, self.now)
            }
            Request::Status => self.server.status(self.now),
        };
        self.log.push(format!("server: {} {}", reply.0, reply.1));
        if !duplicate {
            self.network[index].reply = Some(reply);
        }
    }

    fn deliver_reply(&mut self, pick: usize) {
        let ready: Vec<usize> = (0..self.network.len())
            .filter(|&i| self.network[i].reply.is_some())
            .collect();
        if ready.is_empty() {
            return;
        }
        let flight = self.network.remove(ready[pick % ready.len()]);
        let Some((status, body)) = flight.reply.clone() else {
            return;
        };
        let http = HttpReply {
            status,
            retry_after: None,
            body: &body,
        };
        let input = match &flight.body {
            Request::Create { fingerprint, .. } => Input::CreateReplied {
                order_no: order(),
                request: flight.request,
                reply: parse_create(&http, &order(), fingerprint),
                server_now: parse_server_now(&body),
            },
            Request::Status => Input::StatusReplied {
                order_no: order(),
                request: flight.request,
                reply: parse_status(&http, &order()),
                server_now: parse_server_now(&body),
            },
        };
        let says_paid = matches!(
            &input,
            Input::CreateReplied {
                reply: CreateReply::AlreadyPaid,
                ..
            } | Input::StatusReplied {
                reply: StatusReply::Status(OrderStatus::Paid(_)),
                ..
            }
        );
        if flight.generation == self.tabs[flight.tab].generation {
            self.tabs[flight.tab].told_paid |= says_paid;
            self.feed(flight.tab, input);
        }
    }

    /// The network loses a request (before or after the server acted on it).
    fn lose(&mut self, pick: usize) {
        if self.network.is_empty() {
            return;
        }
        let index = pick % self.network.len();
        let flight = self.network.remove(index);
        self.log
            .push(format!("lost a request of tab {}", flight.tab));
        // The shell's transport time-out then reports it.
        self.report_no_reply(flight);
    }

    /// The shell gives up waiting (the request may still reach the server later).
    fn time_out(&mut self, pick: usize) {
        if self.network.is_empty() {
            return;
        }
        let index = pick % self.network.len();
        let flight = self.network[index].clone();
        // The request stays in the network: it may still arrive, but its reply is lost.
        self.network[index].generation = u32::MAX;
        self.report_no_reply(flight);
    }

    fn report_no_reply(&mut self, flight: InFlight) {
        if flight.generation != self.tabs[flight.tab].generation {
            return;
        }
        let input = match flight.body {
            Request::Create { .. } => Input::CreateReplied {
                order_no: order(),
                request: flight.request,
                reply: CreateReply::NoReply,
                server_now: None,
            },
            Request::Status => Input::StatusReplied {
                order_no: order(),
                request: flight.request,
                reply: StatusReply::NoReply,
                server_now: None,
            },
        };
        self.feed(flight.tab, input);
    }

    fn finish_launch(&mut self, pick: usize, wallet: Wallet) {
        let open: Vec<(usize, usize)> = self
            .tabs
            .iter()
            .enumerate()
            .flat_map(|(t, tab)| (0..tab.launches.len()).map(move |i| (t, i)))
            .collect();
        if open.is_empty() {
            return;
        }
        let (tab, index) = open[pick % open.len()];
        let (request, attempt) = self.tabs[tab].launches.remove(index);
        let result = match wallet {
            Wallet::PayThenOk => {
                // The buyer pays in the wallet, then the launcher returns ok.
                if let Some(i) = self.server.attempts.iter().position(|a| a.id == attempt) {
                    self.server.wallet_confirm(i, self.now);
                }
                LaunchResult::Ok
            }
            Wallet::Ok => LaunchResult::Ok,
            // A wallet cannot cancel what is already paid: it shows the payment as done.
            Wallet::Cancel if self.attempt_paid(&attempt) => LaunchResult::Ok,
            Wallet::Cancel => LaunchResult::Cancelled,
            Wallet::Fail => LaunchResult::Failed,
        };
        self.log
            .push(format!("tab {tab} launcher returned {result:?}"));
        self.feed(
            tab,
            Input::Launched {
                order_no: order(),
                request,
                result,
            },
        );
    }

    fn attempt_paid(&self, id: &str) -> bool {
        self.server
            .attempts
            .iter()
            .any(|a| a.id == id && a.state == AttemptState::Paid)
    }

    /// The buyer pays some attempt whose prepay they still have (e.g. a QR code on screen).
    fn wallet_pay(&mut self, pick: usize) {
        if self.server.attempts.is_empty() {
            return;
        }
        let index = pick % self.server.attempts.len();
        let charged = self.server.wallet_confirm(index, self.now);
        self.log
            .push(format!("wallet pays attempt {index}: charged={charged}"));
    }

    fn fire_timer(&mut self, tab: usize) {
        if let Some(at) = self.tabs[tab].guard.poll_timeout() {
            // `at` is on the buyer's clock.
            let real = Millis((at.0 as i64 - self.skew).max(0) as u64);
            self.now = self.now.max(real);
            self.feed(tab, Input::TimerFired);
        }
    }

    /// The buyer's clock.
    pub fn client_now(&self) -> Millis {
        Millis((self.now.0 as i64 + self.skew).max(0) as u64)
    }

    /// The buyer's clock jumps by `ms` (the server's does not).
    pub fn jump_clock(&mut self, ms: i64) {
        self.skew += ms;
        self.log.push(format!("buyer clock jumps {ms} ms"));
    }

    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
    }

    /// The tab reloads: its page (guard, requests, launcher) is gone; the lock is released.
    fn reload(&mut self, tab: usize, resume: bool) {
        let generation = self.tabs[tab].generation + 1;
        let fresh = self.new_tab(generation);
        self.tabs[tab] = fresh;
        if self.lock == Some(tab) {
            self.lock = None;
        }
        self.log.push(format!("tab {tab} reloaded"));
        if resume {
            self.feed(tab, Input::Resume { order_no: order() });
        }
    }

    fn deliver_broadcast(&mut self, pick: usize) {
        if self.broadcasts.is_empty() {
            return;
        }
        let (tab, status) = self.broadcasts.remove(pick % self.broadcasts.len());
        self.tabs[tab].told_paid |= status == OutcomeStatus::Paid;
        self.feed(
            tab,
            Input::OtherTabFinished {
                order_no: order(),
                status,
            },
        );
    }

    /// The server-side half of the promise, after every step.
    pub fn check(&self) {
        assert!(
            self.server.charges <= 1,
            "charged twice\n{}",
            self.log.join("\n")
        );
        let live = self
            .server
            .attempts
            .iter()
            .filter(|a| a.state == AttemptState::Live)
            .count();
        assert!(live <= 1, "two live attempts\n{}", self.log.join("\n"));
    }

    /// Lets the world settle with a reliable network and a buyer who never returns: every
    /// caller must get an answer and every tab must let go of the lock.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            if let Some(i) = (0..self.network.len()).find(|&i| self.network[i].reply.is_none()) {
                self.deliver_request(i, false);
                continue;
            }
            if !self.network.is_empty() {
                self.deliver_reply(0);
                continue;
            }
            if !self.broadcasts.is_empty() {
                self.deliver_broadcast(0);
                continue;
            }
            if let Some(tab) = (0..self.tabs.len()).find(|&t| !self.tabs[t].launches.is_empty()) {
                // The buyer walks away from the wallet (unless it was paid already).
                let (request, attempt) = self.tabs[tab].launches.remove(0);
                let result = if self.attempt_paid(&attempt) {
                    LaunchResult::Ok
                } else {
                    LaunchResult::Cancelled
                };
                self.feed(
                    tab,
                    Input::Launched {
                        order_no: order(),
                        request,
                        result,
                    },
                );
                continue;
            }
            let next = (0..self.tabs.len())
                .filter_map(|t| self.tabs[t].guard.poll_timeout().map(|at| (at, t)))
                .min();
            match next {
                Some((_, tab)) => self.fire_timer(tab),
                None => break,
            }
            self.check();
        }
        for (t, tab) in self.tabs.iter().enumerate() {
            assert!(
                tab.open_callers.is_empty(),
                "tab {t} callers never answered: {:?}\n{}",
                tab.open_callers,
                self.log.join("\n")
            );
            assert!(
                !tab.guard.is_busy(&order()),
                "tab {t} still busy after settling"
            );
        }
        assert_eq!(self.lock, None, "a lock was never released");
    }

    /// "Every buyer can finish", after settling: whatever happened before (lost replies,
    /// reloads, a clock hours off, content changes), a buyer who clicks Pay in a tab and pays
    /// whatever the wallet shows ends with the order paid, within a few clicks, with a
    /// reliable network.
    pub fn buyer_can_finish(&mut self) {
        for _ in 0..3 {
            if self.server.paid() {
                break;
            }
            self.click(0);
            for _ in 0..10_000 {
                if let Some(i) = (0..self.network.len()).find(|&i| self.network[i].reply.is_none())
                {
                    self.deliver_request(i, false);
                } else if !self.network.is_empty() {
                    self.deliver_reply(0);
                } else if !self.broadcasts.is_empty() {
                    self.deliver_broadcast(0);
                } else if let Some(tab) =
                    (0..self.tabs.len()).find(|&t| !self.tabs[t].launches.is_empty())
                {
                    // This buyer pays what the wallet shows.
                    let (request, attempt) = self.tabs[tab].launches.remove(0);
                    if let Some(i) = self.server.attempts.iter().position(|a| a.id == attempt) {
                        self.server.wallet_confirm(i, self.now);
                    }
                    self.feed(
                        tab,
                        Input::Launched {
                            order_no: order(),
                            request,
                            result: LaunchResult::Ok,
                        },
                    );
                } else {
                    let next = (0..self.tabs.len())
                        .filter_map(|t| self.tabs[t].guard.poll_timeout().map(|at| (at, t)))
                        .min();
                    match next {
                        Some((_, tab)) => self.fire_timer(tab),
                        None => break,
                    }
                }
                self.check();
            }
        }
        assert!(
            self.server.paid(),
            "a buyer who wants to pay could not\n{}",
            self.log.join("\n")
        );
        assert_eq!(
            self.tabs[0].last_outcome,
            Some(OutcomeStatus::Paid),
            "the buyer was not told paid\n{}",
            self.log.join("\n")
        );
    }

    /// After settling: if the order is paid, a fresh page paying again is told `paid`, and
    /// launches nothing and mints nothing (checked in `perform`).
    pub fn pay_again_after_settling(&mut self) {
        if !self.server.paid() {
            return;
        }
        self.reload(0, false);
        self.click(0);
        self.settle();
        assert_eq!(
            self.tabs[0].last_outcome,
            Some(OutcomeStatus::Paid),
            "paying a paid order again\n{}",
            self.log.join("\n")
        );
    }
}
