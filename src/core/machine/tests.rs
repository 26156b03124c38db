//! Scenario tests, driven with a virtual clock and a hand-played server: grouped by the rule
//! of the module doc they check and named for it (`rule_4_...`; the submission rules of
//! `submit.rs` are `s1_...` to `s4_...`). The helpers come first, then one section per rule.

use super::*;
use crate::core::contract::{
    Attempt, ContractError, CreateReply, OrderStatus, StatusReply, SubmitReply, SubmittedOrder,
};
use crate::core::ids::{AttemptId, IdempotencyKey};
use crate::core::record::{Prepay, Record, RecordError, RecordState};
use serde_json::json;

const T0: Millis = Millis(1_800_000_000_000);

fn order() -> OrderNo {
    OrderNo::parse("A1").expect("valid")
}

fn fp(n: u8) -> Fingerprint {
    Fingerprint::parse(&format!("{n:02x}").repeat(32)).expect("valid")
}

fn prepay() -> Prepay {
    Prepay::new(
        json!({"prepayId": "wx1"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
    .expect("small")
}

fn attempt(id: &str, fingerprint: Fingerprint, expires_at: Option<Millis>) -> Attempt {
    Attempt {
        attempt_id: AttemptId::parse(id).expect("valid"),
        fingerprint,
        prepay: prepay(),
        expires_at,
        reused: false,
    }
}

/// A page with one guard, its storage (one record) and a virtual clock.
struct Page {
    guard: Guard,
    now: Millis,
    stored: Option<Record>,
    next_caller: u64,
    /// Server clock minus this page's clock, when replies carry `now`.
    server_offset: Option<i64>,
}

impl Page {
    fn new() -> Page {
        Page::with(Config::default())
    }

    fn with(config: Config) -> Page {
        Page {
            guard: Guard::new(config, [42; 32]).expect("valid config"),
            now: T0,
            stored: None,
            next_caller: 0,
            server_offset: None,
        }
    }

    /// Feeds an input and returns the actions, applying persists to storage as a shell would.
    fn feed(&mut self, input: Input) -> Vec<Action> {
        self.guard.handle(input, self.now);
        let mut out = Vec::new();
        while let Some(action) = self.guard.poll_action() {
            match &action {
                Action::Persist(record) => self.stored = Some(record.clone()),
                Action::Remove { .. } => self.stored = None,
                _ => {}
            }
            out.push(action);
        }
        out
    }

    fn pay(&mut self, fingerprint: Fingerprint) -> Vec<Action> {
        self.next_caller += 1;
        self.feed(Input::Pay {
            order_no: order(),
            fingerprint,
            caller: CallerId(self.next_caller),
        })
    }

    /// Pays and answers the lock and the storage read, returning the actions after the load.
    fn pay_through_load(&mut self, fingerprint: Fingerprint) -> Vec<Action> {
        let first = self.pay(fingerprint);
        let loaded = match self.stored.clone() {
            Some(record) => Loaded::Found(record),
            None => Loaded::Missing,
        };
        let fresh = loaded == Loaded::Missing;
        let actions = self.lock_and_load(&first, loaded);
        if fresh {
            // A new order: the guard asks the server first; it has no attempt.
            assert_eq!(
                count(&actions, is_create),
                0,
                "nothing stored: ask before creating"
            );
            return self.status_reply(&actions, StatusReply::Status(OrderStatus::None));
        }
        actions
    }

    /// Answers the lock request in `first` and the storage read that follows with `loaded`.
    fn lock_and_load(&mut self, first: &[Action], loaded: Loaded) -> Vec<Action> {
        self.feed(Input::TabLock {
            order_no: order(),
            request: request_of(first, "lock"),
            result: LockResult::Acquired,
        });
        let load = self.loading();
        self.feed(Input::RecordLoaded {
            order_no: order(),
            request: load,
            loaded,
        })
    }

    /// The server's clock as its replies tell it: `None` unless a test set an offset.
    fn server_now(&self) -> Option<Millis> {
        self.server_offset
            .map(|by| Millis((self.now.0 as i64 + by).max(0) as u64))
    }

    fn loading(&self) -> RequestId {
        self.guard
            .orders
            .get(&order())
            .and_then(|o| o.awaiting())
            .expect("waiting for a reply")
    }

    fn create_reply(&mut self, actions: &[Action], reply: CreateReply) -> Vec<Action> {
        self.feed(Input::CreateReplied {
            order_no: order(),
            request: request_of(actions, "create"),
            reply,
            server_now: self.server_now(),
        })
    }

    fn status_reply(&mut self, actions: &[Action], reply: StatusReply) -> Vec<Action> {
        self.feed(Input::StatusReplied {
            order_no: order(),
            request: request_of(actions, "status"),
            reply,
            server_now: self.server_now(),
        })
    }

    fn launched(&mut self, actions: &[Action], result: LaunchResult) -> Vec<Action> {
        self.feed(Input::Launched {
            order_no: order(),
            request: request_of(actions, "launch"),
            result,
        })
    }

    /// The wallet reports a cancel; the server confirms the attempt is live and unpaid.
    fn cancel(&mut self, launch: &[Action]) -> Vec<Action> {
        let check = self.launched(launch, LaunchResult::Cancelled);
        assert_eq!(count(&check, is_create) + count(&check, is_launch), 0);
        let record = self.stored.clone().expect("a launched record");
        let live = Attempt {
            attempt_id: record.attempt_id.clone().expect("attempt"),
            fingerprint: record.fingerprint.clone(),
            prepay: record.prepay.clone().expect("prepay"),
            expires_at: record.expires_at,
            reused: true,
        };
        let mut done = check.clone();
        done.extend(self.status_reply(&check, StatusReply::Status(OrderStatus::Unpaid(live))));
        done
    }

    /// Advances the clock to the guard's next deadline and fires the timer.
    fn fire_timer(&mut self) -> Vec<Action> {
        let at = self.guard.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(at);
        self.feed(Input::TimerFired)
    }
}

fn request_of(actions: &[Action], kind: &str) -> RequestId {
    actions
        .iter()
        .find_map(|a| match (kind, a) {
            ("lock", Action::AcquireTabLock { request, .. })
            | ("create", Action::SendCreate { request, .. })
            | ("status", Action::SendStatus { request, .. })
            | ("launch", Action::Launch { request, .. }) => Some(*request),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {kind} request in {actions:#?}"))
}

fn sent_key(actions: &[Action]) -> Option<IdempotencyKey> {
    actions.iter().find_map(|a| match a {
        Action::SendCreate { key, .. } => Some(key.clone()),
        _ => None,
    })
}

fn count(actions: &[Action], pred: fn(&Action) -> bool) -> usize {
    actions.iter().filter(|a| pred(a)).count()
}

fn is_create(a: &Action) -> bool {
    matches!(a, Action::SendCreate { .. })
}

fn is_launch(a: &Action) -> bool {
    matches!(a, Action::Launch { .. })
}

fn resolved(actions: &[Action]) -> Option<(Vec<CallerId>, Result<Outcome, PayError>)> {
    actions.iter().find_map(|a| match a {
        Action::Resolve { callers, result } => Some((callers.clone(), result.clone())),
        _ => None,
    })
}

fn outcome_status(actions: &[Action]) -> Option<OutcomeStatus> {
    match resolved(actions) {
        Some((_, Ok(outcome))) => Some(outcome.status),
        _ => None,
    }
}

fn paid_reply() -> StatusReply {
    StatusReply::Status(OrderStatus::Paid(AttemptId::parse("A1x1").ok()))
}

/// Runs a fresh pay up to the launch; returns the launch actions.
fn pay_to_launch(page: &mut Page) -> Vec<Action> {
    let actions = page.pay_through_load(fp(1));
    let expires = Some(page.now.plus(3_600_000));
    page.create_reply(
        &actions,
        CreateReply::Attempt(attempt("A1x1", fp(1), expires)),
    )
}

impl Page {
    /// For the happy-path test: continue a `pay` already fed, through lock and load.
    fn pay_through_load_continue(&mut self) -> Vec<Action> {
        let lock = self.loading();
        self.feed(Input::TabLock {
            order_no: order(),
            request: lock,
            result: LockResult::Acquired,
        });
        let load = self.loading();
        let asked = self.feed(Input::RecordLoaded {
            order_no: order(),
            request: load,
            loaded: Loaded::Missing,
        });
        assert_eq!(
            count(&asked, is_create),
            0,
            "nothing stored: ask before creating"
        );
        self.status_reply(&asked, StatusReply::Status(OrderStatus::None))
    }
}

/// The server's `unpaid` for the stored record's attempt (live, same content).
fn unpaid_for(record: &Record) -> StatusReply {
    StatusReply::Status(OrderStatus::Unpaid(Attempt {
        attempt_id: record.attempt_id.clone().expect("attempt"),
        fingerprint: record.fingerprint.clone(),
        prepay: record.prepay.clone().expect("prepay"),
        expires_at: record.expires_at,
        reused: true,
    }))
}

use crate::core::schedule::PollConfig;

const HOUR: u64 = 3_600_000;

/// A page whose clock runs `ahead_ms` ahead of the server's, whose replies carry `now`.
fn page_ahead(ahead_ms: i64) -> Page {
    let mut page = Page::new();
    page.now = Millis((T0.0 as i64 + ahead_ms) as u64);
    page.server_offset = Some(-ahead_ms);
    page
}

/// The server's clock, as the page's replies carry it.
fn server_clock(page: &Page) -> Millis {
    page.server_now().expect("replies carry now")
}

/// `pay_to_launch` with the prepay's expiry on the server's clock (1 h left).
fn pay_to_launch_at_server_time(page: &mut Page) -> Vec<Action> {
    let actions = page.pay_through_load(fp(1));
    let expires = Some(server_clock(page).plus(HOUR));
    page.create_reply(
        &actions,
        CreateReply::Attempt(attempt("A1x1", fp(1), expires)),
    )
}

use crate::core::submission::SubmissionRecord;

/// A page submitting the order form, with its one stored submission record.
struct Form {
    guard: Guard,
    now: Millis,
    stored: Option<SubmissionRecord>,
    next_caller: u64,
}

impl Form {
    fn new() -> Form {
        Form {
            guard: Guard::new(Config::default(), [7; 32]).expect("valid config"),
            now: T0,
            stored: None,
            next_caller: 0,
        }
    }

    fn feed(&mut self, input: Input) -> Vec<Action> {
        self.guard.handle(input, self.now);
        let mut out = Vec::new();
        while let Some(action) = self.guard.poll_action() {
            match &action {
                Action::PersistSubmission(record) => self.stored = Some(record.clone()),
                Action::RemoveSubmission { .. } => self.stored = None,
                _ => {}
            }
            out.push(action);
        }
        out
    }

    fn submit(&mut self) -> Vec<Action> {
        self.next_caller += 1;
        self.feed(Input::Submit {
            content: r#"{"amount":1999}"#.into(),
            fingerprint: fp(9),
            caller: CallerId(self.next_caller),
        })
    }

    /// Submits and answers the storage read with what is stored.
    fn submit_through_load(&mut self) -> Vec<Action> {
        let first = self.submit();
        let request = first
            .iter()
            .find_map(|a| match a {
                Action::LoadSubmission { request, .. } => Some(*request),
                _ => None,
            })
            .expect("a load");
        let loaded = Ok(self.stored.clone());
        self.feed(Input::SubmissionLoaded {
            fingerprint: fp(9),
            request,
            loaded,
        })
    }

    fn reply(&mut self, actions: &[Action], reply: SubmitReply) -> Vec<Action> {
        let request = actions
            .iter()
            .find_map(|a| match a {
                Action::SendSubmit { request, .. } => Some(*request),
                _ => None,
            })
            .expect("a submit request");
        self.feed(Input::SubmitReplied {
            fingerprint: fp(9),
            request,
            reply,
            server_now: None,
        })
    }
}

fn submit_key(actions: &[Action]) -> Option<IdempotencyKey> {
    actions.iter().find_map(|a| match a {
        Action::SendSubmit { key, .. } => Some(key.clone()),
        _ => None,
    })
}

fn order_reply(no: &str, expires_at: Millis) -> SubmitReply {
    SubmitReply::Order(SubmittedOrder {
        order_no: OrderNo::parse(no).expect("valid"),
        fingerprint: fp(9),
        expires_at: Some(expires_at),
        reused: false,
    })
}

fn submitted(actions: &[Action]) -> Option<(Vec<CallerId>, Result<Submitted, SubmitError>)> {
    actions.iter().find_map(|a| match a {
        Action::ResolveSubmit { callers, result } => Some((callers.clone(), result.clone())),
        _ => None,
    })
}

// ----- Rule 1: a second `pay` joins, other content is refused, paid answers at once -----

#[test]
fn rule_1_a_second_pay_in_flight_joins_and_both_callers_get_one_result() {
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    let joined = page.pay(fp(1));
    assert!(joined.is_empty(), "a join adds no action: {joined:#?}");
    let launch = page.create_reply(
        &actions,
        CreateReply::Attempt(attempt("A1x1", fp(1), Some(page.now.plus(3_600_000)))),
    );
    let done = page.cancel(&launch);
    let (callers, result) = resolved(&done).expect("resolved");
    assert_eq!(callers, vec![CallerId(1), CallerId(2)]);
    assert_eq!(result.map(|o| o.status), Ok(OutcomeStatus::Cancelled));
}

#[test]
fn rule_1_other_content_while_in_flight_is_refused() {
    let mut page = Page::new();
    page.pay_through_load(fp(1));
    let refused = page.pay(fp(2));
    assert_eq!(resolved(&refused).map(|r| r.1), Some(Err(PayError::Busy)));
    assert!(page.guard.is_busy(&order()));
}

#[test]
fn rule_1_already_paid_is_final() {
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    let done = page.create_reply(&actions, CreateReply::AlreadyPaid);
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
    let again = page.pay(fp(1));
    assert_eq!(outcome_status(&again), Some(OutcomeStatus::Paid));
    assert!(
        again.iter().all(|a| matches!(
            a,
            Action::Emit(Event::Outcome(_))
                | Action::UnlockUi {
                    status: Some(OutcomeStatus::Paid),
                    ..
                }
                | Action::Resolve { .. }
        )),
        "answered at once, with an outcome and the button shown paid: {again:#?}"
    );
    assert!(again
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::Outcome(_)))));
    // Even with other content, and after a reload.
    let mut page2 = Page::new();
    page2.stored = page.stored.clone();
    let actions = page2.pay_through_load(fp(2));
    assert_eq!(count(&actions, is_create) + count(&actions, is_launch), 0);
    assert_eq!(outcome_status(&actions), Some(OutcomeStatus::Paid));
}

// ----- Rule 2: all work under the cross-tab lock; a tab that finds it taken waits -----

#[test]
fn rule_2_a_lock_granted_for_a_request_nobody_awaits_is_given_back() {
    let mut page = Page::new();
    let stray = |page: &mut Page| {
        page.feed(Input::TabLock {
            order_no: order(),
            request: RequestId(9_999),
            result: LockResult::Acquired,
        })
    };
    let released = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::ReleaseTabLock { .. }))
            .count()
    };
    // No call at all: given back.
    assert_eq!(released(&stray(&mut page)), 1);
    // While the order's call holds its own lock: that lock is not touched.
    pay_to_launch(&mut page);
    assert_eq!(released(&stray(&mut page)), 0);
    // A refusal is nothing to give back.
    let refused = page.feed(Input::TabLock {
        order_no: order(),
        request: RequestId(9_998),
        result: LockResult::HeldElsewhere,
    });
    assert_eq!(released(&refused), 0);
}

