//! One order's machine: what this page knows about one business order, and the call (a `pay`
//! or a `resume`) running for it, if any.
//!
//! The [`super::Guard`] routes each input to the order it names, the way quinn-proto's
//! `Endpoint` hands datagrams to a `Connection`; everything the orders share (configuration,
//! randomness, request ids, the clocks, the queue of actions) comes in as [`Shared`]. An order
//! never sees another order.
//!
//! The state is shaped so that what a step waits for lives in that step: a [`Phase`] is idle or
//! a [`Call`], and a call's [`Step`] carries its own request, timer and poll run. Ending a call
//! is one assignment (`Phase::Idle`), not a list of fields to reset; whether this tab holds the
//! cross-tab lock is the call's, released when it ends. Only what outlives a call sits beside
//! the phase: the record, the paid mark, the last outcome shown, and a wallet that has
//! not answered yet (rule 9).
//!
//! Methods come in quinn's order: getters, `handle_*` (one per input the router hands over),
//! then mutators (the steps of a call). The `poll_*` side is the router's: actions go to the
//! shared queue, and [`Order::poll_timeout`] is this order's part of the guard's deadline.

use super::clock::shift;
use super::io::{
    Action, CallerId, Event, LaunchResult, Loaded, LockResult, Outcome, OutcomeStatus, PayError,
    Reason, RequestId,
};
use super::{create_backoff, Shared};
use crate::core::contract::{Attempt, CreateReply, OrderStatus, StatusReply};
use crate::core::fingerprint::Fingerprint;
use crate::core::ids::{AttemptId, OrderNo};
use crate::core::record::{Record, RecordState, RECORD_VERSION};
use crate::core::schedule::PollRun;
use crate::core::time::Millis;
use crate::prelude::*;

/// One order in this page.
#[derive(Debug, Clone)]
pub(super) struct Order {
    order_no: OrderNo,
    /// The record as last loaded or written by this tab. It outlives calls: an idle tab names
    /// the attempt of an outcome it hears from another tab from it.
    record: Option<Record>,
    /// The server (or another tab) said paid: nothing may start for this order again (rule 4).
    paid: bool,
    /// The outcome this tab last showed (rule 10: shown again, it asks about unsettled ones).
    last_status: Option<OutcomeStatus>,
    /// A launch whose wallet has not answered. It may overlap polling (the buyer came back
    /// before the launcher returned) and outlive the call (rule 9), so it is not a step.
    wallet: Option<Wallet>,
    phase: Phase,
}

/// A wallet this page opened.
#[derive(Debug, Clone)]
struct Wallet {
    /// The launch request its answer carries.
    request: RequestId,
    /// Rule 9: when a silent wallet is checked with the server; `None` once it was.
    deadline: Option<Millis>,
}

/// Whether a call runs for the order.
#[derive(Debug, Clone)]
enum Phase {
    Idle,
    Call(Call),
}

/// A `pay` or a `resume` running for the order.
#[derive(Debug, Clone)]
struct Call {
    mode: Mode,
    /// Whose promises the outcome settles (none for a resume nobody joined).
    callers: Vec<CallerId>,
    /// The attempt was not created by this call (the server reused it, or its prepay was
    /// reopened).
    reused: bool,
    /// The last reason a status query did not settle the call: reported while retrying, and
    /// as the reason when polling ends pending (rule 6). Kept across the call's poll runs.
    problem: Option<Reason>,
    /// Rule 2: this call got the cross-tab lock; ending the call releases it. Not read off the
    /// step: a late wallet answer can start a check in a call still asking for the lock.
    holds_lock: bool,
    step: Step,
}

/// Why a call is running.
#[derive(Debug, Clone)]
enum Mode {
    /// A buyer's `pay`, with the fingerprint it was called with.
    Pay { want: Fingerprint },
    /// A `resume`: it only looks, and never creates or launches.
    Resume,
}

/// Where a call stands, with what that step waits for.
#[derive(Debug, Clone)]
enum Step {
    /// Rule 2: asked for the cross-tab lock. `waiting_since`: when another tab was first found
    /// holding it in this call.
    Locking {
        request: RequestId,
        waiting_since: Option<Millis>,
    },
    /// Rule 2: another tab holds the lock; try again at `retry_at`.
    WaitingTab { since: Millis, retry_at: Millis },
    /// Rule 3: reading the stored record (the lock is held from here on).
    Loading { request: RequestId },
    /// Rules 4 and 5: the create request for the record's key; `tries` sends of it so far.
    Creating { tries: u32, wait: Wait },
    /// The wallet is open (see [`Order::wallet`]).
    Launching,
    /// Asking the server for the status (rules 3, 6, 7, 9).
    Polling {
        purpose: Purpose,
        run: PollRun,
        /// `None` only between a reply and the decision it leads to.
        wait: Option<Wait>,
        /// The server's last `Retry-After` in this run.
        retry_after: Option<u64>,
    },
}

/// What a step waits for: the reply to its request, or its timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Reply(RequestId),
    Timer(Millis),
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

/// Which timer of a step is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    LockRetry,
    CreateRetry,
    NextQuery,
}

impl Step {
    /// The request whose reply this step waits for.
    fn awaiting(&self) -> Option<RequestId> {
        match self {
            Step::Locking { request, .. } | Step::Loading { request } => Some(*request),
            Step::Creating {
                wait: Wait::Reply(request),
                ..
            }
            | Step::Polling {
                wait: Some(Wait::Reply(request)),
                ..
            } => Some(*request),
            _ => None,
        }
    }

