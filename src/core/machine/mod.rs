//! The guard: for each business order, decides whether a payment may start.
//!
//! Quinn-style and sans-IO: feed every event with [`Guard::handle`] together with the current
//! time, then drain [`Guard::poll_action`] and perform the actions in order, then arm the one
//! platform timer to [`Guard::poll_timeout`] and feed [`Input::TimerFired`] when it fires.
//!
//! The rules it keeps, in the order a payment meets them:
//!
//! 1. A second `pay` for an order in flight **joins** it (same result, no new action); with other
//!    content it is refused ([`PayError::Busy`]). A paid order answers `paid` at once.
//! 2. All work on an order happens under the **cross-tab lock**; only the holder writes the
//!    record. A tab that finds the lock taken waits for the other tab's broadcast outcome,
//!    trying the lock again now and then.
//! 3. The stored record decides what needs no server: `paid` is final; `creating` for the same
//!    content re-sends the **same** key. Anything else (nothing stored, a stored prepay, an
//!    expired prepay, a dead attempt, other content, an unusable record) **asks the server**
//!    first. A stored prepay is **launched only after the server confirmed it** (a status reply
//!    naming a live attempt for this content), and what is launched is the server's prepay: a
//!    record naming another attempt is reported ([`Event::RecordMismatch`]) and never launched.
//! 4. A **new key** is minted only right after the server said, in this call, that no attempt
//!    for this content could still be paid: `none`, `closed`, `failed`, or a live attempt for
//!    other content (which the server closes before creating: `docs/contract.md` rule 1.3).
//!    The key is **persisted before** the create request that uses it is sent. Any report of
//!    `paid`, even a late reply to an earlier request, makes the order final in this page.
//! 5. A create that fails, times out or breaks the contract is re-sent with the same key a
//!    bounded number of times, then the outcome is **pending**. Nothing unclear ever mints a key.
//! 6. After launching, the status is polled ([`crate::core::schedule`]) until paid, dead, or the
//!    deadline (then **pending**). Coming back to the page restarts the fast checks.
//! 7. The wallet's "cancelled" or "failed" is checked with one status query before it is
//!    reported (the buyer may have paid anyway); a `resume` always ends with an outcome.
//! 8. **Server time.** Every expiry is judged on the server's clock: the offset to the device
//!    clock is learned from each reply's `now`, and when it jumps (the device clock was changed)
//!    every timer moves with it. A wrong device clock never locks a buyer out.
//! 9. **Never stuck.** A wallet silent for `launchTimeoutMs` is checked with one status query;
//!    still unpaid, the call ends **pending** (reason `wallet_no_reply`) and a later `pay`
//!    reopens the same prepay once the server confirms it; a late answer of that wallet is
//!    still heard. A `pay` joining a `resume` that waits for a payment turns it into a decision
//!    (one status query now), so a click never waits for a poll's deadline.
//! 10. **Every call ends with an outcome.** A `pay` is settled with an [`Event::Outcome`],
//!     its callers resolved and the button unlocked (or shown paid); an error unlocks the
//!     button too. Every tab that has the order open hears another tab's outcome, and a tab
//!     shown again looks at the server for the orders it shows unsettled.

mod io;
mod submit;

pub use io::{
    Action, CallerId, Event, Input, LaunchResult, Loaded, LockResult, Outcome, OutcomeStatus,
    PayError, Reason, RequestId, SubmitError, Submitted,
};

use super::config::{Config, ConfigError};
use super::contract::{Attempt, CreateReply, OrderStatus, StatusReply};
use super::entropy::Entropy;
use super::fingerprint::Fingerprint;
use super::ids::OrderNo;
use super::record::{Record, RecordState, RECORD_VERSION};
use super::schedule::PollRun;
use super::time::Millis;
use crate::core::map::SortedMap;
use std::collections::VecDeque;

/// A clock step back smaller than this is ordinary jitter between inputs, not a jump.
const CLOCK_JUMP_MS: u64 = 1000;

/// A change of the server-minus-device offset larger than this between two replies is the
/// device clock being changed, not network delay (ms).
const SERVER_CLOCK_JUMP_MS: i64 = 5000;

/// Longest wait between two create retries (ms).
const MAX_CREATE_BACKOFF_MS: u64 = 30_000;

/// Why a call is running: a buyer's `pay`, or a `resume` that only looks (never launches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pay,
    Resume,
}

/// What a status query is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Deciding whether to reuse, re-create or stop, before anything is launched.
    Decide,
    /// Waiting for the buyer's payment to be confirmed after launching.
    AwaitPayment,
    /// One look before reporting something the server has not confirmed.
    Check(Why),
}

/// What a [`Purpose::Check`] is about to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The wallet said the buyer cancelled; the buyer may still have paid (another device, a
    /// wallet that reports its own close as a cancel).
    WalletCancelled,
    /// The wallet said it failed; the same doubt.
    WalletFailed,
    /// A resumed order that this page never launched (nothing stored, a create, a dead
    /// attempt): what became of it.
    Resume,
    /// A resumed order whose stored prepay was launched before and came back unpaid (a
    /// cancel): what became of it.
    ResumeLaunched,
    /// The wallet stayed silent past `launchTimeoutMs`: is the attempt paid, paying, or not?
    WalletSilent,
}

impl Why {
    /// The outcome when the server shows the attempt live and unpaid (or none at all).
    fn unpaid(self) -> (OutcomeStatus, Option<Reason>) {
        match self {
            Why::WalletCancelled => (OutcomeStatus::Cancelled, None),
            Why::WalletFailed => (OutcomeStatus::Failed, Some(Reason::Wallet)),
            Why::Resume => (OutcomeStatus::Cancelled, Some(Reason::NotStarted)),
            Why::ResumeLaunched => (OutcomeStatus::Cancelled, None),
            Why::WalletSilent => (OutcomeStatus::Pending, Some(Reason::WalletNoReply)),
        }
    }