#[test]
fn rule_2_another_tab_holding_the_lock_makes_this_one_wait_for_its_outcome() {
    let mut page = Page::new();
    let actions = page.pay(fp(1));
    let waiting = page.feed(Input::TabLock {
        order_no: order(),
        request: request_of(&actions, "lock"),
        result: LockResult::HeldElsewhere,
    });
    assert!(waiting
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::WaitingForOtherTab { .. }))));
    let retry = page.fire_timer();
    assert!(retry
        .iter()
        .any(|a| matches!(a, Action::AcquireTabLock { .. })));
    let done = page.feed(Input::OtherTabFinished {
        order_no: order(),
        status: OutcomeStatus::Paid,
    });
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
    assert!(!done
        .iter()
        .any(|a| matches!(a, Action::Persist(_) | Action::Broadcast { .. })));
    assert!(page.guard.is_paid(&order()));
}

// ----- Rule 3: what the stored record decides; a stored prepay is launched only once the server confirms it -----

#[test]
fn rule_3_a_stored_prepay_is_reused_only_after_the_server_confirms_it() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    page.cancel(&launch);
    let record = page.stored.clone().expect("record");
    assert_eq!(record.state, RecordState::Ready);
    page.now = page.now.plus(60_000);
    let asked = page.pay_through_load(fp(1));
    assert_eq!(count(&asked, is_create), 0);
    assert_eq!(
        count(&asked, is_launch),
        0,
        "never launched on the record's word"
    );
    let again = page.status_reply(&asked, unpaid_for(&record));
    assert_eq!(count(&again, is_create), 0);
    assert_eq!(count(&again, is_launch), 1);
    assert!(again
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::PrepayReused { .. }))));
}

