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
//!    still heard (a late "ok" is followed), except by a new call that has not launched yet,
//!    which asks the server itself and keeps its step (its lock request). A `pay` joining a `resume` that waits for a payment turns it into a decision
//!    (one status query now), so a click never waits for a poll's deadline.
//! 10. **Every call ends with an outcome.** A `pay` is settled with an [`Event::Outcome`],
//!     its callers resolved and the button unlocked (or shown paid); an error unlocks the
//!     button too. Every tab that has the order open hears another tab's outcome, and a tab
//!     shown again looks at the server for the orders it shows unsettled.
//!
//! # Run loop
//!
//! The guard never reads a clock, a storage or a network: the shell passes `now` with every
//! input and performs what comes out. After **every** input, drain [`Guard::poll_action`] and
//! perform the actions in order (a record is persisted before the request that depends on it
//! is sent); then arm the one platform timer to [`Guard::poll_timeout`] and feed
//! [`Input::TimerFired`] when it fires. Here the shell is a loop with a virtual clock, the lock
//! always free, storage empty, and a server that is unreachable once, then reports the order
//! paid:
//!
//! ```
//! use checkout_guard::core::config::Config;
//! use checkout_guard::core::contract::{OrderStatus, StatusReply};
//! use checkout_guard::core::fingerprint::Fingerprint;
//! use checkout_guard::core::ids::OrderNo;
//! use checkout_guard::core::machine::{
//!     Action, CallerId, Guard, Input, Loaded, LockResult, OutcomeStatus,
//! };
//! use checkout_guard::core::time::Millis;
//!
//! // The seed comes from the platform's cryptographic random source.
//! let mut guard = Guard::new(Config::default(), [7; 32])?;
//! let order_no = OrderNo::parse("A1")?;
//! let fingerprint = Fingerprint::parse(&"ab".repeat(32)).ok_or("not a fingerprint")?;
//! let mut now = Millis(1_800_000_000_000);
//! let mut inputs = vec![Input::Pay { order_no, fingerprint, caller: CallerId(1) }];
//! let (mut queries, mut settled) = (0, None);
//! loop {
//!     // 1. Feed each event with the time it happened at.
//!     for input in core::mem::take(&mut inputs) {
//!         guard.handle(input, now);
//!         // 2. Drain the actions and perform them, in order.
//!         while let Some(action) = guard.poll_action() {
//!             match action {
//!                 Action::AcquireTabLock { order_no, request } => inputs.push(Input::TabLock {
//!                     order_no,
//!                     request,
//!                     result: LockResult::Acquired,
//!                 }),
//!                 Action::LoadRecord { order_no, request } => inputs.push(Input::RecordLoaded {
//!                     order_no,
//!                     request,
//!                     loaded: Loaded::Missing,
//!                 }),
//!                 Action::SendStatus { order_no, request, .. } => {
//!                     queries += 1;
//!                     let reply = if queries == 1 {
//!                         StatusReply::NoReply
//!                     } else {
//!                         StatusReply::Status(OrderStatus::Paid(None))
//!                     };
//!                     inputs.push(Input::StatusReplied { order_no, request, reply, server_now: None });
//!                 }
//!                 Action::Resolve { result, .. } => settled = Some(result),
//!                 // Persist, lock and unlock the button, emit, broadcast, release the lock...
//!                 _ => {}
//!             }
//!         }
//!     }
//!     if !inputs.is_empty() {
//!         continue;
//!     }
//!     // 3. Arm the one timer to the earliest deadline; here, jump the virtual clock to it.
//!     match guard.poll_timeout() {
//!         Some(at) => {
//!             now = now.max(at);
//!             inputs.push(Input::TimerFired);
//!         }
//!         None => break,
//!     }
//! }
//! assert_eq!(settled.map(|r| r.map(|o| o.status)), Some(Ok(OutcomeStatus::Paid)));
//! assert!(guard.is_idle());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Shape
//!
//! Like quinn-proto's `Endpoint` and `Connection`: [`Guard`] is a small router that owns what
//! every order shares (configuration, entropy, request ids, the two clocks of rule 8, the queue
//! of actions) and hands each input to the machine of the order it names (`order.rs`), or to
//! the machine of the submission it names (`submit.rs`, one per content fingerprint, rules
//! S1–S4). A machine's phase carries its own data: idle, or a call whose step holds what it
//! waits for (a request, a timer, a poll run; for a submission, the record whose key it sends).
//! Each rule above is cited where it is enforced (`// Rule 4: ...`, `// S2: ...`) and its tests
//! in `tests.rs` are named for it (`rule_4_...`, `s2_...`).