    /// The outcome when the server cannot be asked: the wallet's word, or pending.
    fn unknown(self, problem: Reason) -> (OutcomeStatus, Option<Reason>) {
        match self {
            Why::WalletCancelled => (OutcomeStatus::Cancelled, Some(problem)),
            Why::WalletFailed => (OutcomeStatus::Failed, Some(Reason::Wallet)),
            Why::Resume | Why::ResumeLaunched | Why::WalletSilent => {
                (OutcomeStatus::Pending, Some(problem))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    Locking,
    WaitingTab,
    Loading,
    Creating { tries: u32 },
    Launching,
    Polling { purpose: Purpose, run: PollRun },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerKind {
    LockRetry,
    CreateRetry,
    NextQuery,
}

/// One order's state in this page.
#[derive(Debug, Clone)]
struct Slot {
    phase: Phase,
    mode: Mode,
    callers: Vec<CallerId>,
    /// The fingerprint `pay` was called with (`None` for a resume).
    want: Option<Fingerprint>,
    /// The record as last loaded or written by this tab.
    record: Option<Record>,
    /// The reply the current phase waits for.
    awaiting: Option<RequestId>,
    /// A launch still out (it may overlap polling once the buyer came back, and outlive the
    /// call when the wallet stayed silent: its late answer is still heard).
    launch: Option<RequestId>,
    /// When a silent wallet is checked with the server (rule 9), while `launch` is out.
    launch_deadline: Option<Millis>,
    timer: Option<(Millis, TimerKind)>,
    holds_lock: bool,
    waiting_since: Option<Millis>,
    reused: bool,
    /// The server (or another tab) said paid: nothing may start for this order again.
    paid: bool,
    last_status: Option<OutcomeStatus>,
    problem: Option<Reason>,
    retry_after: Option<u64>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            phase: Phase::Idle,
            mode: Mode::Pay,
            callers: Vec::new(),
            want: None,
            record: None,
            awaiting: None,
            launch: None,
            launch_deadline: None,
            timer: None,
            holds_lock: false,
            waiting_since: None,
            reused: false,
            paid: false,
            last_status: None,
            problem: None,
            retry_after: None,
        }
    }
}

/// The guard for all orders of one page. See the module documentation for the calling
/// contract and the rules.
#[derive(Debug, Clone)]
pub struct Guard {
    config: Config,
    entropy: Entropy,
    orders: SortedMap<OrderNo, Slot>,
    /// Submissions of the order form, by content fingerprint (`submit`).
    submits: SortedMap<Fingerprint, submit::SubmitSlot>,
    actions: VecDeque<Action>,
    next_request: u64,
    last_now: Option<Millis>,
    /// Server clock minus device clock (ms), from the latest reply carrying `now`.
    server_offset: Option<i64>,
}

impl Guard {
    /// A guard with `config`, drawing keys and jitter from `seed` (32 bytes from the platform's
    /// cryptographic random source).
    pub fn new(config: Config, seed: [u8; 32]) -> Result<Guard, ConfigError> {
        config.validate()?;
        Ok(Guard {
            config,
            entropy: Entropy::new(seed),
            orders: SortedMap::new(),
            submits: SortedMap::new(),
            actions: VecDeque::new(),
            next_request: 0,
            last_now: None,
            server_offset: None,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next action to perform, in order; drain until `None` after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to feed [`Input::TimerFired`]: the earliest deadline of any order.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let orders = self
            .orders
            .values()
            .flat_map(|slot| [slot.timer.map(|(at, _)| at), slot.launch_deadline])
            .flatten();
        let submits = self.submits.values().filter_map(|slot| slot.timer);
        orders.chain(submits).min()
    }

    /// Whether a call for this order is running (the shell's fast path for a double click:
    /// no need to compute a fingerprint to know the click joins).
    pub fn is_busy(&self, order_no: &OrderNo) -> bool {
        self.orders
            .get(order_no)
            .is_some_and(|slot| slot.phase != Phase::Idle)
    }

    /// Whether no call is running for any order and no timer is armed: nothing would ever
    /// feed this guard again on its own. Shells keep a busy guard alive (a page may drop its
    /// last reference mid-payment) and let an idle one go.
    pub fn is_idle(&self) -> bool {
        self.orders.values().all(|slot| {
            slot.phase == Phase::Idle && slot.timer.is_none() && slot.launch_deadline.is_none()
        }) && self.submits.values().all(|slot| !slot.is_busy())
    }

    /// Whether this page knows the order is paid.
    pub fn is_paid(&self, order_no: &OrderNo) -> bool {
        self.orders.get(order_no).is_some_and(|slot| slot.paid)
    }

    /// Drops everything known about an order, its stored record included, so that it may be
    /// paid again (e.g. the merchant reopened it). Refused while a call for it is running.
    pub fn forget(&mut self, order_no: &OrderNo) -> Result<(), PayError> {
        if self.is_busy(order_no) {
            return Err(PayError::Busy);
        }
        self.orders.remove(order_no);
        self.actions.push_back(Action::Remove {
            order_no: order_no.clone(),
        });
        Ok(())
    }

    /// Feeds one event that happened at `now`.
    pub fn handle(&mut self, input: Input, now: Millis) {
        self.observe_clock(now);
        match input {
            Input::Pay {
                order_no,
                fingerprint,
                caller,
            } => self.on_pay(order_no, fingerprint, caller, now),
            Input::Resume { order_no } => self.on_resume(order_no, now),
            Input::TabLock {
                order_no,
                request,
                result,
            } => {
                if self.expects(&order_no, request) {
                    self.on_tab_lock(&order_no, result, now);
                }
            }
            Input::RecordLoaded {
                order_no,
                request,
                loaded,
            } => {
                if self.expects(&order_no, request) {
                    self.on_loaded(&order_no, loaded, now);
                }
            }
            Input::CreateReplied {
                order_no,
                request,
                reply,
                server_now,
            } => {
                self.learn_server_clock(server_now, now);
                if self.expects(&order_no, request) {
                    self.on_create_reply(&order_no, reply, now);
                } else if reply == CreateReply::AlreadyPaid {
                    self.on_late_paid(&order_no);
                }
            }
            Input::StatusReplied {
                order_no,
                request,
                reply,
                server_now,
            } => {
                self.learn_server_clock(server_now, now);
                if self.expects(&order_no, request) {
                    self.on_status_reply(&order_no, reply, now);
                } else if matches!(reply, StatusReply::Status(OrderStatus::Paid(_))) {
                    self.on_late_paid(&order_no);
                }
            }
            Input::Launched {
                order_no,
                request,
                result,
            } => {
                let expected = self
                    .orders
                    .get(&order_no)
                    .is_some_and(|slot| slot.launch == Some(request));
                if expected {
                    self.on_launched(&order_no, result, now);
                }
            }
            Input::TimerFired => {
                self.on_timer(now);
                self.on_submit_timer(now);
            }
            Input::Submit {
                content,
                fingerprint,
                caller,
            } => self.on_submit(content, fingerprint, caller, now),
            Input::SubmissionLoaded {
                fingerprint,
                request,
                loaded,
            } => self.on_submission_loaded(&fingerprint, request, loaded, now),
            Input::SubmitReplied {
                fingerprint,
                request,
                reply,
                server_now,
            } => {
                self.learn_server_clock(server_now, now);
                self.on_submit_reply(&fingerprint, request, reply, now)
            }
            Input::PageShown => self.on_page_shown(now),
            Input::OtherTabFinished { order_no, status } => {
                self.on_other_tab(&order_no, status, now)
            }
        }
    }

    // ----- inputs -----

    fn on_pay(
        &mut self,
        order_no: OrderNo,
        fingerprint: Fingerprint,
        caller: CallerId,
        now: Millis,
    ) {
        let slot = self.orders.get_or_insert_with(order_no.clone(), Slot::new);
        if slot.paid && slot.phase == Phase::Idle {
            // Rules 1 and 10: known paid here (a reply, another tab): settled at once, with
            // the outcome event and the button shown paid, like any other call.
            slot.callers = vec![caller];
            slot.reused = true;
            return self.finish(&order_no, OutcomeStatus::Paid, None);
        }
        if slot.phase != Phase::Idle {
            if slot.mode == Mode::Resume {
                // A resume becomes this payment: its result answers the buyer.
                slot.mode = Mode::Pay;
                slot.want = Some(fingerprint);
                slot.callers.push(caller);
                let polling = matches!(slot.phase, Phase::Polling { .. });
                self.actions.push_back(Action::LockUi {
                    order_no: order_no.clone(),
                });
                self.emit(Event::Locked {
                    order_no: order_no.clone(),
                });
                if polling {
                    // Rule 9: the buyer asks to pay now; a poll waiting for its deadline
                    // must not hold the click. One status query decides (and reopens the same
                    // prepay when the server confirms it live).
                    self.start_polling(&order_no, Purpose::Decide, now);
                }
            } else if slot.want.as_ref() == Some(&fingerprint) {
                slot.callers.push(caller);
            } else {
                self.actions.push_back(Action::Resolve {
                    callers: vec![caller],
                    result: Err(PayError::Busy),
                });
            }
            return;
        }
        slot.mode = Mode::Pay;
        slot.want = Some(fingerprint);
        slot.callers = vec![caller];
        slot.reused = false;
        slot.problem = None;
        slot.waiting_since = None;
        self.actions.push_back(Action::LockUi {
            order_no: order_no.clone(),
        });
        self.emit(Event::Locked {
            order_no: order_no.clone(),
        });
        self.acquire_lock(&order_no, now);
    }

    fn on_resume(&mut self, order_no: OrderNo, now: Millis) {
        let slot = self.orders.get_or_insert_with(order_no.clone(), Slot::new);
        if slot.phase != Phase::Idle {
            return;
        }
        slot.mode = Mode::Resume;
        slot.want = None;
        slot.callers.clear();
        slot.reused = false;
        slot.problem = None;
        slot.waiting_since = None;
        self.acquire_lock(&order_no, now);
    }

    fn on_tab_lock(&mut self, order_no: &OrderNo, result: LockResult, now: Millis) {
        let lock_wait = self.config.lock_wait_ms;
        let lock_retry = self.config.lock_retry_ms;
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        slot.awaiting = None;
        match result {
            LockResult::Acquired => {
                slot.holds_lock = true;
                let request = self.request_id();
                self.set_waiting(order_no, Phase::Loading, request);
                self.actions.push_back(Action::LoadRecord {
                    order_no: order_no.clone(),
                    request,
                });
            }
            LockResult::HeldElsewhere => {
                let since = *slot.waiting_since.get_or_insert(now);
                let first = slot.phase != Phase::WaitingTab;
                slot.phase = Phase::WaitingTab;
                if now.since(since) >= lock_wait {
                    self.finish(order_no, OutcomeStatus::Pending, Some(Reason::OtherTab));
                    return;
                }
                slot.timer = Some((now.plus(lock_retry), TimerKind::LockRetry));
                if first {
                    self.emit(Event::WaitingForOtherTab {
                        order_no: order_no.clone(),
                    });
                }
            }
        }
    }

    fn on_loaded(&mut self, order_no: &OrderNo, loaded: Loaded, now: Millis) {
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        slot.awaiting = None;
        let unusable = match loaded {
            Loaded::Found(record) => {
                let state = record.state;
                slot.record = Some(record);
                self.emit(Event::RecordLoaded {
                    order_no: order_no.clone(),
                    state: Some(state),
                });
                false
            }
            Loaded::Missing => {
                slot.record = None;
                self.emit(Event::RecordLoaded {
                    order_no: order_no.clone(),
                    state: None,
                });
                false
            }
            Loaded::Unusable(error) => {
                slot.record = None;
                self.emit(Event::RecordRejected {
                    order_no: order_no.clone(),
                    error: error.message(),
                });
                true
            }
        };
        self.decide_after_load(order_no, unusable, now);
    }

    /// Rule 3 of the module doc: what the stored record allows.
    fn decide_after_load(&mut self, order_no: &OrderNo, unusable: bool, now: Millis) {
        #[derive(PartialEq)]
        enum Next {
            Finish,
            Poll(Purpose),
            Resend,
        }
        let Some(slot) = self.orders.get(order_no) else {
            return;
        };
        let record = slot.record.as_ref();
        let next = if slot.mode == Mode::Resume {
            match record.map(|r| r.state) {
                Some(RecordState::Launched) => Next::Poll(Purpose::AwaitPayment),
                Some(RecordState::Paid) => Next::Finish,
                // A prepay launched before and confirmed unpaid since (a cancel): one look.
                Some(RecordState::Ready) => Next::Poll(Purpose::Check(Why::ResumeLaunched)),
                // Never launched here: one look at the server, never a create.
                _ => Next::Poll(Purpose::Check(Why::Resume)),
            }
        } else if unusable {
            Next::Poll(Purpose::Decide)
        } else if let Some(record) = record {
            let same_content = slot.want.as_ref() == Some(&record.fingerprint);
            match record.state {
                RecordState::Paid => Next::Finish,
                RecordState::Creating if same_content => Next::Resend,
                // A stored prepay (ready or launched), an expired or dead attempt, other
                // content: only the server can say whether an attempt could still be paid, and
                // a stored prepay is launched only once the server confirms it (rule 3).
                _ => Next::Poll(Purpose::Decide),
            }
        } else {
            // Nothing stored (a new order, or cleared storage, or another device): ask first.
            Next::Poll(Purpose::Decide)
        };
        match next {
            Next::Finish => self.finish(order_no, OutcomeStatus::Paid, None),
            Next::Poll(purpose) => self.start_polling(order_no, purpose, now),
            Next::Resend => self.send_create(order_no, 0, now),
        }
    }

    fn on_create_reply(&mut self, order_no: &OrderNo, reply: CreateReply, now: Millis) {
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        slot.awaiting = None;
        match reply {
            CreateReply::Attempt(attempt) => {
                slot.reused = attempt.reused;
                self.adopt(order_no, attempt, now);
                let expires_at = self.record_of(order_no).and_then(|r| r.expires_at);
                if self.usable(expires_at, now) {
                    self.launch(order_no, false, now);
                } else {
                    // Too close to expiry to launch: the server will close it, then a new
                    // attempt may start.
                    self.start_polling(order_no, Purpose::Decide, now);
                }
            }
            CreateReply::AlreadyPaid => self.finish(order_no, OutcomeStatus::Paid, None),
            CreateReply::KeyReused => self.start_polling(order_no, Purpose::Decide, now),
            CreateReply::Rejected { status, code } => {
                self.refuse(order_no, PayError::Rejected { status, code })
            }
            CreateReply::InProgress { retry_after_ms }
            | CreateReply::Unavailable { retry_after_ms } => {
                self.retry_create(order_no, retry_after_ms, Reason::ServerBusy, now)
            }
            CreateReply::Invalid(_) => {
                self.retry_create(order_no, None, Reason::ServerContract, now)
            }
            CreateReply::NoReply => self.retry_create(order_no, None, Reason::Network, now),
        }
    }

    fn on_launched(&mut self, order_no: &OrderNo, result: LaunchResult, now: Millis) {
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        slot.launch = None;
        slot.launch_deadline = None;
        if slot.phase == Phase::Idle {
            // Rule 9: the late answer of a wallet that was silent past the launch time-out
            // (the call ended pending). "Ok" may mean paid: follow it without locking the
            // button; a late cancel changes nothing the buyer has not already been told.
            if result == LaunchResult::Ok && !slot.paid {
                self.on_resume(order_no.clone(), now);
            }
            return;
        }
        let launching = slot.phase == Phase::Launching;
        match result {
            LaunchResult::Ok if launching => {
                self.start_polling(order_no, Purpose::AwaitPayment, now)
            }
            // Already polling: the buyer came back before the launcher returned.
            LaunchResult::Ok => {}
            // The wallet's word is not the server's: one look before saying "not paid". The
            // record stays `launched` until the server shows the attempt unpaid.
            LaunchResult::Cancelled => {
                self.start_polling(order_no, Purpose::Check(Why::WalletCancelled), now)
            }
            LaunchResult::Failed => {
                self.start_polling(order_no, Purpose::Check(Why::WalletFailed), now)
            }
        }
    }

    fn on_status_reply(&mut self, order_no: &OrderNo, reply: StatusReply, now: Millis) {
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        slot.awaiting = None;
        slot.retry_after = None;
        let Phase::Polling { purpose, .. } = slot.phase else {
            return;
        };
        if let Purpose::Check(why) = purpose {
            return self.on_check_reply(order_no, why, reply, now);
        }
        let status = match reply {
            StatusReply::Status(status) => status,
            StatusReply::Unavailable { retry_after_ms } => {
                slot.retry_after = retry_after_ms;
                return self.status_problem(order_no, Reason::ServerBusy, now);
            }
            StatusReply::Invalid(_) => {
                return self.status_problem(order_no, Reason::ServerContract, now)
            }
            StatusReply::NoReply => return self.status_problem(order_no, Reason::Network, now),
        };
        slot.problem = None;
        self.emit(Event::StatusSeen {
            order_no: order_no.clone(),
            status: status.name(),
        });
        match (purpose, status) {
            (_, OrderStatus::Paid(attempt_id)) => {
                if let Some(id) = attempt_id {
                    self.update_record(order_no, now, |r| r.attempt_id = Some(id));
                }
                self.finish(order_no, OutcomeStatus::Paid, None)
            }
            (Purpose::Decide, OrderStatus::None) => {
                self.create_after_status(order_no, |state| state != RecordState::Dead, now)
            }
            (Purpose::Decide, OrderStatus::Unpaid(attempt)) => {
                let wanted = self.orders.get(order_no).and_then(|s| s.want.clone());
                if wanted.as_ref() != Some(&attempt.fingerprint) {
                    // Other content: the server closes this attempt before creating one.
                    self.create_after_status(order_no, |state| state == RecordState::Creating, now)
                } else if self.usable(attempt.expires_at, now) {
                    // Rule 3: the server confirmed this attempt live for this content; what is
                    // launched is its prepay, never one the record alone claims.
                    let stored = self
                        .record_of(order_no)
                        .filter(|r| r.prepay.is_some())
                        .map(|r| r.attempt_id.clone());
                    if let Some(stored) = stored {
                        if stored.as_ref() != Some(&attempt.attempt_id) {
                            self.emit(Event::RecordMismatch {
                                order_no: order_no.clone(),
                                stored,
                                server: attempt.attempt_id.clone(),
                            });
                        }
                    }
                    self.adopt(order_no, attempt, now);
                    self.launch(order_no, true, now)
                } else {
                    // About to expire: wait for the server to close it.
                    self.next_query(order_no, now)
                }
            }
            (Purpose::Decide, OrderStatus::Closed(_) | OrderStatus::Failed(_)) => {
                self.create_after_status(order_no, |state| state == RecordState::Creating, now)
            }
            (_, OrderStatus::Paying(_)) | (Purpose::AwaitPayment, OrderStatus::Unpaid(_)) => {
                self.next_query(order_no, now)
            }
            (Purpose::AwaitPayment, OrderStatus::None) => {
                // We launched an attempt the server does not know: not the contract.
                self.status_problem(order_no, Reason::ServerContract, now)
            }
            (Purpose::AwaitPayment, OrderStatus::Closed(id) | OrderStatus::Failed(id)) => {
                self.update_record(order_no, now, |r| {
                    r.state = RecordState::Dead;
                    r.attempt_id = Some(id);
                });
                self.finish(order_no, OutcomeStatus::Failed, Some(Reason::AttemptDead))
            }
            // Answered by `on_check_reply` before this match.
            (Purpose::Check(_), _) => {}
        }
    }

    /// The one look of a [`Purpose::Check`]: the server's word if it gives one, else the
    /// fallback of `why`. Never a create, never a launch.
    fn on_check_reply(&mut self, order_no: &OrderNo, why: Why, reply: StatusReply, now: Millis) {
        let status = match reply {
            StatusReply::Status(status) => status,
            StatusReply::Unavailable { .. } => {
                let (status, reason) = why.unknown(Reason::ServerBusy);
                return self.finish(order_no, status, reason);
            }
            StatusReply::Invalid(_) => {
                let (status, reason) = why.unknown(Reason::ServerContract);
                return self.finish(order_no, status, reason);
            }
            StatusReply::NoReply => {
                let (status, reason) = why.unknown(Reason::Network);
                return self.finish(order_no, status, reason);
            }
        };
        self.emit(Event::StatusSeen {
            order_no: order_no.clone(),
            status: status.name(),
        });
        match status {
            OrderStatus::Paid(attempt_id) => {
                if let Some(id) = attempt_id {
                    self.update_record(order_no, now, |r| r.attempt_id = Some(id));
                }
                self.finish(order_no, OutcomeStatus::Paid, None)
            }
            // The buyer is paying right now (another device, or the wallet is still busy).
            OrderStatus::Paying(_) => self.start_polling(order_no, Purpose::AwaitPayment, now),
            OrderStatus::Unpaid(attempt) => {
                let ours = self
                    .record_of(order_no)
                    .is_some_and(|r| r.attempt_id.as_ref() == Some(&attempt.attempt_id));
                if ours && why != Why::WalletSilent {
                    // Confirmed unpaid and live: paying again may reuse the prepay.
                    self.update_record(order_no, now, |r| {
                        if r.state == RecordState::Launched {
                            r.state = RecordState::Ready;
                        }
                    });
                }
                let (status, reason) = why.unpaid();
                self.finish(order_no, status, reason)
            }
            OrderStatus::None => {
                let (status, reason) = why.unpaid();
                self.finish(order_no, status, reason)
            }
            OrderStatus::Closed(id) | OrderStatus::Failed(id) => {
                self.update_record(order_no, now, |r| {
                    r.state = RecordState::Dead;
                    r.attempt_id = Some(id);
                });
                if why == Why::Resume {
                    // Never launched in this page (a reload during a create): the buyer did
                    // nothing wrong and has not started paying; the next pay goes on by the
                    // contract.
                    self.finish(order_no, OutcomeStatus::Cancelled, Some(Reason::NotStarted))
                } else {
                    self.finish(order_no, OutcomeStatus::Failed, Some(Reason::AttemptDead))
                }
            }
        }
    }

    /// A reply nobody waits for any more says paid: still the server's word, so the order is
    /// final here, and a call in flight ends paid rather than launching or creating.
    fn on_late_paid(&mut self, order_no: &OrderNo) {
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        slot.paid = true;
        if slot.phase != Phase::Idle {
            self.finish(order_no, OutcomeStatus::Paid, None);
        }
    }

    fn on_timer(&mut self, now: Millis) {
        let due: Vec<(OrderNo, TimerKind)> = self
            .orders
            .iter()
            .filter_map(|(order_no, slot)| match slot.timer {
                Some((at, kind)) if at <= now => Some((order_no.clone(), kind)),
                _ => None,
            })
            .collect();
        let silent: Vec<OrderNo> = self
            .orders
            .iter()
            .filter(|(_, slot)| slot.launch_deadline.is_some_and(|at| at <= now))
            .map(|(order_no, _)| order_no.clone())
            .collect();
        for order_no in silent {
            let Some(slot) = self.orders.get_mut(&order_no) else {
                continue;
            };
            slot.launch_deadline = None;
            let waiting = matches!(
                slot.phase,
                Phase::Launching
                    | Phase::Polling {
                        purpose: Purpose::AwaitPayment,
                        ..
                    }
            );
            if waiting && slot.mode == Mode::Pay {
                // Rule 9: the wallet never answered; one look at the server decides.
                self.start_polling(&order_no, Purpose::Check(Why::WalletSilent), now);
            }
        }
        for (order_no, kind) in due {
            if let Some(slot) = self.orders.get_mut(&order_no) {
                slot.timer = None;
            }
            match kind {
                TimerKind::LockRetry => self.acquire_lock(&order_no, now),
                TimerKind::CreateRetry => {
                    let tries = match self.orders.get(&order_no).map(|s| &s.phase) {
                        Some(Phase::Creating { tries }) => *tries,
                        _ => continue,
                    };
                    self.send_create(&order_no, tries, now)
                }
                TimerKind::NextQuery => self.send_status(&order_no, now),
            }
        }
    }

    fn on_page_shown(&mut self, now: Millis) {
        enum Step {
            QueryNow,
            StartPolling,
            Resume,
        }
        let orders: Vec<OrderNo> = self.orders.keys().cloned().collect();
        for order_no in orders {
            let Some(slot) = self.orders.get_mut(&order_no) else {
                continue;
            };
            let step = match &mut slot.phase {
                Phase::Polling { run, .. } => {
                    run.restart_fast(now);
                    slot.awaiting.is_none().then_some(Step::QueryNow)
                }
                Phase::Launching => Some(Step::StartPolling),
                // Rule 10: an order this tab shows unsettled may have been paid elsewhere (or
                // its payment confirmed meanwhile): one look at the server.
                Phase::Idle => (slot.last_status.is_some() && !slot.paid).then_some(Step::Resume),
                _ => None,
            };
            match step {
                Some(Step::QueryNow) => self.send_status(&order_no, now),
                Some(Step::StartPolling) => {
                    self.start_polling(&order_no, Purpose::AwaitPayment, now)
                }
                Some(Step::Resume) => self.on_resume(order_no, now),
                None => {}
            }
        }
    }

    fn on_other_tab(&mut self, order_no: &OrderNo, status: OutcomeStatus, _now: Millis) {
        let slot = self.orders.get_or_insert_with(order_no.clone(), Slot::new);
        if status == OutcomeStatus::Paid {
            slot.paid = true;
        }
        let waiting = matches!(slot.phase, Phase::WaitingTab | Phase::Locking) && !slot.holds_lock;
        if waiting {
            let reason = (status == OutcomeStatus::Pending).then_some(Reason::OtherTab);
            self.finish(order_no, status, reason);
        } else if slot.phase == Phase::Idle && status != OutcomeStatus::Pending {
            // Rule 10: an idle tab showing this order learns its outcome too (its button shows
            // paid, or ready again), without a call of its own.
            let outcome = Outcome {
                order_no: order_no.clone(),
                status,
                attempt_id: slot.record.as_ref().and_then(|r| r.attempt_id.clone()),
                reused: false,
                reason: (status != OutcomeStatus::Paid).then_some(Reason::OtherTab),
            };
            slot.last_status = Some(status);
            self.emit(Event::Outcome(outcome));
            self.actions.push_back(Action::UnlockUi {
                order_no: order_no.clone(),
                status: Some(status),
            });
        }
    }

    // ----- steps -----

    fn acquire_lock(&mut self, order_no: &OrderNo, _now: Millis) {
        let request = self.request_id();
        self.set_waiting(order_no, Phase::Locking, request);
        self.actions.push_back(Action::AcquireTabLock {
            order_no: order_no.clone(),
            request,
        });
    }

    /// Rule 4, once the status showed nothing for this content could still be paid: re-send the
    /// stored key when the record is for this content and in a state `resend_if` accepts (a
    /// `creating` record's create may still be on its way, or committed after the status was
    /// answered: a new key then would race it), else mint one. Re-sending a key is never wrong:
    /// the server answers it idempotently.
    fn create_after_status(
        &mut self,
        order_no: &OrderNo,
        resend_if: impl Fn(RecordState) -> bool,
        now: Millis,
    ) {
        let slot = self.orders.get(order_no);
        let resend = slot.and_then(|s| s.record.as_ref()).is_some_and(|r| {
            resend_if(r.state) && slot.and_then(|s| s.want.as_ref()) == Some(&r.fingerprint)
        });
        if resend {
            self.send_create(order_no, 0, now)
        } else {
            self.mint_and_create(order_no, now)
        }
    }

    /// Mints a key, persists it in a `creating` record, then sends the create request.
    fn mint_and_create(&mut self, order_no: &OrderNo, now: Millis) {
        if self.is_paid(order_no) {
            return self.finish(order_no, OutcomeStatus::Paid, None);
        }
        let Some(fingerprint) = self.orders.get(order_no).and_then(|s| s.want.clone()) else {
            return self.go_idle(order_no);
        };
        let record = Record {
            v: RECORD_VERSION,
            order_no: order_no.clone(),
            scope: self.config.scope.clone(),
            fingerprint,
            key: self.entropy.next_key(),
            attempt_id: None,
            prepay: None,
            created_at: now,
            expires_at: None,
            updated_at: now,
            state: RecordState::Creating,
        };
        self.persist(order_no, record);
        self.send_create_inner(order_no, 0, true, now);
    }

    /// Sends (again) the create request with the record's key. `tries` is how many sends of
    /// this key this call already made.
    fn send_create(&mut self, order_no: &OrderNo, tries: u32, now: Millis) {
        self.send_create_inner(order_no, tries, false, now)
    }

    fn send_create_inner(&mut self, order_no: &OrderNo, tries: u32, new_key: bool, _now: Millis) {
        let Some(record) = self.record_of(order_no) else {
            return self.go_idle(order_no);
        };
        let (key, fingerprint) = (record.key.clone(), record.fingerprint.clone());
        let request = self.request_id();
        self.set_waiting(order_no, Phase::Creating { tries: tries + 1 }, request);
        self.actions.push_back(Action::SendCreate {
            order_no: order_no.clone(),
            request,
            key: key.clone(),
            fingerprint,
        });
        self.emit(Event::CreateSent {
            order_no: order_no.clone(),
            key,
            new_key,
            try_no: tries + 1,
        });
    }

    fn retry_create(
        &mut self,
        order_no: &OrderNo,
        retry_after: Option<u64>,
        reason: Reason,
        now: Millis,
    ) {
        let (limit, base) = (self.config.create_retries, self.config.create_retry_ms);
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        let Phase::Creating { tries } = slot.phase else {
            return;
        };
        if tries > limit {
            // The record stays `creating`: the next pay re-sends the same key.
            return self.finish(order_no, OutcomeStatus::Pending, Some(reason));
        }
        let exponent = tries.saturating_sub(1).min(16);
        let delay = base
            .saturating_mul(1u64 << exponent)
            .min(MAX_CREATE_BACKOFF_MS)
            .max(retry_after.unwrap_or(0));
        slot.timer = Some((now.plus(delay), TimerKind::CreateRetry));
        self.emit(Event::Retrying {
            order_no: order_no.clone(),
            after_ms: delay,
            reason,
        });
    }

    /// Takes a live attempt from the server into the record (keeping the record's key, or
    /// minting one that was never sent when there was no usable record).
    fn adopt(&mut self, order_no: &OrderNo, attempt: Attempt, now: Millis) {
        let ttl = self.config.prepay_ttl_ms;
        // Expiries are kept on the server's clock (rule 8).
        let expires_at = Some(
            attempt
                .expires_at
                .unwrap_or(self.server_time(now).plus(ttl)),
        );
        let existing = self.record_of(order_no).cloned();
        let record = match existing {
            Some(mut record) => {
                record.fingerprint = attempt.fingerprint;
                record.attempt_id = Some(attempt.attempt_id);
                record.prepay = Some(attempt.prepay);
                record.expires_at = expires_at;
                record.updated_at = now.max(record.created_at);
                record.state = RecordState::Ready;
                record
            }
            None => Record {
                v: RECORD_VERSION,
                order_no: order_no.clone(),
                scope: self.config.scope.clone(),
                fingerprint: attempt.fingerprint,
                key: self.entropy.next_key(),
                attempt_id: Some(attempt.attempt_id),
                prepay: Some(attempt.prepay),
                created_at: now,
                expires_at,
                updated_at: now,
                state: RecordState::Ready,
            },
        };
        self.persist(order_no, record);
    }

    /// Marks the record `launched` (persisted first: the page may die while the wallet is
    /// open) and launches its prepay.
    fn launch(&mut self, order_no: &OrderNo, reused: bool, now: Millis) {
        if self.is_paid(order_no) {
            return self.finish(order_no, OutcomeStatus::Paid, None);
        }
        self.update_record(order_no, now, |r| r.state = RecordState::Launched);
        let Some(record) = self.record_of(order_no) else {
            return self.go_idle(order_no);
        };
        let (Some(attempt_id), Some(prepay)) = (record.attempt_id.clone(), record.prepay.clone())
        else {
            return self.start_polling(order_no, Purpose::Decide, now);
        };
        let request = self.request_id();
        let launch_timeout = self.config.launch_timeout_ms;
        if let Some(slot) = self.orders.get_mut(order_no) {
            slot.reused |= reused;
            slot.phase = Phase::Launching;
            slot.awaiting = None;
            slot.timer = None;
            slot.launch = Some(request);
            slot.launch_deadline = Some(now.plus(launch_timeout));
        }
        if reused {
            self.emit(Event::PrepayReused {
                order_no: order_no.clone(),
                attempt_id: attempt_id.clone(),
            });
        }
        self.emit(Event::LaunchStarted {
            order_no: order_no.clone(),
            attempt_id: attempt_id.clone(),
        });
        self.actions.push_back(Action::Launch {
            order_no: order_no.clone(),
            request,
            attempt_id,
            prepay,
        });
    }

    fn start_polling(&mut self, order_no: &OrderNo, purpose: Purpose, now: Millis) {
        // The prepay's expiry is on the server's clock; the run counts on the device's.
        let expiry = self
            .record_of(order_no)
            .and_then(|r| r.expires_at)
            .map(|at| self.to_local(at));
        let run = PollRun::start(&self.config.poll, now, expiry);
        if let Some(slot) = self.orders.get_mut(order_no) {
            slot.phase = Phase::Polling { purpose, run };
            slot.awaiting = None;
            slot.timer = None;
            slot.retry_after = None;
        }
        self.next_query(order_no, now);
    }

    fn status_problem(&mut self, order_no: &OrderNo, reason: Reason, now: Millis) {
        if let Some(slot) = self.orders.get_mut(order_no) {
            slot.problem = Some(reason);
        }
        self.next_query(order_no, now)
    }

    /// Sends the next status query now or arms the timer for it; past the schedule's end the
    /// outcome is pending.
    fn next_query(&mut self, order_no: &OrderNo, now: Millis) {
        let unit = self.entropy.next_unit();
        let config = &self.config.poll;
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        let Phase::Polling { run, .. } = &slot.phase else {
            return;
        };
        let Some(at) = run.next_at(config, unit, slot.retry_after) else {
            let reason = slot.problem.unwrap_or(Reason::Deadline);
            return self.finish(order_no, OutcomeStatus::Pending, Some(reason));
        };
        if at <= now {
            return self.send_status(order_no, now);
        }
        slot.timer = Some((at, TimerKind::NextQuery));
        if let Some(reason) = slot.problem {
            self.emit(Event::Retrying {
                order_no: order_no.clone(),
                after_ms: at.since(now),
                reason,
            });
        }
    }

    fn send_status(&mut self, order_no: &OrderNo, now: Millis) {
        let long_poll = self.config.poll.long_poll_secs;
        let request = self.request_id();
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        let Phase::Polling { run, purpose } = &mut slot.phase else {
            return;
        };
        // Long-poll only while waiting for a payment. A query that decides what to do next
        // needs the answer now: held, an `unpaid` about an old attempt would stall the buyer.
        let wait_secs = match purpose {
            Purpose::AwaitPayment => long_poll,
            Purpose::Decide | Purpose::Check(_) => 0,
        };
        let delay_ms = if run.sent() == 0 {
            0
        } else {
            now.since(run.last_sent())
        };
        run.on_sent(now);
        let try_no = run.sent();
        slot.awaiting = Some(request);
        slot.timer = None;
        self.actions.push_back(Action::SendStatus {
            order_no: order_no.clone(),
            request,
            wait_secs,
        });
        self.emit(Event::StatusQuery {
            order_no: order_no.clone(),
            try_no,
            delay_ms,
        });
    }

    /// Settles the call: outcome event, button, callers, other tabs, lock.
    fn finish(&mut self, order_no: &OrderNo, status: OutcomeStatus, reason: Option<Reason>) {
        if status == OutcomeStatus::Paid {
            self.mark_paid(order_no);
        }
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        let outcome = Outcome {
            order_no: order_no.clone(),
            status,
            attempt_id: slot.record.as_ref().and_then(|r| r.attempt_id.clone()),
            reused: slot.reused,
            reason,
        };
        let callers = std::mem::take(&mut slot.callers);
        let held = std::mem::replace(&mut slot.holds_lock, false);
        // Rule 9: a silent wallet's late answer is still heard after the call ended pending.
        let silent_wallet = status == OutcomeStatus::Pending
            && matches!(
                slot.phase,
                Phase::Polling {
                    purpose: Purpose::Check(Why::WalletSilent),
                    ..
                }
            );
        if !silent_wallet {
            slot.launch = None;
        }
        slot.phase = Phase::Idle;
        slot.awaiting = None;
        slot.launch_deadline = None;
        slot.timer = None;
        slot.last_status = Some(status);
        self.emit(Event::Outcome(outcome.clone()));
        self.actions.push_back(Action::UnlockUi {
            order_no: order_no.clone(),
            status: Some(status),
        });
        if !callers.is_empty() {
            self.actions.push_back(Action::Resolve {
                callers,
                result: Ok(outcome),
            });
        }
        if held {
            self.actions.push_back(Action::Broadcast {
                order_no: order_no.clone(),
                status,
            });
            self.actions.push_back(Action::ReleaseTabLock {
                order_no: order_no.clone(),
            });
        }
    }

    /// Settles the call with an error: nothing was decided about the payment.
    fn refuse(&mut self, order_no: &OrderNo, error: PayError) {
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        let callers = std::mem::take(&mut slot.callers);
        self.actions.push_back(Action::UnlockUi {
            order_no: order_no.clone(),
            status: None,
        });
        if !callers.is_empty() {
            self.actions.push_back(Action::Resolve {
                callers,
                result: Err(error),
            });
        }
        self.go_idle(order_no);
    }

    /// Ends a call that has nothing to report (a resume that found nothing to follow).
    fn go_idle(&mut self, order_no: &OrderNo) {
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        slot.phase = Phase::Idle;
        slot.awaiting = None;
        slot.timer = None;
        if std::mem::replace(&mut slot.holds_lock, false) {
            self.actions.push_back(Action::ReleaseTabLock {
                order_no: order_no.clone(),
            });
        }
    }

    fn mark_paid(&mut self, order_no: &OrderNo) {
        let scope = self.config.scope.clone();
        let key = self.entropy.next_key();
        let Some(slot) = self.orders.get_mut(order_no) else {
            return;
        };
        slot.paid = true;
        if !slot.holds_lock {
            return; // only the lock holder writes records
        }
        let record = match (slot.record.clone(), slot.want.clone()) {
            (Some(record), _) => Some(record),
            // No usable record: write one so a reload knows at once (the key was never sent).
            (None, Some(fingerprint)) => Some(Record {
                v: RECORD_VERSION,
                order_no: order_no.clone(),
                scope,
                fingerprint,
                key,
                attempt_id: None,
                prepay: None,
                created_at: Millis(0),
                expires_at: None,
                updated_at: Millis(0),
                state: RecordState::Paid,
            }),
            (None, None) => None,
        };
        if let Some(mut record) = record {
            record.state = RecordState::Paid;
            self.persist(order_no, record);
        }
    }

    // ----- helpers -----

    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    fn set_waiting(&mut self, order_no: &OrderNo, phase: Phase, request: RequestId) {
        if let Some(slot) = self.orders.get_mut(order_no) {
            slot.phase = phase;
            slot.awaiting = Some(request);
            slot.timer = None;
        }
    }

    fn expects(&self, order_no: &OrderNo, request: RequestId) -> bool {
        self.orders
            .get(order_no)
            .is_some_and(|slot| slot.awaiting == Some(request))
    }

    fn record_of(&self, order_no: &OrderNo) -> Option<&Record> {
        self.orders.get(order_no).and_then(|s| s.record.as_ref())
    }

    /// A prepay may be launched when it is valid for at least the safety margin, on the
    /// server's clock (rule 8).
    fn usable(&self, expires_at: Option<Millis>, now: Millis) -> bool {
        let server_now = self.server_time(now);
        expires_at.is_some_and(|at| server_now.plus(self.config.expiry_margin_ms) < at)
    }

    /// The server's clock at device time `now`: the device clock where no reply told it.
    fn server_time(&self, now: Millis) -> Millis {
        shift(now, self.server_offset.unwrap_or(0))
    }

    /// A server time on the device clock.
    fn to_local(&self, server: Millis) -> Millis {
        shift(server, -self.server_offset.unwrap_or(0))
    }

    /// Rule 8: learns the server's clock from a reply. When the offset moved by more than
    /// network delay explains, the device clock was changed: every timer and deadline moves
    /// with it, so each keeps its remaining wait on the server's clock.
    fn learn_server_clock(&mut self, server_now: Option<Millis>, now: Millis) {
        let Some(server_now) = server_now else {
            return;
        };
        let offset = i64::try_from(server_now.0)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(now.0).unwrap_or(i64::MAX));
        match self.server_offset {
            None => {
                self.server_offset = Some(offset);
                if offset.unsigned_abs() > CLOCK_JUMP_MS {
                    self.emit(Event::ServerClock {
                        offset_ms: offset,
                        jump_ms: 0,
                    });
                }
            }
            Some(old) => {
                // The device clock moved ahead by `jump` (behind when negative).
                let jump = old.saturating_sub(offset);
                self.server_offset = Some(offset);
                if jump.abs() > SERVER_CLOCK_JUMP_MS {
                    self.shift_timers(jump);
                    self.emit(Event::ServerClock {
                        offset_ms: offset,
                        jump_ms: jump,
                    });
                }
            }
        }
    }

    /// Moves every device-clock time by `by` ms (the device clock jumped by that much).
    fn shift_timers(&mut self, by: i64) {
        for slot in self.orders.values_mut() {
            if let Some((at, kind)) = slot.timer {
                slot.timer = Some((shift(at, by), kind));
            }
            slot.waiting_since = slot.waiting_since.map(|t| shift(t, by));
            slot.launch_deadline = slot.launch_deadline.map(|t| shift(t, by));
            if let Phase::Polling { run, .. } = &mut slot.phase {
                if by >= 0 {
                    run.shift_forward(by.unsigned_abs());
                } else {
                    run.shift_back(by.unsigned_abs());
                }
            }
        }
    }

    fn persist(&mut self, order_no: &OrderNo, record: Record) {
        if let Some(slot) = self.orders.get_mut(order_no) {
            slot.record = Some(record.clone());
        }
        self.actions.push_back(Action::Persist(record));
    }

    fn update_record(&mut self, order_no: &OrderNo, now: Millis, change: impl FnOnce(&mut Record)) {
        let Some(mut record) = self.record_of(order_no).cloned() else {
            return;
        };
        change(&mut record);
        record.updated_at = now.max(record.created_at);
        let holds_lock = self.orders.get(order_no).is_some_and(|s| s.holds_lock);
        if holds_lock {
            self.persist(order_no, record);
        } else if let Some(slot) = self.orders.get_mut(order_no) {
            slot.record = Some(record);
        }
    }

    fn emit(&mut self, event: Event) {
        self.actions.push_back(Action::Emit(event));
    }

    /// Keeps timers honest when the wall clock steps back: each keeps its remaining wait.
    /// A step forward needs nothing: timers fire early, which only makes polling end sooner
    /// (pending), never starts anything.
    fn observe_clock(&mut self, now: Millis) {
        let Some(last) = self.last_now else {
            self.last_now = Some(now);
            return;
        };
        if now.plus(CLOCK_JUMP_MS) < last {
            let back = last.since(now);
            let by = i64::try_from(back).unwrap_or(i64::MAX);
            self.shift_timers(-by);
            // The server's clock did not move: the offset grows by what the device lost, so
            // the next reply does not count this jump again.
            self.server_offset = self.server_offset.map(|o| o.saturating_add(by));
            self.emit(Event::ClockJumped { back_ms: back });
        }
        self.last_now = Some(now);
    }
}

/// `t + by` milliseconds, saturating at both ends.
fn shift(t: Millis, by: i64) -> Millis {
    if by >= 0 {
        t.plus(by.unsigned_abs())
    } else {
        t.minus(by.unsigned_abs())
    }
}

#[cfg(test)]
mod tests;