    /// This step's timer, if one is armed.
    fn timer(&self) -> Option<(Millis, TimerKind)> {
        match self {
            Step::WaitingTab { retry_at, .. } => Some((*retry_at, TimerKind::LockRetry)),
            Step::Creating {
                wait: Wait::Timer(at),
                ..
            } => Some((*at, TimerKind::CreateRetry)),
            Step::Polling {
                wait: Some(Wait::Timer(at)),
                ..
            } => Some((*at, TimerKind::NextQuery)),
            _ => None,
        }
    }
}

impl Mode {
    /// The fingerprint a `pay` was called with.
    fn want(&self) -> Option<&Fingerprint> {
        match self {
            Mode::Pay { want } => Some(want),
            Mode::Resume => None,
        }
    }
}

impl Order {
    pub(super) fn new(order_no: OrderNo) -> Order {
        Order {
            order_no,
            record: None,
            paid: false,
            last_status: None,
            wallet: None,
            phase: Phase::Idle,
        }
    }

    // ----- getters -----

    /// Whether a call runs.
    pub(super) fn is_busy(&self) -> bool {
        matches!(self.phase, Phase::Call(_))
    }

    /// Whether this page knows the order is paid.
    pub(super) fn is_paid(&self) -> bool {
        self.paid
    }

    /// No call runs and no deadline is armed: nothing would feed this order on its own.
    pub(super) fn is_idle(&self) -> bool {
        !self.is_busy() && self.wallet.as_ref().is_none_or(|w| w.deadline.is_none())
    }

    /// Whether the reply to `request` is what the current step waits for. Anything else
    /// (late, duplicated, for an ended call) is ignored by the router.
    pub(super) fn expects(&self, request: RequestId) -> bool {
        self.call().and_then(|call| call.step.awaiting()) == Some(request)
    }

    /// Whether `request` is the launch whose wallet has not answered.
    pub(super) fn expects_launch(&self, request: RequestId) -> bool {
        self.wallet.as_ref().is_some_and(|w| w.request == request)
    }

    /// The step's timer, when due at `now`.
    pub(super) fn due_timer(&self, now: Millis) -> Option<TimerKind> {
        let (at, kind) = self.call()?.step.timer()?;
        (at <= now).then_some(kind)
    }

    /// This order's earliest deadline: its step's timer or a silent wallet's check.
    pub(super) fn poll_timeout(&self) -> Option<Millis> {
        let timer = self
            .call()
            .and_then(|call| call.step.timer())
            .map(|(at, _)| at);
        super::earlier(timer, self.wallet.as_ref().and_then(|w| w.deadline))
    }

    /// The request the current step waits for (the tests answer it).
    #[cfg(test)]
    pub(super) fn awaiting(&self) -> Option<RequestId> {
        self.call().and_then(|call| call.step.awaiting())
    }

    fn call(&self) -> Option<&Call> {
        match &self.phase {
            Phase::Call(call) => Some(call),
            Phase::Idle => None,
        }
    }

    fn call_mut(&mut self) -> Option<&mut Call> {
        match &mut self.phase {
            Phase::Call(call) => Some(call),
            Phase::Idle => None,
        }
    }

    /// The fingerprint the running `pay` was called with.
    fn want(&self) -> Option<&Fingerprint> {
        self.call().and_then(|call| call.mode.want())
    }

    pub(super) fn holds_lock(&self) -> bool {
        self.call().is_some_and(|call| call.holds_lock)
    }

    // ----- handle_* -----

    /// `pay`: a new call, or rule 1 for a call in flight.
    pub(super) fn handle_pay(
        &mut self,
        fingerprint: Fingerprint,
        caller: CallerId,
        now: Millis,
        cx: &mut Shared,
    ) {
        let Some(call) = self.call_mut() else {
            if self.paid {
                // Rules 1 and 10: known paid here (a reply, another tab): settled at once, with
                // the outcome event and the button shown paid, like any other call.
                self.mark_paid(false, None, cx);
                self.wallet = None;
                return self.announce(OutcomeStatus::Paid, None, true, vec![caller], false, cx);
            }
            cx.push(Action::LockUi {
                order_no: self.order_no.clone(),
            });
            cx.emit(Event::Locked {
                order_no: self.order_no.clone(),
            });
            return self.begin(Mode::Pay { want: fingerprint }, vec![caller], cx);
        };
        match call.mode.want() {
            None => {
                // A resume becomes this payment: its result answers the buyer.
                call.mode = Mode::Pay { want: fingerprint };
                call.callers.push(caller);
                let polling = matches!(call.step, Step::Polling { .. });
                cx.push(Action::LockUi {
                    order_no: self.order_no.clone(),
                });
                cx.emit(Event::Locked {
                    order_no: self.order_no.clone(),
                });
                if polling {
                    // Rule 9: the buyer asks to pay now; a poll waiting for its deadline
                    // must not hold the click. One status query decides (and reopens the same
                    // prepay when the server confirms it live).
                    self.start_polling(Purpose::Decide, now, cx);
                }
            }
            // Rule 1: the same content joins the call in flight.
            Some(want) if *want == fingerprint => call.callers.push(caller),
            // Rule 1: other content is refused while a call is in flight.
            Some(_) => cx.push(Action::Resolve {
                callers: vec![caller],
                result: Err(PayError::Busy),
            }),
        }
    }

    /// `resume`: find out what became of the order, without ever launching.
    pub(super) fn handle_resume(&mut self, cx: &mut Shared) {
        if !self.is_busy() {
            self.begin(Mode::Resume, Vec::new(), cx);
        }
    }