mod clock;
mod io;
mod order;
mod submit;

pub use io::{
    Action, CallerId, Event, Input, LaunchResult, Loaded, LockResult, Outcome, OutcomeStatus,
    PayError, Reason, RequestId, SubmitError, Submitted,
};

use super::config::{Config, ConfigError};
use super::contract::{CreateReply, OrderStatus, StatusReply};
use super::entropy::Entropy;
use super::fingerprint::Fingerprint;
use super::ids::OrderNo;
use super::map::SortedMap;
use super::queue::Queue;
use super::time::Millis;
use crate::prelude::*;
use clock::{Clock, Jump};
use order::{Order, TimerKind};
use submit::Submission;

/// Longest wait between two create retries (ms).
const MAX_CREATE_BACKOFF_MS: u64 = 30_000;

/// Rule 5 and S3: the wait before re-sending a key that was sent `tries` times: `base` doubled
/// for each send after the first (at most 16 times), at most [`MAX_CREATE_BACKOFF_MS`], and at
/// least the server's `Retry-After`.
fn create_backoff(base: u64, tries: u32, retry_after: Option<u64>) -> u64 {
    let exponent = tries.saturating_sub(1).min(16);
    // `min(base * 2^exponent, cap)` by a comparison and a shift, not an overflow-checked
    // multiply (a 128-bit one in wasm): `base * 2^exponent > cap` exactly when
    // `base > cap >> exponent`, and otherwise the shift stays within the cap.
    let delay = if base > MAX_CREATE_BACKOFF_MS >> exponent {
        MAX_CREATE_BACKOFF_MS
    } else {
        base << exponent
    };
    delay.max(retry_after.unwrap_or(0))
}

/// What every order's machine and every submission share; lent to them for one input.
#[derive(Debug, Clone)]
struct Shared {
    config: Config,
    entropy: Entropy,
    clock: Clock,
    actions: Queue<Action>,
    next_request: u64,
}

impl Shared {
    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    fn emit(&mut self, event: Event) {
        self.actions.push_back(Action::Emit(event));
    }

    /// A prepay may be launched when it is valid for at least the safety margin, on the
    /// server's clock (rule 8).
    fn usable(&self, expires_at: Option<Millis>, now: Millis) -> bool {
        let server_now = self.clock.server_time(now);
        expires_at.is_some_and(|at| server_now.plus(self.config.expiry_margin_ms) < at)
    }
}

/// The guard for all orders of one page: a router over the orders' machines. See the module
/// documentation for the calling contract and the rules.
#[derive(Debug, Clone)]
pub struct Guard {
    shared: Shared,
    orders: SortedMap<OrderNo, Order>,
    /// Submissions of the order form, by content fingerprint (`submit`).
    submits: SortedMap<Fingerprint, Submission>,
}

impl Guard {
    /// A guard with `config`, drawing keys and jitter from `seed` (32 bytes from the platform's
    /// cryptographic random source).
    pub fn new(config: Config, seed: [u8; 32]) -> Result<Guard, ConfigError> {
        config.validate()?;
        Ok(Guard {
            shared: Shared {
                config,
                entropy: Entropy::new(seed),
                clock: Clock::default(),
                actions: Queue::new(),
                next_request: 0,
            },
            orders: SortedMap::new(),
            submits: SortedMap::new(),
        })
    }