#[test]
fn rule_3_an_edited_record_is_never_launched() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    page.cancel(&launch);
    let honest = page.stored.clone().expect("record");
    // Edited in devtools: another order's attempt and wallet.
    let mut forged = honest.clone();
    forged.attempt_id = AttemptId::parse("OTHERx9").ok();
    forged.prepay = Prepay::new(
        json!({"prepayId": "wx-other-order"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    page.stored = Some(forged);
    let asked = page.pay_through_load(fp(1));
    assert_eq!(count(&asked, is_launch), 0);
    let again = page.status_reply(&asked, unpaid_for(&honest));
    let launched: Vec<_> = again
        .iter()
        .filter_map(|a| match a {
            Action::Launch {
                attempt_id, prepay, ..
            } => Some((attempt_id.clone(), prepay.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        launched,
        vec![(
            honest.attempt_id.clone().expect("attempt"),
            honest.prepay.clone().expect("prepay")
        )],
        "the server's attempt is launched, never the record's"
    );
    assert!(again
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::RecordMismatch { .. }))));
}

#[test]
fn rule_3_an_expired_prepay_the_server_says_is_live_is_reused() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    page.cancel(&launch);
    page.now = page.now.plus(3_600_000);
    let actions = page.pay_through_load(fp(1));
    let live = attempt("A1x1", fp(1), Some(page.now.plus(600_000)));
    let after = page.status_reply(&actions, StatusReply::Status(OrderStatus::Unpaid(live)));
    assert_eq!(count(&after, is_create), 0);
    assert_eq!(count(&after, is_launch), 1);
}

#[test]
fn rule_3_a_launched_record_asks_the_server_before_launching_again() {
    let mut page = Page::new();
    pay_to_launch(&mut page);
    // The page reloads while the wallet was open.
    let mut page2 = Page::new();
    page2.stored = page.stored.clone();
    page2.now = page.now.plus(5_000);
    let actions = page2.pay_through_load(fp(1));
    assert_eq!(count(&actions, is_launch), 0);
    assert_eq!(count(&actions, is_create), 0);
    let done = page2.status_reply(&actions, paid_reply());
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
    assert_eq!(count(&done, is_launch), 0);
}

#[test]
fn rule_3_a_dead_attempt_is_replaced_only_after_the_server_confirms() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let polling = page.launched(&launch, LaunchResult::Ok);
    let closed = StatusReply::Status(OrderStatus::Closed(
        AttemptId::parse("A1x1").expect("valid"),
    ));
    let done = page.status_reply(&polling, closed);
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Failed));
    assert_eq!(
        page.stored.as_ref().map(|r| r.state),
        Some(RecordState::Dead)
    );
    // The next pay asks again (another device may have started an attempt meanwhile).
    let asked = page.pay_through_load(fp(1));
    assert_eq!(count(&asked, is_create), 0);
    let live = attempt("A1x2", fp(1), Some(page.now.plus(3_600_000)));
    let reused = page.status_reply(&asked, StatusReply::Status(OrderStatus::Unpaid(live)));
    assert_eq!(count(&reused, is_create), 0);
    assert_eq!(count(&reused, is_launch), 1);
}

#[test]
fn rule_3_without_a_server_expiry_the_local_ttl_applies() {
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    let launch = page.create_reply(&actions, CreateReply::Attempt(attempt("A1x1", fp(1), None)));
    page.cancel(&launch);
    let ttl = page.guard.config().prepay_ttl_ms;
    assert_eq!(
        page.stored.as_ref().and_then(|r| r.expires_at),
        Some(page.now.plus(ttl))
    );
    page.now = page
        .now
        .plus(ttl - page.guard.config().expiry_margin_ms + 1);
    let again = page.pay_through_load(fp(1));
    assert_eq!(count(&again, is_launch), 0, "locally expired: ask first");
    assert_eq!(count(&again, is_create), 0);
}

// ----- Rule 4: a new key only after the server said nothing could still be paid; persisted before it is sent; paid is final -----

#[test]
fn rule_4_happy_path_persists_the_key_before_sending_and_launches_once() {
    let mut page = Page::new();
    let first = page.pay(fp(1));
    assert!(matches!(first[0], Action::LockUi { .. }), "{first:#?}");
    let after_load = page.pay_through_load_continue();
    let persist_at = after_load
        .iter()
        .position(|a| matches!(a, Action::Persist(_)));
    let send_at = after_load.iter().position(is_create);
    assert!(
        persist_at < send_at && persist_at.is_some(),
        "{after_load:#?}"
    );
    let stored = page.stored.clone().expect("stored");
    assert_eq!(stored.state, RecordState::Creating);
    assert_eq!(Some(stored.key.clone()), sent_key(&after_load));

    let expires = Some(page.now.plus(3_600_000));
    let launch = page.create_reply(
        &after_load,
        CreateReply::Attempt(attempt("A1x1", fp(1), expires)),
    );
    assert_eq!(count(&launch, is_launch), 1);
    assert_eq!(
        page.stored.as_ref().map(|r| r.state),
        Some(RecordState::Launched)
    );

    let polling = page.launched(&launch, LaunchResult::Ok);
    assert!(polling
        .iter()
        .any(|a| matches!(a, Action::SendStatus { .. })));
    let done = page.status_reply(&polling, paid_reply());
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
    assert!(done.iter().any(|a| matches!(
        a,
        Action::Broadcast {
            status: OutcomeStatus::Paid,
            ..
        }
    )));
    assert!(done
        .iter()
        .any(|a| matches!(a, Action::ReleaseTabLock { .. })));
    assert_eq!(
        page.stored.as_ref().map(|r| r.state),
        Some(RecordState::Paid)
    );
}