    /// The answer to the lock request (the router checked it is the one awaited).
    pub(super) fn handle_tab_lock(&mut self, result: LockResult, now: Millis, cx: &mut Shared) {
        let Some(call) = self.call_mut() else {
            return;
        };
        let Step::Locking { waiting_since, .. } = call.step else {
            return;
        };
        match result {
            LockResult::Acquired => {
                // Rule 2: only the lock holder reads and writes the record.
                let request = cx.request_id();
                call.holds_lock = true;
                call.step = Step::Loading { request };
                cx.push(Action::LoadRecord {
                    order_no: self.order_no.clone(),
                    request,
                });
            }
            LockResult::HeldElsewhere => {
                // Rule 2: wait for the other tab's outcome, trying the lock now and then.
                let since = waiting_since.unwrap_or(now);
                if now.since(since) >= cx.config.lock_wait_ms {
                    return self.finish(OutcomeStatus::Pending, Some(Reason::OtherTab), cx);
                }
                call.step = Step::WaitingTab {
                    since,
                    retry_at: now.plus(cx.config.lock_retry_ms),
                };
                // Reported on every refusal: only a `Locking` step hears one, never a
                // `WaitingTab`, so the event repeats with each try of the lock.
                cx.emit(Event::WaitingForOtherTab {
                    order_no: self.order_no.clone(),
                });
            }
        }
    }

    /// The stored record, read under the lock.
    pub(super) fn handle_loaded(&mut self, loaded: Loaded, now: Millis, cx: &mut Shared) {
        let order_no = self.order_no.clone();
        let unusable = match loaded {
            Loaded::Found(record) => {
                let state = record.state;
                self.record = Some(record);
                cx.emit(Event::RecordLoaded {
                    order_no,
                    state: Some(state),
                });
                false
            }
            Loaded::Missing => {
                self.record = None;
                cx.emit(Event::RecordLoaded {
                    order_no,
                    state: None,
                });
                false
            }
            Loaded::Unusable(error) => {
                self.record = None;
                cx.emit(Event::RecordRejected {
                    order_no,
                    error: error.message(),
                });
                true
            }
        };
        self.decide_after_load(unusable, now, cx);
    }

    /// The server's answer to the create request.
    pub(super) fn handle_create_reply(&mut self, reply: CreateReply, now: Millis, cx: &mut Shared) {
        match reply {
            CreateReply::Attempt(attempt) => {
                if let Some(call) = self.call_mut() {
                    call.reused = attempt.reused;
                }
                self.adopt(attempt, now, cx);
                let expires_at = self.record.as_ref().and_then(|r| r.expires_at);
                if cx.usable(expires_at, now) {
                    self.launch(false, now, cx);
                } else {
                    // Too close to expiry to launch: the server will close it, then a new
                    // attempt may start.
                    self.start_polling(Purpose::Decide, now, cx);
                }
            }
            // Rule 4: a report of paid is final.
            CreateReply::AlreadyPaid => self.finish(OutcomeStatus::Paid, None, cx),
            CreateReply::KeyReused => self.start_polling(Purpose::Decide, now, cx),
            CreateReply::Rejected { status, code } => {
                self.refuse(PayError::Rejected { status, code }, cx)
            }
            // Rule 5: anything unclear re-sends the same key, never mints one.
            CreateReply::InProgress { retry_after_ms }
            | CreateReply::Unavailable { retry_after_ms } => {
                self.retry_create(retry_after_ms, Reason::ServerBusy, now, cx)
            }
            CreateReply::Invalid(_) => self.retry_create(None, Reason::ServerContract, now, cx),
            CreateReply::NoReply => self.retry_create(None, Reason::Network, now, cx),
        }
    }

    /// The wallet's answer (the router checked it is the launch still out).
    pub(super) fn handle_launched(&mut self, result: LaunchResult, now: Millis, cx: &mut Shared) {
        self.wallet = None;
        let Some(call) = self.call() else {
            // Rule 9: the late answer of a wallet that was silent past the launch time-out
            // (the call ended pending). "Ok" may mean paid: follow it without locking the
            // button; a late cancel changes nothing the buyer has not already been told.
            if result == LaunchResult::Ok && !self.paid {
                self.handle_resume(cx);
            }
            return;
        };
        // Rule 9: the late answer of the wallet an earlier call left silent, heard while a new
        // call has not launched yet (it waits for the lock, the record or a reply). That call
        // asks the server before launching anything, so the answer changes nothing here, and
        // taking the call off its step would drop what it waits for (a lock granted then, and
        // never released).
        let launched_here = matches!(
            call.step,
            Step::Launching
                | Step::Polling {
                    purpose: Purpose::AwaitPayment
                        | Purpose::Check(
                            Why::WalletCancelled | Why::WalletFailed | Why::WalletSilent
                        ),
                    ..
                }
        );
        if !launched_here {
            return;
        }
        let launching = matches!(call.step, Step::Launching);
        match result {
            // Rule 6: after launching, poll until paid, dead or the deadline.
            LaunchResult::Ok if launching => self.start_polling(Purpose::AwaitPayment, now, cx),
            // Already polling: the buyer came back before the launcher returned.
            LaunchResult::Ok => {}
            // Rule 7: the wallet's word is not the server's: one look before saying "not
            // paid". The record stays `launched` until the server shows the attempt unpaid.
            LaunchResult::Cancelled => {
                self.start_polling(Purpose::Check(Why::WalletCancelled), now, cx)
            }
            LaunchResult::Failed => self.start_polling(Purpose::Check(Why::WalletFailed), now, cx),
        }
    }