    // ----- getters -----

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Whether a call for this order is running (the shell's fast path for a double click:
    /// no need to compute a fingerprint to know the click joins).
    pub fn is_busy(&self, order_no: &OrderNo) -> bool {
        self.orders.get(order_no).is_some_and(Order::is_busy)
    }

    /// Whether no call is running for any order and no timer is armed: nothing would ever
    /// feed this guard again on its own. Shells keep a busy guard alive (a page may drop its
    /// last reference mid-payment) and let an idle one go.
    pub fn is_idle(&self) -> bool {
        self.orders.values().all(Order::is_idle) && !self.submits.values().any(Submission::is_busy)
    }

    /// Whether this page knows the order is paid.
    pub fn is_paid(&self, order_no: &OrderNo) -> bool {
        self.orders.get(order_no).is_some_and(Order::is_paid)
    }

    // ----- handle -----

    /// Feeds one event that happened at `now`.
    pub fn handle(&mut self, input: Input, now: Millis) {
        if let Some(jump) = self.shared.clock.handle_input_time(now) {
            self.clock_jumped(jump);
        }
        let cx = &mut self.shared;
        match input {
            Input::Pay {
                order_no,
                fingerprint,
                caller,
            } => self
                .orders
                .get_or_insert_with(order_no.clone(), || Order::new(order_no))
                .handle_pay(fingerprint, caller, now, cx),
            Input::Resume { order_no } => self
                .orders
                .get_or_insert_with(order_no.clone(), || Order::new(order_no))
                .handle_resume(cx),
            Input::TabLock {
                order_no,
                request,
                result,
            } => {
                if let Some(order) = expecting(&mut self.orders, &order_no, request) {
                    order.handle_tab_lock(result, now, cx);
                } else if result == LockResult::Acquired
                    && !self.orders.get(&order_no).is_some_and(Order::holds_lock)
                {
                    // Rule 2: a lock granted for a request nobody waits for any more is given
                    // back at once; kept, it would make every later call wait for this tab.
                    cx.push(Action::ReleaseTabLock { order_no });
                }
            }
            Input::RecordLoaded {
                order_no,
                request,
                loaded,
            } => {
                if let Some(order) = expecting(&mut self.orders, &order_no, request) {
                    order.handle_loaded(loaded, now, cx);
                }
            }
            Input::CreateReplied {
                order_no,
                request,
                reply,
                server_now,
            } => {
                self.learn_server_clock(server_now, now);
                let cx = &mut self.shared;
                if let Some(order) = expecting(&mut self.orders, &order_no, request) {
                    order.handle_create_reply(reply, now, cx);
                } else if reply == CreateReply::AlreadyPaid {
                    // Rule 4: a late report of paid is still final.
                    if let Some(order) = self.orders.get_mut(&order_no) {
                        order.handle_late_paid(cx);
                    }
                }
            }
            Input::StatusReplied {
                order_no,
                request,
                reply,
                server_now,
            } => {
                self.learn_server_clock(server_now, now);
                let cx = &mut self.shared;
                if let Some(order) = expecting(&mut self.orders, &order_no, request) {
                    order.handle_status_reply(reply, now, cx);
                } else if matches!(reply, StatusReply::Status(OrderStatus::Paid(_))) {
                    // Rule 4: a late report of paid is still final.
                    if let Some(order) = self.orders.get_mut(&order_no) {
                        order.handle_late_paid(cx);
                    }
                }
            }
            Input::Launched {
                order_no,
                request,
                result,
            } => {
                let order = self.orders.get_mut(&order_no);
                if let Some(order) = order.filter(|o| o.expects_launch(request)) {
                    order.handle_launched(result, now, cx);
                }
            }
            Input::TimerFired => self.handle_timeout(now),
            Input::Submit {
                content,
                fingerprint,
                caller,
            } => self
                .submits
                .get_or_insert_with(fingerprint.clone(), || Submission::new(fingerprint))
                .handle_submit(content, caller, now, cx),
            Input::SubmissionLoaded {
                fingerprint,
                request,
                loaded,
            } => {
                let submission = self.submits.get_mut(&fingerprint);
                if let Some(submission) = submission.filter(|s| s.expects_load(request)) {
                    submission.handle_loaded(loaded, now, cx);
                }
            }
            Input::SubmitReplied {
                fingerprint,
                request,
                reply,
                server_now,
            } => {
                self.learn_server_clock(server_now, now);
                let cx = &mut self.shared;
                let submission = self.submits.get_mut(&fingerprint);
                if let Some(submission) = submission.filter(|s| s.expects_reply(request)) {
                    submission.handle_reply(reply, now, cx);
                }
            }
            Input::PageShown => {
                for order in self.orders.values_mut() {
                    order.handle_page_shown(now, cx);
                }
            }
            Input::OtherTabFinished { order_no, status } => self
                .orders
                .get_or_insert_with(order_no.clone(), || Order::new(order_no))
                .handle_other_tab(status, cx),
        }
    }

    /// The platform timer fired: every due deadline, silent wallets first (rule 9), then the
    /// steps' timers that were due when it fired, then the submissions' re-sends (S3).
    fn handle_timeout(&mut self, now: Millis) {
        let mut due: Vec<(OrderNo, TimerKind)> = Vec::new();
        for (order_no, order) in self.orders.iter() {
            if let Some(kind) = order.due_timer(now) {
                due.push((order_no.clone(), kind));
            }
        }
        let cx = &mut self.shared;
        for order in self.orders.values_mut() {
            order.handle_wallet_timeout(now, cx);
        }
        for (order_no, kind) in due {
            if let Some(order) = self.orders.get_mut(&order_no) {
                order.handle_timer(kind, now, cx);
            }
        }
        for submission in self.submits.values_mut() {
            submission.handle_timer(now, cx);
        }
    }

    // ----- mutators -----

    /// Drops everything known about an order, its stored record included, so that it may be
    /// paid again (e.g. the merchant reopened it). Refused while a call for it is running.
    pub fn forget(&mut self, order_no: &OrderNo) -> Result<(), PayError> {
        if self.is_busy(order_no) {
            return Err(PayError::Busy);
        }
        self.orders.remove(order_no);
        self.shared.push(Action::Remove {
            order_no: order_no.clone(),
        });
        Ok(())
    }

    /// Rule 8: learns the server's clock from a reply carrying `now`.
    fn learn_server_clock(&mut self, server_now: Option<Millis>, now: Millis) {
        if let Some(jump) = self.shared.clock.handle_server_now(server_now, now) {
            self.clock_jumped(jump);
        }
    }

    /// Rule 8: a clock jumped; every order's device-clock times move with it (a first offset
    /// learned moves nothing, `by == 0`), then the jump is reported.
    fn clock_jumped(&mut self, jump: Jump) {
        if jump.by != 0 {
            for order in self.orders.values_mut() {
                order.shift_times(jump.by);
            }
            for submission in self.submits.values_mut() {
                submission.shift_times(jump.by);
            }
        }
        self.shared.emit(jump.event);
    }

    // ----- poll_* -----

    /// The next action to perform, in order; drain until `None` after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.shared.actions.pop_front()
    }

    /// When to feed [`Input::TimerFired`]: the earliest deadline of any order or submission.
    pub fn poll_timeout(&self) -> Option<Millis> {
        // Loops, not `filter_map(..).chain(..).min()`: the adapters stay out-of-line code in
        // the wasm (measured larger).
        let mut earliest: Option<Millis> = None;
        for order in self.orders.values() {
            earliest = earlier(earliest, order.poll_timeout());
        }
        for submission in self.submits.values() {
            earliest = earlier(earliest, submission.poll_timeout());
        }
        earliest
    }
}

/// The earlier of two deadlines, either of which may be absent.
pub(super) fn earlier(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The order `order_no` when its current step waits for the reply to `request`; replies
/// nobody waits for (late, duplicated, for an ended call) find none.
fn expecting<'a>(
    orders: &'a mut SortedMap<OrderNo, Order>,
    order_no: &OrderNo,
    request: RequestId,
) -> Option<&'a mut Order> {
    orders
        .get_mut(order_no)
        .filter(|order| order.expects(request))
}

#[cfg(test)]
mod tests;