#[test]
fn rule_4_an_expired_prepay_asks_the_server_and_mints_only_after_closed() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let old_key = page.stored.as_ref().map(|r| r.key.clone());
    page.cancel(&launch);
    page.now = page.now.plus(3_600_000); // past the expiry
    let actions = page.pay_through_load(fp(1));
    assert_eq!(
        count(&actions, is_create),
        0,
        "no create before the server speaks"
    );
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::SendStatus { .. })));
    let after = page.status_reply(
        &actions,
        StatusReply::Status(OrderStatus::Closed(
            AttemptId::parse("A1x1").expect("valid"),
        )),
    );
    let new_key = sent_key(&after).expect("a new create after closed");
    assert_ne!(Some(new_key), old_key);
}

#[test]
fn rule_4_changed_content_mints_a_new_key() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let old_key = page.stored.as_ref().map(|r| r.key.clone());
    page.cancel(&launch);
    let asked = page.pay_through_load(fp(2));
    assert_eq!(
        count(&asked, is_create),
        0,
        "other content: ask the server first"
    );
    let live = attempt("A1x1", fp(1), Some(page.now.plus(3_600_000)));
    let actions = page.status_reply(&asked, StatusReply::Status(OrderStatus::Unpaid(live)));
    let key = sent_key(&actions).expect("create for the new content");
    assert_ne!(Some(key), old_key);
    assert_eq!(
        page.stored.as_ref().map(|r| r.fingerprint.clone()),
        Some(fp(2))
    );
}

#[test]
fn rule_4_a_late_paid_reply_makes_the_order_final() {
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    page.create_reply(&actions, CreateReply::NoReply);
    let retry = page.fire_timer();
    // The first request's answer arrives after its time-out: already paid.
    let done = page.create_reply(&actions, CreateReply::AlreadyPaid);
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
    assert!(page.guard.is_paid(&order()));
    // The retry's reply changes nothing.
    let attempt = CreateReply::Attempt(attempt("A1x1", fp(1), Some(page.now.plus(3_600_000))));
    assert!(page.create_reply(&retry, attempt).is_empty());
}

// ----- Rule 5: unclear creates re-send the same key, then pending; nothing unclear mints a key -----

#[test]
fn rule_5_timeouts_resend_the_same_key_then_end_pending_and_the_next_pay_resends_it_again() {
    let mut page = Page::new();
    let mut actions = page.pay_through_load(fp(1));
    let key = sent_key(&actions).expect("create sent");
    let limit = page.guard.config().create_retries;
    for _ in 0..limit {
        let retry = page.create_reply(&actions, CreateReply::NoReply);
        assert_eq!(count(&retry, is_create), 0, "waits before retrying");
        actions = page.fire_timer();
        assert_eq!(sent_key(&actions), Some(key.clone()), "same key on retry");
    }
    let end = page.create_reply(&actions, CreateReply::NoReply);
    assert_eq!(outcome_status(&end), Some(OutcomeStatus::Pending));
    assert!(end.iter().any(|a| matches!(
        a,
        Action::UnlockUi {
            status: Some(OutcomeStatus::Pending),
            ..
        }
    )));
    assert_eq!(
        page.stored.as_ref().map(|r| r.state),
        Some(RecordState::Creating)
    );

    page.now = page.now.plus(86_400_000);
    let again = page.pay_through_load(fp(1));
    assert_eq!(
        sent_key(&again),
        Some(key),
        "a day later, still the same key"
    );
}

#[test]
fn rule_5_status_errors_never_mint_a_key_and_end_pending() {
    let mut page = Page::new();
    page.stored = None;
    let actions = page.pay(fp(1));
    let mut actions = page.lock_and_load(&actions, Loaded::Unusable(RecordError::FutureVersion(9)));
    let mut all = actions.clone();
    for i in 0..1000 {
        let reply = if i % 2 == 0 {
            StatusReply::NoReply
        } else {
            StatusReply::Invalid(ContractError("nonsense".into()))
        };
        let after = page.status_reply(&actions, reply);
        all.extend(after.clone());
        if resolved(&after).is_some() {
            break;
        }
        actions = page.fire_timer();
        all.extend(actions.clone());
    }
    assert_eq!(count(&all, is_create), 0);
    assert_eq!(count(&all, is_launch), 0);
    assert_eq!(outcome_status(&all), Some(OutcomeStatus::Pending));
    assert!(
        page.now.since(T0) <= 600_000 + 60_000,
        "bounded by the deadline"
    );
}

#[test]
fn rule_5_late_and_duplicated_replies_are_ignored() {
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    page.create_reply(&actions, CreateReply::NoReply);
    let retry = page.fire_timer();
    // The first request's reply arrives late: ignored, the retry is awaited.
    let late = page.create_reply(
        &actions,
        CreateReply::Attempt(attempt("A1x1", fp(1), Some(page.now.plus(3_600_000)))),
    );
    assert!(late.is_empty());
    let launch = page.create_reply(
        &retry,
        CreateReply::Attempt(attempt("A1x1", fp(1), Some(page.now.plus(3_600_000)))),
    );
    assert_eq!(count(&launch, is_launch), 1);
    let dup = page.create_reply(
        &retry,
        CreateReply::Attempt(attempt("A1x1", fp(1), Some(page.now.plus(3_600_000)))),
    );
    assert!(dup.is_empty());
}

// ----- Rule 6: polling after the launch, its deadline, the fast checks again on coming back -----

#[test]
fn rule_6_polling_ends_pending_at_the_deadline_and_the_button_says_check_status() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let mut actions = page.launched(&launch, LaunchResult::Ok);
    let unpaid = || {
        StatusReply::Status(OrderStatus::Paying(
            AttemptId::parse("A1x1").expect("valid"),
        ))
    };
    let mut queries = 1;
    loop {
        let after = page.status_reply(&actions, unpaid());
        if let Some(status) = outcome_status(&after) {
            assert_eq!(status, OutcomeStatus::Pending);
            assert!(after.iter().any(|a| matches!(
                a,
                Action::UnlockUi {
                    status: Some(OutcomeStatus::Pending),
                    ..
                }
            )));
            break;
        }
        actions = page.fire_timer();
        queries += 1;
    }
    let config = PollConfig::default();
    assert!(queries <= config.max_queries);
    assert!(page.now.since(T0) <= config.max_duration_ms);
    assert_eq!(
        page.stored.as_ref().map(|r| r.state),
        Some(RecordState::Launched)
    );
}

#[test]
fn rule_6_coming_back_to_the_page_checks_at_once() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let mut actions = page.launched(&launch, LaunchResult::Ok);
    for _ in 0..6 {
        page.status_reply(
            &actions,
            StatusReply::Status(OrderStatus::Paying(
                AttemptId::parse("A1x1").expect("valid"),
            )),
        );
        actions = page.fire_timer();
    }
    page.status_reply(&actions, StatusReply::NoReply);
    assert!(page.guard.poll_timeout().is_some_and(|at| at > page.now));
    let shown = page.feed(Input::PageShown);
    assert!(
        shown.iter().any(|a| matches!(a, Action::SendStatus { .. })),
        "{shown:#?}"
    );
}

#[test]
fn rule_6_coming_back_before_the_launcher_returns_starts_polling() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let shown = page.feed(Input::PageShown);
    assert!(shown.iter().any(|a| matches!(a, Action::SendStatus { .. })));
    let done = page.status_reply(&shown, paid_reply());
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
    // The launcher's late answer changes nothing.
    assert!(page.launched(&launch, LaunchResult::Ok).is_empty());
}