    /// The server's answer to the status query.
    pub(super) fn handle_status_reply(&mut self, reply: StatusReply, now: Millis, cx: &mut Shared) {
        let Some(call) = self.call_mut() else {
            return;
        };
        let Step::Polling {
            purpose,
            wait,
            retry_after,
            ..
        } = &mut call.step
        else {
            return;
        };
        *wait = None;
        *retry_after = None;
        let purpose = *purpose;
        if let Purpose::Check(why) = purpose {
            return self.handle_check_reply(why, reply, now, cx);
        }
        let status = match reply {
            StatusReply::Status(status) => status,
            StatusReply::Unavailable { retry_after_ms } => {
                *retry_after = retry_after_ms;
                return self.status_problem(Reason::ServerBusy, now, cx);
            }
            StatusReply::Invalid(_) => return self.status_problem(Reason::ServerContract, now, cx),
            StatusReply::NoReply => return self.status_problem(Reason::Network, now, cx),
        };
        call.problem = None;
        cx.emit(Event::StatusSeen {
            order_no: self.order_no.clone(),
            status: status.name(),
        });
        match (purpose, status) {
            // Rule 4: any report of paid makes the order final.
            (_, OrderStatus::Paid(attempt_id)) => self.finish_paid(attempt_id, now, cx),
            // Rule 4: nothing for this order: a create may start.
            (Purpose::Decide, OrderStatus::None) => {
                self.create_after_status(|state| state != RecordState::Dead, now, cx)
            }
            (Purpose::Decide, OrderStatus::Unpaid(attempt)) => {
                if self.want() != Some(&attempt.fingerprint) {
                    // Rule 4: other content: the server closes this attempt before creating one.
                    self.create_after_status(|state| state == RecordState::Creating, now, cx)
                } else if cx.usable(attempt.expires_at, now) {
                    // Rule 3: the server confirmed this attempt live for this content; what is
                    // launched is its prepay, never one the record alone claims.
                    let stored = self
                        .record
                        .as_ref()
                        .filter(|r| r.prepay.is_some())
                        .map(|r| r.attempt_id.clone());
                    if let Some(stored) = stored {
                        if stored.as_ref() != Some(&attempt.attempt_id) {
                            cx.emit(Event::RecordMismatch {
                                order_no: self.order_no.clone(),
                                stored,
                                server: attempt.attempt_id.clone(),
                            });
                        }
                    }
                    self.adopt(attempt, now, cx);
                    self.launch(true, now, cx)
                } else {
                    // About to expire: wait for the server to close it.
                    self.next_query(now, cx)
                }
            }
            // Rule 4: the old attempt can no longer be paid.
            (Purpose::Decide, OrderStatus::Closed(_) | OrderStatus::Failed(_)) => {
                self.create_after_status(|state| state == RecordState::Creating, now, cx)
            }
            // Rule 6: still open: keep polling.
            (_, OrderStatus::Paying(_)) | (Purpose::AwaitPayment, OrderStatus::Unpaid(_)) => {
                self.next_query(now, cx)
            }
            (Purpose::AwaitPayment, OrderStatus::None) => {
                // We launched an attempt the server does not know: not the contract.
                self.status_problem(Reason::ServerContract, now, cx)
            }
            (Purpose::AwaitPayment, OrderStatus::Closed(id) | OrderStatus::Failed(id)) => {
                self.record_dead(id, now, cx);
                self.finish(OutcomeStatus::Failed, Some(Reason::AttemptDead), cx)
            }
            // Answered by `handle_check_reply` before this match.
            (Purpose::Check(_), _) => {}
        }
    }

    /// Rule 7: the one look of a [`Purpose::Check`]: the server's word if it gives one, else
    /// the fallback of `why`. Never a create, never a launch.
    fn handle_check_reply(&mut self, why: Why, reply: StatusReply, now: Millis, cx: &mut Shared) {
        let problem = match reply {
            StatusReply::Status(status) => return self.handle_check_status(why, status, now, cx),
            StatusReply::Unavailable { .. } => Reason::ServerBusy,
            StatusReply::Invalid(_) => Reason::ServerContract,
            StatusReply::NoReply => Reason::Network,
        };
        let (status, reason) = why.unknown(problem);
        self.finish(status, reason, cx)
    }

    /// Rule 7: the server's word on a [`Purpose::Check`].
    fn handle_check_status(&mut self, why: Why, status: OrderStatus, now: Millis, cx: &mut Shared) {
        cx.emit(Event::StatusSeen {
            order_no: self.order_no.clone(),
            status: status.name(),
        });
        match status {
            OrderStatus::Paid(attempt_id) => self.finish_paid(attempt_id, now, cx),
            // The buyer is paying right now (another device, or the wallet is still busy).
            OrderStatus::Paying(_) => self.start_polling(Purpose::AwaitPayment, now, cx),
            OrderStatus::Unpaid(attempt) => {
                let ours = self
                    .record
                    .as_ref()
                    .is_some_and(|r| r.attempt_id.as_ref() == Some(&attempt.attempt_id));
                if ours && why != Why::WalletSilent {
                    // Confirmed unpaid and live: paying again may reuse the prepay.
                    self.update_record(
                        now,
                        |r| {
                            if r.state == RecordState::Launched {
                                r.state = RecordState::Ready;
                            }
                        },
                        cx,
                    );
                }
                let (status, reason) = why.unpaid();
                self.finish(status, reason, cx)
            }
            OrderStatus::None => {
                let (status, reason) = why.unpaid();
                self.finish(status, reason, cx)
            }
            OrderStatus::Closed(id) | OrderStatus::Failed(id) => {
                self.record_dead(id, now, cx);
                if why == Why::Resume {
                    // Never launched in this page (a reload during a create): the buyer did
                    // nothing wrong and has not started paying; the next pay goes on by the
                    // contract.
                    self.finish(OutcomeStatus::Cancelled, Some(Reason::NotStarted), cx)
                } else {
                    self.finish(OutcomeStatus::Failed, Some(Reason::AttemptDead), cx)
                }
            }
        }
    }