#[test]
fn rule_6_only_the_wait_for_a_payment_long_polls() {
    let mut page = Page::new();
    let long_poll = page.guard.config().poll.long_poll_secs;
    assert!(long_poll > 0, "on by default");
    let wait_of = |actions: &[Action]| {
        actions.iter().find_map(|a| match a {
            Action::SendStatus { wait_secs, .. } => Some(*wait_secs),
            _ => None,
        })
    };
    // Deciding (nothing stored yet): an immediate answer.
    let asked = page.pay(fp(1));
    let deciding = page.lock_and_load(&asked, Loaded::Missing);
    assert_eq!(wait_of(&deciding), Some(0));
    let created = page.status_reply(&deciding, StatusReply::Status(OrderStatus::None));
    let launch = page.create_reply(
        &created,
        CreateReply::Attempt(attempt("A1x1", fp(1), Some(page.now.plus(3_600_000)))),
    );
    // Waiting for the buyer's payment: long-poll.
    let polling = page.launched(&launch, LaunchResult::Ok);
    assert_eq!(wait_of(&polling), Some(long_poll));
}

// ----- Rule 7: the wallet's word is checked with the server; a `resume` always ends with an outcome -----

#[test]
fn rule_7_resume_follows_a_launched_order_without_launching() {
    let mut page = Page::new();
    pay_to_launch(&mut page);
    let mut page2 = Page::new();
    page2.stored = page.stored.clone();
    let actions = page2.feed(Input::Resume { order_no: order() });
    let polling = page2.lock_and_load(
        &actions,
        Loaded::Found(page.stored.clone().expect("stored")),
    );
    assert!(polling
        .iter()
        .any(|a| matches!(a, Action::SendStatus { .. })));
    let done = page2.status_reply(&polling, paid_reply());
    assert!(done
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::Outcome(o)) if o.status == OutcomeStatus::Paid)));
    assert_eq!(count(&done, is_launch) + count(&done, is_create), 0);
}

#[test]
fn rule_7_a_wallet_cancel_is_checked_with_the_server() {
    // The buyer paid (another device, or a wallet that reports its own close as a cancel).
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let check = page.launched(&launch, LaunchResult::Cancelled);
    assert_eq!(outcome_status(&check), None, "not before the server speaks");
    let done = page.status_reply(&check, paid_reply());
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
    assert_eq!(
        page.stored.as_ref().map(|r| r.state),
        Some(RecordState::Paid)
    );
    // Unreachable server: the wallet's word, but the record stays `launched`, so the next pay
    // asks before launching again.
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let check = page.launched(&launch, LaunchResult::Failed);
    let done = page.status_reply(&check, StatusReply::NoReply);
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Failed));
    assert_eq!(
        page.stored.as_ref().map(|r| r.state),
        Some(RecordState::Launched)
    );
    let again = page.pay_through_load(fp(1));
    assert_eq!(count(&again, is_launch) + count(&again, is_create), 0);
}

#[test]
fn rule_7_a_resume_always_ends_with_an_outcome() {
    // A reload while the create was in flight: the record is `creating`.
    let mut page = Page::new();
    page.pay_through_load(fp(1));
    let mut page2 = Page::new();
    page2.stored = page.stored.clone();
    let actions = page2.feed(Input::Resume { order_no: order() });
    let asked = page2.lock_and_load(
        &actions,
        Loaded::Found(page.stored.clone().expect("stored")),
    );
    assert_eq!(count(&asked, is_create) + count(&asked, is_launch), 0);
    let done = page2.status_reply(&asked, StatusReply::Status(OrderStatus::None));
    assert!(done
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::Outcome(_)))));
    assert!(done.iter().any(|a| matches!(a, Action::UnlockUi { .. })));
    assert!(!page2.guard.is_busy(&order()));
}

#[test]
fn rule_7_a_reload_during_a_create_is_not_reported_as_a_failure() {
    let mut page = Page::new();
    let creating = page.pay_through_load(fp(1));
    assert_eq!(count(&creating, is_create), 1);
    // Reload: the create was abandoned, and the server closed its attempt.
    let mut page2 = Page::new();
    page2.stored = page.stored.clone();
    let first = page2.feed(Input::Resume { order_no: order() });
    let loaded = page2.lock_and_load(&first, Loaded::Found(page.stored.clone().expect("record")));
    let done = page2.status_reply(
        &loaded,
        StatusReply::Status(OrderStatus::Closed(AttemptId::parse("A1x1").expect("id"))),
    );
    let event = done.iter().find_map(|a| match a {
        Action::Emit(Event::Outcome(o)) => Some(o.clone()),
        _ => None,
    });
    let event = event.expect("an outcome");
    assert_eq!(event.status, OutcomeStatus::Cancelled);
    assert_eq!(event.reason, Some(Reason::NotStarted));
}

#[test]
fn rule_7_a_resumed_cancel_stays_a_cancel_not_a_payment_never_started() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    page.cancel(&launch);
    let record = page.stored.clone().expect("record");
    let mut page2 = Page::new();
    page2.stored = Some(record.clone());
    let first = page2.feed(Input::Resume { order_no: order() });
    let loaded = page2.lock_and_load(&first, Loaded::Found(record.clone()));
    let done = page2.status_reply(&loaded, unpaid_for(&record));
    let outcome = done.iter().find_map(|a| match a {
        Action::Emit(Event::Outcome(o)) => Some(o.clone()),
        _ => None,
    });
    let outcome = outcome.expect("an outcome");
    assert_eq!(outcome.status, OutcomeStatus::Cancelled);
    assert_eq!(outcome.reason, None);
    assert_eq!(count(&done, is_launch), 0);
}

// ----- Rule 8: server time: expiries on the server's clock, timers move with clock jumps -----

#[test]
fn rule_8_a_clock_jump_back_keeps_the_remaining_wait() {
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    page.create_reply(&actions, CreateReply::NoReply);
    let at = page.guard.poll_timeout().expect("retry armed");
    let wait = at.since(page.now);
    page.now = page.now.minus(3_600_000);
    let jumped = page.feed(Input::TimerFired);
    assert!(jumped
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::ClockJumped { .. }))));
    assert_eq!(
        page.guard.poll_timeout().map(|t| t.since(page.now)),
        Some(wait)
    );
}

#[test]
fn rule_8_a_prepay_inside_the_safety_margin_is_not_launched() {
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    let margin = page.guard.config().expiry_margin_ms;
    // The server's expiry wins over the 5-minute TTL, and it is too close to launch.
    let soon = Some(page.now.plus(margin - 1));
    let after = page.create_reply(&actions, CreateReply::Attempt(attempt("A1x1", fp(1), soon)));
    assert_eq!(count(&after, is_launch), 0);
    assert_eq!(count(&after, is_create), 0);
    assert!(after.iter().any(|a| matches!(a, Action::SendStatus { .. })));
    // With room to pay, the same reply launches.
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    let later = Some(page.now.plus(margin + 1));
    let after = page.create_reply(
        &actions,
        CreateReply::Attempt(attempt("A1x1", fp(1), later)),
    );
    assert_eq!(count(&after, is_launch), 1);
}

#[test]
fn rule_8_a_device_clock_hours_ahead_still_launches_and_pays() {
    for ahead in [3 * HOUR as i64, 24 * HOUR as i64, -(24 * HOUR as i64)] {
        let mut page = page_ahead(ahead);
        let actions = page.pay_through_load(fp(1));
        // The server's prepay is valid for 2 h on the server's clock.
        let expires = Some(server_clock(&page).plus(2 * HOUR));
        let launch = page.create_reply(
            &actions,
            CreateReply::Attempt(attempt("A1x1", fp(1), expires)),
        );
        assert_eq!(count(&launch, is_launch), 1, "clock off by {ahead} ms");
        let polling = page.launched(&launch, LaunchResult::Ok);
        let done = page.status_reply(&polling, paid_reply());
        assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
    }
}

#[test]
fn rule_8_a_stored_prepay_is_judged_on_the_server_clock() {
    let mut page = page_ahead(3 * HOUR as i64);
    let launch = pay_to_launch_at_server_time(&mut page);
    page.cancel(&launch);
    let record = page.stored.clone().expect("record");
    let asked = page.pay_through_load(fp(1));
    let again = page.status_reply(&asked, unpaid_for(&record));
    assert_eq!(count(&again, is_launch), 1, "{again:#?}");
    assert_eq!(count(&again, is_create), 0);
}

#[test]
fn rule_8_a_clock_jump_ahead_while_the_wallet_is_open_changes_nothing() {
    let mut page = page_ahead(0);
    let launch = pay_to_launch_at_server_time(&mut page);
    let mut actions = page.launched(&launch, LaunchResult::Ok);
    let paying = || StatusReply::Status(OrderStatus::Paying(AttemptId::parse("A1x1").expect("id")));
    actions = {
        page.status_reply(&actions, paying());
        page.fire_timer()
    };
    // The device clock jumps 3 h ahead; the server's does not.
    page.now = page.now.plus(3 * HOUR);
    page.server_offset = Some(-(3 * HOUR as i64));
    let after = page.status_reply(&actions, paying());
    assert!(after
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::ServerClock { .. }))));
    assert_eq!(outcome_status(&after), None, "still waiting: {after:#?}");
    let next = page.guard.poll_timeout().expect("next query armed");
    assert!(next.since(page.now) <= 60_000, "the wait stays a wait");
    let query = page.fire_timer();
    let done = page.status_reply(&query, paid_reply());
    assert_eq!(outcome_status(&done), Some(OutcomeStatus::Paid));
}

// ----- Rule 9: never stuck: a silent wallet, a pay joining a waiting resume -----

#[test]
fn rule_9_a_silent_wallet_ends_pending_and_paying_again_reopens_the_same_prepay() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let record = page.stored.clone().expect("record");
    // The wallet never answers.
    let check = page.fire_timer();
    assert_eq!(page.now.since(T0), Config::default().launch_timeout_ms);
    let done = page.status_reply(&check, unpaid_for(&record));
    let outcome = match resolved(&done) {
        Some((_, Ok(outcome))) => outcome,
        other => panic!("no outcome: {other:?}"),
    };
    assert_eq!(outcome.status, OutcomeStatus::Pending);
    assert_eq!(outcome.reason, Some(Reason::WalletNoReply));
    assert!(done.iter().any(|a| matches!(
        a,
        Action::UnlockUi {
            status: Some(OutcomeStatus::Pending),
            ..
        }
    )));
    assert!(!page.guard.is_busy(&order()));
    // Pay again: the server confirms the same attempt, the same prepay is reopened.
    let asked = page.pay_through_load(fp(1));
    let again = page.status_reply(&asked, unpaid_for(&record));
    assert_eq!(count(&again, is_create), 0);
    assert_eq!(count(&again, is_launch), 1);
    // The first wallet's late "ok" is for a launch no longer current: ignored.
    assert_eq!(
        count(&page.launched(&launch, LaunchResult::Ok), is_launch),
        0
    );
}

#[test]
fn rule_9_a_silent_wallets_late_answer_does_not_take_a_new_call_off_its_lock() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let record = page.stored.clone().expect("record");
    let check = page.fire_timer();
    page.status_reply(&check, unpaid_for(&record));
    // Pay again: the new call asks for the cross-tab lock; before the lock is granted, the
    // first wallet answers at last.
    let first = page.pay(fp(1));
    for late in [LaunchResult::Cancelled, LaunchResult::Failed] {
        let heard = page.launched(&launch, late);
        assert!(
            heard.is_empty(),
            "the new call asks the server itself: {heard:#?}"
        );
    }
    // The lock the call asked for is taken up (never left acquired and unreleased), and the
    // call goes on: the server confirms the same attempt, the same prepay is reopened.
    let asked = page.lock_and_load(&first, Loaded::Found(record.clone()));
    let again = page.status_reply(&asked, unpaid_for(&record));
    assert_eq!(count(&again, is_create), 0);
    assert_eq!(count(&again, is_launch), 1);
}

#[test]
fn rule_9_a_silent_wallets_late_ok_is_still_followed() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    let record = page.stored.clone().expect("record");
    let check = page.fire_timer();
    page.status_reply(&check, unpaid_for(&record));
    // Much later the wallet answers "ok": the guard follows it without locking the button.
    let follow = page.launched(&launch, LaunchResult::Ok);
    assert!(!follow.iter().any(|a| matches!(a, Action::LockUi { .. })));
    let loaded = page.lock_and_load(&follow, Loaded::Found(record.clone()));
    let done = page.status_reply(&loaded, paid_reply());
    assert!(done.iter().any(|a| matches!(
        a,
        Action::Emit(Event::Outcome(Outcome {
            status: OutcomeStatus::Paid,
            ..
        }))
    )));
}

#[test]
fn rule_9_a_pay_joining_a_resume_that_waits_asks_at_once() {
    let mut page = Page::new();
    pay_to_launch(&mut page);
    let record = page.stored.clone().expect("record");
    // A reload: the new page resumes the launched order and waits for the payment.
    let mut page2 = Page::new();
    page2.stored = Some(record.clone());
    let first = page2.feed(Input::Resume { order_no: order() });
    let polling = page2.lock_and_load(&first, Loaded::Found(record.clone()));
    page2.status_reply(
        &polling,
        StatusReply::Status(OrderStatus::Paying(AttemptId::parse("A1x1").expect("id"))),
    );
    assert!(page2.guard.poll_timeout().is_some_and(|at| at > page2.now));
    // The buyer clicks Pay: one status query now, not at the poll's next turn.
    let click = page2.pay(fp(1));
    assert!(click.iter().any(|a| matches!(a, Action::LockUi { .. })));
    assert!(click.iter().any(|a| matches!(a, Action::SendStatus { .. })));
    let again = page2.status_reply(&click, unpaid_for(&record));
    assert_eq!(count(&again, is_launch), 1, "the same prepay, reopened");
    assert_eq!(count(&again, is_create), 0);
}

// ----- Rule 10: every call ends with an outcome; other tabs hear it -----

#[test]
fn rule_10_a_rejected_create_is_an_error_and_keeps_the_key() {
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    let key = sent_key(&actions);
    let done = page.create_reply(
        &actions,
        CreateReply::Rejected {
            status: 404,
            code: "unknown_order".into(),
        },
    );
    assert!(matches!(
        resolved(&done),
        Some((_, Err(PayError::Rejected { status: 404, .. })))
    ));
    assert!(done
        .iter()
        .any(|a| matches!(a, Action::UnlockUi { status: None, .. })));
    let again = page.pay_through_load(fp(1));
    assert_eq!(sent_key(&again), key);
}

#[test]
fn rule_10_an_idle_tab_hears_another_tabs_outcome() {
    let mut page = Page::new();
    let heard = page.feed(Input::OtherTabFinished {
        order_no: order(),
        status: OutcomeStatus::Paid,
    });
    assert!(heard.iter().any(|a| matches!(
        a,
        Action::Emit(Event::Outcome(Outcome {
            status: OutcomeStatus::Paid,
            ..
        }))
    )));
    assert!(heard.iter().any(|a| matches!(
        a,
        Action::UnlockUi {
            status: Some(OutcomeStatus::Paid),
            ..
        }
    )));
    // A click now ends paid at once, with an outcome, never a lock, a load or a request.
    let click = page.pay(fp(1));
    assert_eq!(outcome_status(&click), Some(OutcomeStatus::Paid));
    assert!(!click.iter().any(|a| matches!(
        a,
        Action::AcquireTabLock { .. } | Action::SendStatus { .. } | Action::SendCreate { .. }
    )));
}

#[test]
fn rule_10_a_tab_shown_again_asks_the_server_about_orders_it_shows_unsettled() {
    let mut page = Page::new();
    let launch = pay_to_launch(&mut page);
    page.cancel(&launch);
    let shown = page.feed(Input::PageShown);
    assert!(shown
        .iter()
        .any(|a| matches!(a, Action::AcquireTabLock { .. })));
    let loaded = page.lock_and_load(&shown, Loaded::Found(page.stored.clone().expect("record")));
    let done = page.status_reply(&loaded, paid_reply());
    assert!(done.iter().any(|a| matches!(
        a,
        Action::UnlockUi {
            status: Some(OutcomeStatus::Paid),
            ..
        }
    )));
}