    /// Rule 4: a reply nobody waits for any more says paid: still the server's word, so the
    /// order is final here, and a call in flight ends paid rather than launching or creating.
    pub(super) fn handle_late_paid(&mut self, cx: &mut Shared) {
        self.paid = true;
        if self.is_busy() {
            self.finish(OutcomeStatus::Paid, None, cx);
        }
    }

    /// Rule 9: the wallet stayed silent past `launchTimeoutMs`.
    pub(super) fn handle_wallet_timeout(&mut self, now: Millis, cx: &mut Shared) {
        let Some(wallet) = self.wallet.as_mut() else {
            return;
        };
        if wallet.deadline.is_none_or(|at| at > now) {
            return;
        }
        wallet.deadline = None;
        let waiting = self.call().is_some_and(|call| {
            matches!(call.mode, Mode::Pay { .. })
                && matches!(
                    call.step,
                    Step::Launching
                        | Step::Polling {
                            purpose: Purpose::AwaitPayment,
                            ..
                        }
                )
        });
        if waiting {
            // Rule 9: the wallet never answered; one look at the server decides.
            self.start_polling(Purpose::Check(Why::WalletSilent), now, cx);
        }
    }

    /// A timer of kind `kind` was due when the platform timer fired.
    pub(super) fn handle_timer(&mut self, kind: TimerKind, now: Millis, cx: &mut Shared) {
        let Some(call) = self.call_mut() else {
            return;
        };
        let waiting_since = match &mut call.step {
            Step::Polling { wait, .. } if matches!(wait, Some(Wait::Timer(_))) => {
                *wait = None;
                None
            }
            Step::WaitingTab { since, .. } => Some(*since),
            _ => None,
        };
        match kind {
            // Rule 2: try the lock again.
            TimerKind::LockRetry => self.acquire_lock(waiting_since, cx),
            // Rule 5: re-send the same key.
            TimerKind::CreateRetry => {
                if let Step::Creating { tries, .. } = call.step {
                    self.send_create(tries, cx)
                }
            }
            TimerKind::NextQuery => self.send_status(now, cx),
        }
    }

    /// The page is shown again: rules 6 and 10.
    pub(super) fn handle_page_shown(&mut self, now: Millis, cx: &mut Shared) {
        match &mut self.phase {
            Phase::Call(Call {
                step: Step::Polling { run, wait, .. },
                ..
            }) => {
                // Rule 6: coming back to the page restarts the fast checks.
                run.restart_fast(now);
                if !matches!(wait, Some(Wait::Reply(_))) {
                    self.send_status(now, cx);
                }
            }
            Phase::Call(Call {
                step: Step::Launching,
                ..
            }) => self.start_polling(Purpose::AwaitPayment, now, cx),
            // Rule 10: an order this tab shows unsettled may have been paid elsewhere (or its
            // payment confirmed meanwhile): one look at the server.
            Phase::Idle if self.last_status.is_some() && !self.paid => self.handle_resume(cx),
            _ => {}
        }
    }

    /// Another tab broadcast this order's outcome.
    pub(super) fn handle_other_tab(&mut self, status: OutcomeStatus, cx: &mut Shared) {
        if status == OutcomeStatus::Paid {
            self.paid = true;
        }
        match &self.phase {
            // Rule 2: the tab that waited for the lock takes the other tab's outcome.
            Phase::Call(call)
                if !call.holds_lock
                    && matches!(call.step, Step::Locking { .. } | Step::WaitingTab { .. }) =>
            {
                let reason = (status == OutcomeStatus::Pending).then_some(Reason::OtherTab);
                self.finish(status, reason, cx);
            }
            // Rule 10: an idle tab showing this order learns its outcome too (its button
            // shows paid, or ready again), without a call of its own.
            Phase::Idle if status != OutcomeStatus::Pending => {
                let reason = (status != OutcomeStatus::Paid).then_some(Reason::OtherTab);
                self.announce(status, reason, false, Vec::new(), false, cx);
            }
            _ => {}
        }
    }

    // ----- mutators -----

    /// Starts a call: rule 2, everything happens under the cross-tab lock.
    fn begin(&mut self, mode: Mode, callers: Vec<CallerId>, cx: &mut Shared) {
        let request = cx.request_id();
        self.phase = Phase::Call(Call {
            mode,
            callers,
            reused: false,
            problem: None,
            holds_lock: false,
            step: Step::Locking {
                request,
                waiting_since: None,
            },
        });
        cx.push(Action::AcquireTabLock {
            order_no: self.order_no.clone(),
            request,
        });
    }

    /// Rule 2: asks for the lock again after another tab held it.
    fn acquire_lock(&mut self, waiting_since: Option<Millis>, cx: &mut Shared) {
        let request = cx.request_id();
        if let Some(call) = self.call_mut() {
            call.step = Step::Locking {
                request,
                waiting_since,
            };
        }
        cx.push(Action::AcquireTabLock {
            order_no: self.order_no.clone(),
            request,
        });
    }