// ----- submit (docs/contract.md §4; rules S1–S4 of machine/submit.rs) -----

// ----- S1: a double submit joins; an answered one answers at once -----

#[test]
fn s1_a_double_submit_joins_and_an_answered_one_answers_at_once() {
    let mut form = Form::new();
    let sent = form.submit_through_load();
    let second = form.submit();
    assert!(second.is_empty(), "joined: {second:#?}");
    let done = form.reply(&sent, order_reply("O1", T0.plus(900_000)));
    assert_eq!(submitted(&done).map(|(c, _)| c.len()), Some(2));
    // The same page again: answered at once.
    let again = form.submit();
    assert!(matches!(
        submitted(&again),
        Some((_, Ok(Submitted { reused: true, .. })))
    ));
}

// ----- S2: the stored record decides the key; a new one is persisted before it is sent -----

#[test]
fn s2_a_reload_inside_the_window_resends_the_key_and_after_it_mints_a_new_one() {
    let mut form = Form::new();
    let sent = form.submit_through_load();
    let key = submit_key(&sent);
    form.reply(&sent, order_reply("O1", T0.plus(900_000)));
    // A reload (a relaunched app): the stored key is sent again.
    let mut reloaded = Form::new();
    reloaded.stored = form.stored.clone();
    reloaded.now = T0.plus(60_000);
    let resent = reloaded.submit_through_load();
    assert_eq!(submit_key(&resent), key);
    // After the window: a new key (a new order, unless the server still finds one).
    let mut later = Form::new();
    later.guard = Guard::new(Config::default(), [8; 32]).expect("valid config");
    later.stored = form.stored.clone();
    later.now = T0.plus(900_001);
    let fresh = later.submit_through_load();
    assert!(submit_key(&fresh).is_some());
    assert_ne!(submit_key(&fresh), key);
}

#[test]
fn s2_a_new_submission_persists_its_key_before_sending_and_remembers_the_order() {
    let mut form = Form::new();
    let sent = form.submit_through_load();
    let persist = sent
        .iter()
        .position(|a| matches!(a, Action::PersistSubmission(_)));
    let send = sent
        .iter()
        .position(|a| matches!(a, Action::SendSubmit { .. }));
    assert!(persist.is_some() && persist < send, "{sent:#?}");
    let body = sent
        .iter()
        .find_map(|a| match a {
            Action::SendSubmit { body, .. } => Some(body.clone()),
            _ => None,
        })
        .expect("body");
    assert!(body.contains(r#""content":{"amount":1999}"#), "{body}");
    assert!(
        !form
            .stored
            .as_ref()
            .map(SubmissionRecord::encode)
            .unwrap_or_default()
            .contains("amount"),
        "no content stored"
    );
    let done = form.reply(&sent, order_reply("O1", T0.plus(900_000)));
    let (callers, result) = submitted(&done).expect("resolved");
    assert_eq!(callers.len(), 1);
    assert_eq!(
        result.map(|s| s.order_no.as_str().to_owned()),
        Ok("O1".into())
    );
    assert_eq!(
        form.stored.as_ref().and_then(|r| r.order_no.clone()),
        OrderNo::parse("O1").ok()
    );
}

#[test]
fn s2_an_unusable_submission_record_mints_a_new_key() {
    let mut form = Form::new();
    let first = form.submit();
    let request = first
        .iter()
        .find_map(|a| match a {
            Action::LoadSubmission { request, .. } => Some(*request),
            _ => None,
        })
        .expect("a load");
    let sent = form.feed(Input::SubmissionLoaded {
        fingerprint: fp(9),
        request,
        loaded: Err(RecordError::Corrupt("x".into())),
    });
    assert!(sent
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::SubmissionRejected { .. }))));
    assert!(submit_key(&sent).is_some());
}

// ----- S3: anything unclear re-sends the same key, a bounded number of times -----

#[test]
fn s3_lost_replies_resend_the_same_key_and_keep_it_for_the_next_submit() {
    let mut form = Form::new();
    let mut actions = form.submit_through_load();
    let key = submit_key(&actions);
    let mut sends = 1;
    loop {
        let after = form.reply(&actions, SubmitReply::NoReply);
        if let Some((_, result)) = submitted(&after) {
            assert_eq!(result, Err(SubmitError::Unreachable(Reason::Network)));
            break;
        }
        let at = form.guard.poll_timeout().expect("a re-send armed");
        form.now = form.now.max(at);
        actions = form.feed(Input::TimerFired);
        assert_eq!(submit_key(&actions), key, "the same key, always");
        sends += 1;
    }
    assert_eq!(sends, Config::default().create_retries + 1);
    assert_eq!(form.stored.as_ref().map(|r| r.key.clone()), key);
    let next = form.submit_through_load();
    assert_eq!(submit_key(&next), key);
}

#[test]
fn s3_a_busy_server_or_a_broken_reply_resends_the_same_key_no_sooner_than_retry_after() {
    let mut form = Form::new();
    let sent = form.submit_through_load();
    let key = submit_key(&sent);
    let busy = form.reply(
        &sent,
        SubmitReply::InProgress {
            retry_after_ms: Some(5_000),
        },
    );
    assert!(submitted(&busy).is_none(), "{busy:#?}");
    // The back-off is 1 s, `Retry-After` asks for 5 s: the later of the two.
    assert_eq!(form.guard.poll_timeout(), Some(form.now.plus(5_000)));
    form.now = form.now.plus(4_999);
    assert!(form.feed(Input::TimerFired).is_empty(), "not before it");
    form.now = form.now.plus(1);
    let resent = form.feed(Input::TimerFired);
    assert_eq!(submit_key(&resent), key);
    assert!(resent.iter().any(|a| matches!(
        a,
        Action::Emit(Event::SubmitSent {
            new_key: false,
            try_no: 2,
            ..
        })
    )));
    let broken = form.reply(
        &resent,
        SubmitReply::Invalid(ContractError("no orderNo".into())),
    );
    assert!(submitted(&broken).is_none(), "{broken:#?}");
    let at = form.guard.poll_timeout().expect("a re-send armed");
    form.now = form.now.max(at);
    let again = form.feed(Input::TimerFired);
    assert_eq!(submit_key(&again), key);
    let done = form.reply(&again, order_reply("O1", form.now.plus(900_000)));
    assert!(matches!(submitted(&done), Some((_, Ok(_)))));
    assert!(form.guard.is_idle());
}

#[test]
fn rule_8_a_clock_jump_back_keeps_a_submission_resend_s_remaining_wait() {
    let mut form = Form::new();
    let sent = form.submit_through_load();
    let key = submit_key(&sent);
    form.reply(&sent, SubmitReply::NoReply);
    let at = form.guard.poll_timeout().expect("a re-send armed");
    let wait = at.since(form.now);
    // The buyer's clock is set back an hour while the re-send waits.
    form.now = form.now.minus(3_600_000);
    let jumped = form.feed(Input::TimerFired);
    assert!(jumped
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::ClockJumped { .. }))));
    assert_eq!(
        form.guard.poll_timeout().map(|t| t.since(form.now)),
        Some(wait)
    );
    form.now = form.now.plus(wait);
    let resent = form.feed(Input::TimerFired);
    assert_eq!(submit_key(&resent), key, "re-sent when its wait is over");
}

// ----- S4: a refusal ends the call and drops the key -----

#[test]
fn s4_a_refusal_drops_the_key() {
    let mut form = Form::new();
    let sent = form.submit_through_load();
    let done = form.reply(
        &sent,
        SubmitReply::Rejected {
            status: 422,
            code: "fingerprint_mismatch".into(),
        },
    );
    assert!(matches!(
        submitted(&done),
        Some((_, Err(SubmitError::Rejected { status: 422, .. })))
    ));
    assert!(form.stored.is_none());
    assert!(form.guard.is_idle());
}

// ----- submissions outside the numbered rules -----

#[test]
fn submit_answers_nobody_waits_for_are_ignored() {
    let mut form = Form::new();
    let first = form.submit();
    let load = first
        .iter()
        .find_map(|a| match a {
            Action::LoadSubmission { request, .. } => Some(*request),
            _ => None,
        })
        .expect("a load");
    // A reply carrying the read's id is not the read's answer: the call still reads.
    let stray = form.feed(Input::SubmitReplied {
        fingerprint: fp(9),
        request: load,
        reply: SubmitReply::NoReply,
        server_now: None,
    });
    assert!(stray.is_empty(), "{stray:#?}");
    let sent = form.feed(Input::SubmissionLoaded {
        fingerprint: fp(9),
        request: load,
        loaded: Ok(None),
    });
    let key = submit_key(&sent);
    assert!(key.is_some());
    // The read answered twice, or a read's answer for a send: both ignored.
    let twice = form.feed(Input::SubmissionLoaded {
        fingerprint: fp(9),
        request: load,
        loaded: Ok(None),
    });
    assert!(twice.is_empty(), "{twice:#?}");
    let send = sent
        .iter()
        .find_map(|a| match a {
            Action::SendSubmit { request, .. } => Some(*request),
            _ => None,
        })
        .expect("a send");
    let misrouted = form.feed(Input::SubmissionLoaded {
        fingerprint: fp(9),
        request: send,
        loaded: Ok(None),
    });
    assert!(misrouted.is_empty(), "{misrouted:#?}");
    let done = form.reply(&sent, order_reply("O1", T0.plus(900_000)));
    assert!(matches!(submitted(&done), Some((_, Ok(_)))));
    // A late duplicate of the reply after the call ended.
    let late = form.reply(&sent, SubmitReply::NoReply);
    assert!(late.is_empty(), "{late:#?}");
    assert!(form.guard.is_idle());
}

// ----- outside the numbered rules: `forget`, and every event documented -----

#[test]
fn forget_is_refused_while_busy_and_removes_the_record_after() {
    let mut page = Page::new();
    page.pay(fp(1));
    assert_eq!(page.guard.forget(&order()), Err(PayError::Busy));
    let mut page = Page::new();
    let actions = page.pay_through_load(fp(1));
    page.create_reply(&actions, CreateReply::AlreadyPaid);
    assert!(page.guard.forget(&order()).is_ok());
    let removed = page.feed(Input::TimerFired);
    assert!(removed.iter().any(|a| matches!(a, Action::Remove { .. })));
    assert!(!page.guard.is_paid(&order()));
}

#[test]
fn every_event_is_documented() {
    let doc = include_str!("../../../docs/events.md");
    let id = || AttemptId::parse("A1x1").expect("valid");
    let key = || IdempotencyKey::parse(&"01".repeat(16)).expect("valid");
    let outcome = Outcome {
        order_no: order(),
        status: OutcomeStatus::Paid,
        attempt_id: None,
        reused: false,
        reason: None,
    };
    // One of each: a new variant fails to compile here until it is listed, and then fails
    // this test until docs/events.md names it.
    let events = [
        Event::Locked { order_no: order() },
        Event::WaitingForOtherTab { order_no: order() },
        Event::RecordLoaded {
            order_no: order(),
            state: None,
        },
        Event::RecordRejected {
            order_no: order(),
            error: String::new(),
        },
        Event::CreateSent {
            order_no: order(),
            key: key(),
            new_key: true,
            try_no: 1,
        },
        Event::PrepayReused {
            order_no: order(),
            attempt_id: id(),
        },
        Event::LaunchStarted {
            order_no: order(),
            attempt_id: id(),
        },
        Event::StatusQuery {
            order_no: order(),
            try_no: 1,
            delay_ms: 0,
        },
        Event::StatusSeen {
            order_no: order(),
            status: "none",
        },
        Event::Retrying {
            order_no: order(),
            after_ms: 1,
            reason: Reason::Network,
        },
        Event::ClockJumped { back_ms: 1 },
        Event::ServerClock {
            offset_ms: 1,
            jump_ms: 0,
        },
        Event::RecordMismatch {
            order_no: order(),
            stored: None,
            server: id(),
        },
        Event::Outcome(outcome),
        Event::SubmitSent {
            fingerprint: fp(1),
            key: key(),
            new_key: true,
            try_no: 1,
        },
        Event::SubmissionRejected {
            fingerprint: fp(1),
            error: String::new(),
        },
        Event::Submitted(Submitted {
            order_no: order(),
            fingerprint: fp(1),
            reused: false,
            expires_at: None,
        }),
    ];
    for event in &events {
        match event {
            Event::Locked { .. }
            | Event::WaitingForOtherTab { .. }
            | Event::RecordLoaded { .. }
            | Event::RecordRejected { .. }
            | Event::CreateSent { .. }
            | Event::PrepayReused { .. }
            | Event::LaunchStarted { .. }
            | Event::StatusQuery { .. }
            | Event::StatusSeen { .. }
            | Event::Retrying { .. }
            | Event::ClockJumped { .. }
            | Event::ServerClock { .. }
            | Event::RecordMismatch { .. }
            | Event::Outcome(_)
            | Event::SubmitSent { .. }
            | Event::SubmissionRejected { .. }
            | Event::Submitted(_) => {}
        }
        let value: serde_json::Value = serde_json::from_str(&event.to_json()).expect("JSON");
        let kind = value["type"].as_str().expect("a type").to_owned();
        assert!(
            doc.contains(&format!("| `{kind}` |")),
            "docs/events.md does not list `{kind}`"
        );
        for field in value.as_object().expect("an object").keys() {
            if field != "type" {
                let row = doc
                    .lines()
                    .find(|l| l.starts_with(&format!("| `{kind}` |")))
                    .unwrap_or_default();
                assert!(
                    row.contains(&format!("`{field}`")),
                    "docs/events.md: `{kind}` does not name its field `{field}`"
                );
            }
        }
    }
}

/// Rule 5 and S3: the back-off by a shift is the capped doubling it replaced
/// (`base.saturating_mul(2^e).min(cap).max(retry_after)`), at every edge: a zero base, bases
/// around `cap >> e`, the largest `u64`, and tries past the 16 doublings.
#[test]
fn rule_5_the_create_backoff_is_the_capped_doubling_for_every_base() {
    let reference = |base: u64, tries: u32, retry_after: Option<u64>| {
        let exponent = tries.saturating_sub(1).min(16);
        base.saturating_mul(1u64 << exponent)
            .min(MAX_CREATE_BACKOFF_MS)
            .max(retry_after.unwrap_or(0))
    };
    let mut bases = vec![
        0,
        1,
        2,
        3,
        250,
        1000,
        29_999,
        30_000,
        30_001,
        u64::MAX - 1,
        u64::MAX,
    ];
    for exponent in 0..=16u32 {
        let edge = MAX_CREATE_BACKOFF_MS >> exponent;
        bases.extend([edge.saturating_sub(1), edge, edge + 1]);
    }
    for &base in &bases {
        for tries in [0, 1, 2, 3, 8, 16, 17, 18, 40, u32::MAX] {
            for retry_after in [None, Some(0), Some(5_000), Some(60_000)] {
                assert_eq!(
                    create_backoff(base, tries, retry_after),
                    reference(base, tries, retry_after),
                    "base {base}, tries {tries}, retry_after {retry_after:?}"
                );
            }
        }
    }
}