    /// Rule 3: what the stored record allows.
    fn decide_after_load(&mut self, unusable: bool, now: Millis, cx: &mut Shared) {
        enum Next {
            Finish,
            Poll(Purpose),
            Resend,
        }
        let Some(call) = self.call() else {
            return;
        };
        let record = self.record.as_ref();
        let next = if let Mode::Pay { want } = &call.mode {
            if unusable {
                Next::Poll(Purpose::Decide)
            } else if let Some(record) = record {
                match record.state {
                    RecordState::Paid => Next::Finish,
                    // Rule 3: `creating` for the same content re-sends the same key.
                    RecordState::Creating if *want == record.fingerprint => Next::Resend,
                    // A stored prepay (ready or launched), an expired or dead attempt, other
                    // content: only the server can say whether an attempt could still be paid,
                    // and a stored prepay is launched only once the server confirms it.
                    _ => Next::Poll(Purpose::Decide),
                }
            } else {
                // Nothing stored (a new order, or cleared storage, or another device): ask.
                Next::Poll(Purpose::Decide)
            }
        } else {
            // Rule 7: a resume follows what the record says was started, and looks at the
            // server once for anything else; every branch ends with an outcome.
            match record.map(|r| r.state) {
                Some(RecordState::Launched) => Next::Poll(Purpose::AwaitPayment),
                Some(RecordState::Paid) => Next::Finish,
                // A prepay launched before and confirmed unpaid since (a cancel): one look.
                Some(RecordState::Ready) => Next::Poll(Purpose::Check(Why::ResumeLaunched)),
                // Never launched here: one look at the server, never a create.
                _ => Next::Poll(Purpose::Check(Why::Resume)),
            }
        };
        match next {
            Next::Finish => self.finish(OutcomeStatus::Paid, None, cx),
            Next::Poll(purpose) => self.start_polling(purpose, now, cx),
            Next::Resend => self.send_create(0, cx),
        }
    }

    /// Rule 4, once the status showed nothing for this content could still be paid: re-send the
    /// stored key when the record is for this content and in a state `resend_if` accepts (a
    /// `creating` record's create may still be on its way, or committed after the status was
    /// answered: a new key then would race it), else mint one. Re-sending a key is never wrong:
    /// the server answers it idempotently.
    fn create_after_status(
        &mut self,
        // A plain function, not a generic: one copy of this for all its callers.
        resend_if: fn(RecordState) -> bool,
        now: Millis,
        cx: &mut Shared,
    ) {
        let resend = self
            .record
            .as_ref()
            .is_some_and(|r| resend_if(r.state) && self.want() == Some(&r.fingerprint));
        if resend {
            self.send_create(0, cx)
        } else {
            self.mint_and_create(now, cx)
        }
    }

    /// Rule 4: mints a key, persists it in a `creating` record, then sends the create request.
    fn mint_and_create(&mut self, now: Millis, cx: &mut Shared) {
        if self.paid {
            return self.finish(OutcomeStatus::Paid, None, cx);
        }
        let Some(fingerprint) = self.want().cloned() else {
            return self.go_idle(cx);
        };
        let record = Record {
            v: RECORD_VERSION,
            order_no: self.order_no.clone(),
            scope: cx.config.scope.clone(),
            fingerprint,
            key: cx.entropy.next_key(),
            attempt_id: None,
            prepay: None,
            created_at: now,
            expires_at: None,
            updated_at: now,
            state: RecordState::Creating,
        };
        // Rule 4: persisted before the create request that uses it is sent.
        self.persist(record, cx);
        self.send_create_inner(0, true, cx);
    }

    /// Sends (again) the create request with the record's key. `tries` is how many sends of
    /// this key this call already made.
    fn send_create(&mut self, tries: u32, cx: &mut Shared) {
        self.send_create_inner(tries, false, cx)
    }

    fn send_create_inner(&mut self, tries: u32, new_key: bool, cx: &mut Shared) {
        let Some(record) = &self.record else {
            return self.go_idle(cx);
        };
        let (key, fingerprint) = (record.key.clone(), record.fingerprint.clone());
        let request = cx.request_id();
        if let Some(call) = self.call_mut() {
            call.step = Step::Creating {
                tries: tries + 1,
                wait: Wait::Reply(request),
            };
        }
        cx.push(Action::SendCreate {
            order_no: self.order_no.clone(),
            request,
            key: key.clone(),
            fingerprint,
        });
        cx.emit(Event::CreateSent {
            order_no: self.order_no.clone(),
            key,
            new_key,
            try_no: tries + 1,
        });
    }

    /// Rule 5: the same key again after a back-off, a bounded number of times, then pending.
    fn retry_create(
        &mut self,
        retry_after: Option<u64>,
        reason: Reason,
        now: Millis,
        cx: &mut Shared,
    ) {
        let (limit, base) = (cx.config.create_retries, cx.config.create_retry_ms);
        let Some(call) = self.call_mut() else {
            return;
        };
        let Step::Creating { tries, wait } = &mut call.step else {
            return;
        };
        if *tries > limit {
            // Rule 5: the record stays `creating`: the next pay re-sends the same key.
            return self.finish(OutcomeStatus::Pending, Some(reason), cx);
        }
        let delay = create_backoff(base, *tries, retry_after);
        *wait = Wait::Timer(now.plus(delay));
        cx.emit(Event::Retrying {
            order_no: self.order_no.clone(),
            after_ms: delay,
            reason,
        });
    }

    /// Takes a live attempt from the server into the record (keeping the record's key, or
    /// minting one that was never sent when there was no usable record).
    fn adopt(&mut self, attempt: Attempt, now: Millis, cx: &mut Shared) {
        let ttl = cx.config.prepay_ttl_ms;
        // Rule 8: expiries are kept on the server's clock.
        let expires_at = Some(
            attempt
                .expires_at
                .unwrap_or(cx.clock.server_time(now).plus(ttl)),
        );
        let record = match self.record.clone() {
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
                order_no: self.order_no.clone(),
                scope: cx.config.scope.clone(),
                fingerprint: attempt.fingerprint,
                key: cx.entropy.next_key(),
                attempt_id: Some(attempt.attempt_id),
                prepay: Some(attempt.prepay),
                created_at: now,
                expires_at,
                updated_at: now,
                state: RecordState::Ready,
            },
        };
        self.persist(record, cx);
    }

    /// Marks the record `launched` (persisted first: the page may die while the wallet is
    /// open) and launches its prepay.
    fn launch(&mut self, reused: bool, now: Millis, cx: &mut Shared) {
        if self.paid {
            return self.finish(OutcomeStatus::Paid, None, cx);
        }
        self.update_record(now, |r| r.state = RecordState::Launched, cx);
        let Some(record) = &self.record else {
            return self.go_idle(cx);
        };
        let (Some(attempt_id), Some(prepay)) = (record.attempt_id.clone(), record.prepay.clone())
        else {
            return self.start_polling(Purpose::Decide, now, cx);
        };
        let request = cx.request_id();
        if let Some(call) = self.call_mut() {
            call.reused |= reused;
            call.step = Step::Launching;
        }
        // Rule 9: a wallet silent for `launchTimeoutMs` is checked with the server.
        self.wallet = Some(Wallet {
            request,
            deadline: Some(now.plus(cx.config.launch_timeout_ms)),
        });
        if reused {
            cx.emit(Event::PrepayReused {
                order_no: self.order_no.clone(),
                attempt_id: attempt_id.clone(),
            });
        }
        cx.emit(Event::LaunchStarted {
            order_no: self.order_no.clone(),
            attempt_id: attempt_id.clone(),
        });
        cx.push(Action::Launch {
            order_no: self.order_no.clone(),
            request,
            attempt_id,
            prepay,
        });
    }

    /// Rule 6: a new run of status queries for `purpose`.
    fn start_polling(&mut self, purpose: Purpose, now: Millis, cx: &mut Shared) {
        // Rule 8: the prepay's expiry is on the server's clock; the run counts on the device's.
        let expiry = self
            .record
            .as_ref()
            .and_then(|r| r.expires_at)
            .map(|at| cx.clock.to_local(at));
        let run = PollRun::start(&cx.config.poll, now, expiry);
        if let Some(call) = self.call_mut() {
            call.step = Step::Polling {
                purpose,
                run,
                wait: None,
                retry_after: None,
            };
        }
        self.next_query(now, cx);
    }

    /// Rule 5 for status queries: an unclear answer is asked again, never read as an answer.
    fn status_problem(&mut self, reason: Reason, now: Millis, cx: &mut Shared) {
        if let Some(call) = self.call_mut() {
            call.problem = Some(reason);
        }
        self.next_query(now, cx)
    }

    /// Sends the next status query now or arms the timer for it; past the schedule's end the
    /// outcome is pending (rule 6).
    fn next_query(&mut self, now: Millis, cx: &mut Shared) {
        let unit = cx.entropy.next_unit();
        let Some(call) = self.call_mut() else {
            return;
        };
        let Step::Polling {
            run,
            wait,
            retry_after,
            ..
        } = &mut call.step
        else {
            return;
        };
        let Some(at) = run.next_at(&cx.config.poll, unit, *retry_after) else {
            let reason = call.problem.unwrap_or(Reason::Deadline);
            return self.finish(OutcomeStatus::Pending, Some(reason), cx);
        };
        if at <= now {
            return self.send_status(now, cx);
        }
        *wait = Some(Wait::Timer(at));
        if let Some(reason) = call.problem {
            cx.emit(Event::Retrying {
                order_no: self.order_no.clone(),
                after_ms: at.since(now),
                reason,
            });
        }
    }

    fn send_status(&mut self, now: Millis, cx: &mut Shared) {
        let long_poll = cx.config.poll.long_poll_secs;
        let request = cx.request_id();
        let Some(call) = self.call_mut() else {
            return;
        };
        let Step::Polling {
            run, purpose, wait, ..
        } = &mut call.step
        else {
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
        *wait = Some(Wait::Reply(request));
        cx.push(Action::SendStatus {
            order_no: self.order_no.clone(),
            request,
            wait_secs,
        });
        cx.emit(Event::StatusQuery {
            order_no: self.order_no.clone(),
            try_no,
            delay_ms,
        });
    }

    /// Rule 10: settles the call: outcome event, button, callers, other tabs, lock.
    fn finish(&mut self, status: OutcomeStatus, reason: Option<Reason>, cx: &mut Shared) {
        let Phase::Call(call) = core::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        let held = call.holds_lock;
        if status == OutcomeStatus::Paid {
            self.mark_paid(held, call.mode.want(), cx);
        }
        // Rule 9: a silent wallet's late answer is still heard after the call ended pending.
        let silent_wallet = status == OutcomeStatus::Pending
            && matches!(
                call.step,
                Step::Polling {
                    purpose: Purpose::Check(Why::WalletSilent),
                    ..
                }
            );
        match &mut self.wallet {
            Some(wallet) if silent_wallet => wallet.deadline = None,
            _ => self.wallet = None,
        }
        self.announce(status, reason, call.reused, call.callers, held, cx);
    }

    /// Rule 10: the outcome event and the button, then the callers, then (for the lock
    /// holder) the other tabs and the lock.
    fn announce(
        &mut self,
        status: OutcomeStatus,
        reason: Option<Reason>,
        reused: bool,
        callers: Vec<CallerId>,
        held: bool,
        cx: &mut Shared,
    ) {
        let outcome = Outcome {
            order_no: self.order_no.clone(),
            status,
            attempt_id: self.record.as_ref().and_then(|r| r.attempt_id.clone()),
            reused,
            reason,
        };
        self.last_status = Some(status);
        cx.emit(Event::Outcome(outcome.clone()));
        cx.push(Action::UnlockUi {
            order_no: self.order_no.clone(),
            status: Some(status),
        });
        if !callers.is_empty() {
            cx.push(Action::Resolve {
                callers,
                result: Ok(outcome),
            });
        }
        if held {
            cx.push(Action::Broadcast {
                order_no: self.order_no.clone(),
                status,
            });
            cx.push(Action::ReleaseTabLock {
                order_no: self.order_no.clone(),
            });
        }
    }

    /// Rule 10: settles the call with an error (nothing was decided about the payment); the
    /// button is unlocked too.
    fn refuse(&mut self, error: PayError, cx: &mut Shared) {
        let Some(call) = self.call_mut() else {
            return;
        };
        let callers = core::mem::take(&mut call.callers);
        cx.push(Action::UnlockUi {
            order_no: self.order_no.clone(),
            status: None,
        });
        if !callers.is_empty() {
            cx.push(Action::Resolve {
                callers,
                result: Err(error),
            });
        }
        self.go_idle(cx);
    }

    /// Ends a call that has nothing to report (a resume that found nothing to follow).
    fn go_idle(&mut self, cx: &mut Shared) {
        let Phase::Call(call) = core::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        if call.holds_lock {
            cx.push(Action::ReleaseTabLock {
                order_no: self.order_no.clone(),
            });
        }
    }

    /// Rule 4: paid is final. The lock holder writes it down so that a reload knows at once.
    fn mark_paid(&mut self, held: bool, want: Option<&Fingerprint>, cx: &mut Shared) {
        // Drawn on every paid mark, used or not: the key stream stays what it always was.
        let key = cx.entropy.next_key();
        self.paid = true;
        if !held {
            return; // Rule 2: only the lock holder writes records.
        }
        let record = match (self.record.clone(), want) {
            (Some(record), _) => Some(record),
            // No usable record: write one so a reload knows at once (the key was never sent).
            (None, Some(fingerprint)) => Some(Record {
                v: RECORD_VERSION,
                order_no: self.order_no.clone(),
                scope: cx.config.scope.clone(),
                fingerprint: fingerprint.clone(),
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
            self.persist(record, cx);
        }
    }

    fn persist(&mut self, record: Record, cx: &mut Shared) {
        self.record = Some(record.clone());
        cx.push(Action::Persist(record));
    }

    /// Changes the record; rule 2: only the lock holder persists the change.
    fn update_record(&mut self, now: Millis, change: impl FnOnce(&mut Record), cx: &mut Shared) {
        let Some(mut record) = self.record.clone() else {
            return;
        };
        change(&mut record);
        record.updated_at = now.max(record.created_at);
        if self.holds_lock() {
            self.persist(record, cx);
        } else {
            self.record = Some(record);
        }
    }

    /// Rule 4: a report of paid is final; the attempt it names (if any) goes into the record.
    fn finish_paid(&mut self, attempt_id: Option<AttemptId>, now: Millis, cx: &mut Shared) {
        if let Some(id) = attempt_id {
            self.update_record(now, |r| r.attempt_id = Some(id), cx);
        }
        self.finish(OutcomeStatus::Paid, None, cx)
    }

    /// The server closed (or failed) attempt `id`: the record says it can no longer be paid.
    fn record_dead(&mut self, id: AttemptId, now: Millis, cx: &mut Shared) {
        self.update_record(
            now,
            |r| {
                r.state = RecordState::Dead;
                r.attempt_id = Some(id);
            },
            cx,
        );
    }

    /// Rule 8: moves every device-clock time of this order by `by` ms (the device clock
    /// jumped by that much), so each wait keeps what remains of it.
    pub(super) fn shift_times(&mut self, by: i64) {
        if let Some(deadline) = self.wallet.as_mut().and_then(|w| w.deadline.as_mut()) {
            *deadline = shift(*deadline, by);
        }
        let Some(call) = self.call_mut() else {
            return;
        };
        match &mut call.step {
            Step::Locking {
                waiting_since: Some(since),
                ..
            } => *since = shift(*since, by),
            Step::WaitingTab { since, retry_at } => {
                *since = shift(*since, by);
                *retry_at = shift(*retry_at, by);
            }
            Step::Creating {
                wait: Wait::Timer(at),
                ..
            } => *at = shift(*at, by),
            Step::Polling { run, wait, .. } => {
                if let Some(Wait::Timer(at)) = wait {
                    *at = shift(*at, by);
                }
                if by >= 0 {
                    run.shift_forward(by.unsigned_abs());
                } else {
                    run.shift_back(by.unsigned_abs());
                }
            }
            _ => {}
        }
    }
}
