//! The rules on a virtual clock: a manual [`Clock`], an in-memory SQLite store, the simulated
//! provider (on the same clock) behind its fault wrapper and a recorder of the calls the rules
//! make. No HTTP, no sleeping: a prepay expires because the test moves the clock, and a
//! 25-second long-poll takes no time. Each test is named after the contract rule it checks.

use super::*;
use crate::model::AttemptState;
use crate::provider::faulty::{self, Faulty, ProviderFault, ProviderFaults};
use crate::provider::sim::{SimParts, SimProvider, TradeState, WalletAction, WalletRefusal};
use crate::provider::{Payment, Prepay, PrepayRequest, ProviderError};
use crate::store::sqlite::{Db, SqliteStore};
use crate::Storage;
use serde_json::{json, Value};
use std::sync::Mutex;

/// The contract's example time.
const T0: i64 = 1_795_424_034_567;
/// How long a prepay lives in these tests.
const TTL: i64 = 60_000;
/// The active-query interval (rule 2.2).
const INTERVAL: i64 = 3_000;
/// The sweeper's idle time.
const SWEEP_AFTER: i64 = 10_000;
/// The submission window (§4).
const WINDOW: i64 = 15 * 60 * 1000;

/// A provider call the rules made, with the merchant payment number.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Create(String),
    Query(String),
    Close(String),
}

/// Records every call, then passes it on.
#[derive(Debug)]
struct Recorder<P> {
    inner: P,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl<P> Recorder<P> {
    fn note(&self, call: Call) {
        self.calls.lock().expect("calls").push(call);
    }
}

impl<P: Provider> Provider for Recorder<P> {
    async fn create(&self, req: &PrepayRequest) -> Result<Prepay, ProviderError> {
        self.note(Call::Create(req.attempt_id.clone()));
        self.inner.create(req).await
    }

    async fn query(&self, attempt_id: &str) -> Result<Payment, ProviderError> {
        self.note(Call::Query(attempt_id.to_owned()));
        self.inner.query(attempt_id).await
    }

    async fn close(&self, attempt_id: &str) -> Result<(), ProviderError> {
        self.note(Call::Close(attempt_id.to_owned()));
        self.inner.close(attempt_id).await
    }
}

/// An observer that keeps every event.
#[derive(Debug, Default)]
struct Seen(Mutex<Vec<Event>>);

impl Observer for Seen {
    fn observe(&self, _order_no: &str, event: Event) {
        self.0.lock().expect("events").push(event);
    }
}

impl Seen {
    fn count(&self, event: Event) -> usize {
        self.0
            .lock()
            .expect("events")
            .iter()
            .filter(|e| **e == event)
            .count()
    }
}

/// Compiles only if every rule's future is `Send` for *any* provider and store, not just the
/// ones here: what a server generic over `Merchant<P, S>` (axum handlers) needs.
#[allow(dead_code)]
fn every_rule_is_send_for_any_provider_and_store<P: Provider, S: Store>(
    merchant: &Merchant<P, S>,
    claimed: Claimed<S::Lease>,
    content: Content,
    submit: Submit,
) {
    fn send<T: Send>(_: T) {}
    let create = CreatePayment {
        order_no: "O",
        key: "k",
        fingerprint: "f",
        client_ip: None,
    };
    send(merchant.create_payment(&create));
    send(merchant.payment_status("O", Some(1)));
    send(merchant.change_content("O", content));
    send(merchant.claim_submission(submit));
    send(merchant.submit(claimed));
    send(merchant.order("O"));
    let notice = PaymentNotice {
        notify_id: "n",
        attempt_id: "a",
        charged: None,
    };
    send(merchant.apply_notify(notice));
}

struct World {
    clock: Clock,
    sim: SimProvider,
    db: Arc<Db>,
    calls: Arc<Mutex<Vec<Call>>>,
    seen: Arc<Seen>,
    merchant: Merchant<Recorder<Faulty<SimProvider>>, SqliteStore>,
}

fn settings() -> Settings {
    Settings {
        prepay_ttl_ms: TTL,
        reuse_margin_ms: 0,
        notify_delay_ms: 0,
        notify_retry_ms: 0,
        notify_tries: 1,
        query_interval_ms: INTERVAL,
        max_wait_secs: 25,
        busy_wait_ms: 1_000,
        submit_window_ms: WINDOW,
        sweep_after_ms: SWEEP_AFTER,
        ..Settings::default()
    }
}

fn world() -> World {
    let clock = Clock::manual(T0);
    let db = Arc::new(Db::open(&Storage::Memory).expect("in-memory database"));
    let seen = Arc::new(Seen::default());
    let sim = SimProvider::new(SimParts {
        store: db.clone(),
        clock: clock.clone(),
        observer: seen.clone(),
        // Never delivered: the tests apply notifies themselves, or lose them.
        notify_url: "http://127.0.0.1:9/api/notify".into(),
    });
    let calls = Arc::new(Mutex::new(Vec::new()));
    let merchant = Merchant::new(MerchantParts {
        provider: Recorder {
            inner: Faulty::new(sim.clone()),
            calls: calls.clone(),
        },
        store: SqliteStore::new(db.clone()),
        clock: clock.clone(),
        observer: seen.clone(),
        settings: SharedSettings::new(settings()),
    });
    World {
        clock,
        sim,
        db,
        calls,
        seen,
        merchant,
    }
}

fn tea(qty: i64) -> Value {
    json!({"amount": 1999 * qty, "currency": "CNY", "items": [{"sku": "tea", "qty": qty}]})
}

fn key(n: u32) -> String {
    format!("key-{n:032}")
}

/// The faults a request asks for with `X-Fault: provider=…`.
fn provider(mode: ProviderFault) -> ProviderFaults {
    ProviderFaults {
        mode: Some(mode),
        create_latency_ms: 0,
    }
}

fn attempt_id(reply: &CreateReply) -> String {
    reply.body["attemptId"]
        .as_str()
        .expect("attemptId")
        .to_owned()
}

fn prepay_id(reply: &CreateReply) -> String {
    reply.body["prepay"]["prepayId"]
        .as_str()
        .expect("prepayId")
        .to_owned()
}

impl World {
    /// A new order of `content`, submitted without a key; its number and fingerprint.
    async fn order(&self, content: Value) -> (String, String) {
        let submit = Submit {
            content: checked_content(content).expect("content"),
            key: None,
            buyer: String::new(),
            order_no: None,
        };
        let claimed = self.merchant.claim_submission(submit).await.expect("claim");
        let done = self.merchant.submit(claimed).await.expect("submitted");
        (done.order.order_no, done.order.fingerprint)
    }

    async fn pay(&self, order_no: &str, key: &str, fp: &str) -> Result<CreateReply, RuleError> {
        self.merchant
            .create_payment(&CreatePayment {
                order_no,
                key,
                fingerprint: fp,
                client_ip: None,
            })
            .await
    }

    async fn status(&self, order_no: &str) -> StatusView {
        let (view, applied) = self
            .merchant
            .payment_status(order_no, None)
            .await
            .expect("status");
        assert_eq!(applied, None);
        view
    }

    /// The buyer pays `prepay_id` in the wallet. Its notify is never delivered (lost), unless
    /// the test applies it.
    fn confirm(&self, prepay_id: &str) -> Result<(), WalletRefusal> {
        self.sim
            .wallet(prepay_id, WalletAction::Confirm)
            .map(|_| ())
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }

    /// The provider's state of `attempt_id`, read without counting a query.
    fn trade_state(&self, order_no: &str, attempt_id: &str) -> TradeState {
        self.sim
            .transactions_of(order_no)
            .expect("transactions")
            .into_iter()
            .find(|tx| tx.out_trade_no == attempt_id)
            .map(|tx| tx.trade_state)
            .expect("the provider has it")
    }

    async fn attempt_state(&self, attempt_id: &str) -> AttemptState {
        self.merchant
            .store()
            .attempt(attempt_id)
            .await
            .expect("store")
            .expect("attempt")
            .state
    }
}

#[tokio::test]
async fn rule_1_1_the_same_key_returns_the_stored_reply_and_with_another_fingerprint_is_key_reused()
{
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    assert!(first.created);
    w.clock.advance(1_000);
    let again = w.pay(&order, &key(1), &fp).await.expect("stored reply");
    assert_eq!((again.created, &again.body), (false, &first.body));
    assert_eq!(w.calls().len(), 1, "the stored reply asks no provider");
    let other = "0".repeat(64);
    assert!(matches!(
        w.pay(&order, &key(1), &other).await,
        Err(RuleError::PaymentKeyReused)
    ));
}

#[tokio::test]
async fn rule_1_6_a_fingerprint_that_is_not_the_orders_is_refused() {
    let w = world();
    let (order, _) = w.order(tea(1)).await;
    let (_, other) = w.order(tea(2)).await;
    assert!(matches!(
        w.pay(&order, &key(1), &other).await,
        Err(RuleError::FingerprintMismatch)
    ));
    assert!(w.calls().is_empty());
}

#[tokio::test]
async fn rule_1_2_a_live_attempt_is_reused_only_after_the_provider_is_asked() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    let id = attempt_id(&first);
    w.clock.advance(10_000);
    let reused = w.pay(&order, &key(2), &fp).await.expect("reused");
    assert!(!reused.created);
    assert_eq!(reused.body["reused"], true);
    assert_eq!(attempt_id(&reused), id);
    assert_eq!(reused.body["prepay"], first.body["prepay"]);
    assert_eq!(w.calls(), [Call::Create(id.clone()), Call::Query(id)]);
    assert_eq!(w.seen.count(Event::PrepayCall), 1, "no second prepay call");
}

#[tokio::test]
async fn rule_1_2_an_attempt_paid_before_its_notify_arrived_answers_already_paid_not_reused() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    assert!(matches!(
        w.pay(&order, &key(2), &fp).await,
        Err(RuleError::AlreadyPaid(_))
    ));
    assert_eq!(
        w.attempt_state(&attempt_id(&first)).await,
        AttemptState::Paid
    );
    assert_eq!(w.seen.count(Event::Charge), 1);
}

#[tokio::test]
async fn rule_1_2_a_prepay_without_the_reuse_margin_left_is_replaced_not_reused() {
    let w = world();
    w.merchant.settings.set(Settings {
        reuse_margin_ms: 30_000,
        ..settings()
    });
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.clock.advance(TTL - 29_000);
    let second = w.pay(&order, &key(2), &fp).await.expect("replaced");
    assert!(second.created);
    let (old, new) = (attempt_id(&first), attempt_id(&second));
    assert_ne!(old, new);
    assert_eq!(
        w.calls(),
        [
            Call::Create(old.clone()),
            Call::Close(old),
            Call::Create(new)
        ]
    );
}

#[tokio::test]
async fn rule_1_3_an_expired_attempt_is_closed_at_the_provider_before_a_new_one_is_created() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.clock.advance(TTL + 1);
    let second = w.pay(&order, &key(2), &fp).await.expect("a new attempt");
    assert!(second.created);
    let (old, new) = (attempt_id(&first), attempt_id(&second));
    assert_eq!(
        w.calls(),
        [
            Call::Create(old.clone()),
            Call::Close(old.clone()),
            Call::Create(new)
        ],
        "closed before the new one exists"
    );
    assert_eq!(w.trade_state(&order, &old), TradeState::Closed);
    assert!(second.body["expiresAt"].as_i64() > first.body["expiresAt"].as_i64());
}

#[tokio::test]
async fn rule_1_3_a_close_that_reveals_a_payment_answers_already_paid() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    // Paid, its notify lost; then the prepay's time runs out.
    w.confirm(&prepay_id(&first)).expect("paid");
    w.clock.advance(TTL + 1);
    assert!(matches!(
        w.pay(&order, &key(2), &fp).await,
        Err(RuleError::AlreadyPaid(_))
    ));
    assert_eq!(w.calls().len(), 2, "create, close: no second create");
    assert_eq!(w.status(&order).await.status, Status::Paid);
}

#[tokio::test]
async fn rule_1_3_a_provider_that_cannot_close_leaves_no_second_attempt() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.clock.advance(TTL + 1);
    let refused = faulty::scope(provider(ProviderFault::Fail), w.pay(&order, &key(2), &fp)).await;
    assert!(matches!(refused, Err(RuleError::ProviderUnavailable)));
    let attempts = w.merchant.store().attempts(&order).await.expect("store");
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        w.attempt_state(&attempt_id(&first)).await,
        AttemptState::Unpaid
    );
}

#[tokio::test]
async fn rule_1_3_a_content_change_closes_the_live_attempt_first() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    let changed = w
        .merchant
        .change_content(&order, checked_content(tea(2)).expect("content"))
        .await
        .expect("changed");
    assert_ne!(changed.fingerprint, fp);
    assert_eq!(changed.amount, 2 * 1999);
    let old = attempt_id(&first);
    assert_eq!(
        w.calls(),
        [Call::Create(old.clone()), Call::Close(old.clone())]
    );
    assert_eq!(w.trade_state(&order, &old), TradeState::Closed);
    // The old prepay can never be charged now.
    assert!(matches!(
        w.confirm(&prepay_id(&first)),
        Err(WalletRefusal::Closed)
    ));
}

#[tokio::test]
async fn rule_1_3_a_content_change_the_provider_cannot_close_is_attempt_open() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    let content = checked_content(tea(2)).expect("content");
    let refused = faulty::scope(
        provider(ProviderFault::Lost),
        w.merchant.change_content(&order, content),
    )
    .await;
    assert!(matches!(refused, Err(RuleError::AttemptOpen(_))));
    assert_eq!(
        w.merchant.order(&order).await.expect("order").fingerprint,
        fp
    );
    assert_eq!(
        w.attempt_state(&attempt_id(&first)).await,
        AttemptState::Unpaid
    );
}

#[tokio::test]
async fn rule_1_3_a_content_change_whose_close_reveals_a_payment_is_already_paid() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    let content = checked_content(tea(2)).expect("content");
    assert!(matches!(
        w.merchant.change_content(&order, content).await,
        Err(RuleError::AlreadyPaid(_))
    ));
    let paid = w.merchant.order(&order).await.expect("order");
    assert_eq!(paid.fingerprint, fp, "content unchanged");
    assert_eq!(paid.paid_amount, Some(1999));
    assert!(paid.flags.is_empty());
}

#[tokio::test]
async fn rule_1_4_a_paid_order_answers_already_paid_even_for_a_stored_key() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    let notice = PaymentNotice {
        notify_id: "n-1",
        attempt_id: &attempt_id(&first),
        charged: Some(1999),
    };
    w.merchant.apply_notify(notice).await.expect("notify");
    let calls = w.calls().len();
    assert!(matches!(
        w.pay(&order, &key(1), &fp).await,
        Err(RuleError::AlreadyPaid(_))
    ));
    assert_eq!(w.calls().len(), calls, "decided without the provider");
}

#[tokio::test]
async fn rule_1_5_a_lost_create_reply_is_closed_then_replaced_for_the_same_key() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let lost = faulty::scope(provider(ProviderFault::Lost), w.pay(&order, &key(1), &fp)).await;
    assert!(matches!(lost, Err(RuleError::ProviderUnavailable)));
    let attempts = w.merchant.store().attempts(&order).await.expect("store");
    let orphan = attempts[0].attempt_id.clone();
    assert_eq!(
        attempts[0].state,
        AttemptState::Creating,
        "written before the call"
    );
    let stored = w
        .merchant
        .store()
        .reply(&order, &key(1))
        .await
        .expect("store");
    assert!(stored.is_none(), "no reply without its attempt");
    let retry = w.pay(&order, &key(1), &fp).await.expect("created");
    assert!(retry.created);
    assert_ne!(attempt_id(&retry), orphan);
    assert_eq!(w.trade_state(&order, &orphan), TradeState::Closed);
    let again = w.pay(&order, &key(1), &fp).await.expect("stored");
    assert_eq!(again.body, retry.body);
}

#[tokio::test]
async fn rule_2_1_an_expired_prepay_is_closed_at_the_provider_before_closed_is_answered() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    let id = attempt_id(&first);
    assert_eq!(w.status(&order).await.status, Status::Unpaid);
    w.clock.advance(TTL);
    // The provider still says NOTPAY for an expired prepay it was not told to close.
    assert_eq!(w.trade_state(&order, &id), TradeState::NotPay);
    let view = w.status(&order).await;
    assert_eq!(view.status, Status::Closed);
    assert_eq!(w.calls().last(), Some(&Call::Close(id.clone())));
    assert_eq!(w.trade_state(&order, &id), TradeState::Closed);
    assert_eq!(w.attempt_state(&id).await, AttemptState::Closed);
}

#[tokio::test]
async fn rule_2_1_an_expired_prepay_paid_meanwhile_is_answered_paid() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    w.clock.advance(TTL + 1);
    let view = w.status(&order).await;
    assert_eq!(view.status, Status::Paid);
    assert_eq!(view.attempt.map(|a| a.attempt_id), Some(attempt_id(&first)));
}

#[tokio::test]
async fn rule_2_1_an_attempt_whose_creation_is_unknown_is_closed_before_closed_is_answered() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let lost = faulty::scope(provider(ProviderFault::Lost), w.pay(&order, &key(1), &fp)).await;
    assert!(lost.is_err());
    let orphan = w.calls()[0].clone();
    let Call::Create(orphan) = orphan else {
        panic!("the first call creates");
    };
    assert_eq!(w.trade_state(&order, &orphan), TradeState::NotPay);
    // While the provider cannot close it, the status is no answer at all.
    let unknown = faulty::scope(
        provider(ProviderFault::Fail),
        w.merchant.payment_status(&order, None),
    )
    .await;
    assert!(matches!(unknown, Err(RuleError::ProviderUnavailable)));
    assert_eq!(w.status(&order).await.status, Status::Closed);
    assert_eq!(w.trade_state(&order, &orphan), TradeState::Closed);
}

#[tokio::test]
async fn rule_2_2_the_provider_is_asked_at_most_once_per_interval() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    let id = attempt_id(&first);
    let queries = |w: &World| {
        w.calls()
            .iter()
            .filter(|c| matches!(c, Call::Query(_)))
            .count()
    };
    w.status(&order).await;
    w.clock.advance(INTERVAL - 1);
    w.status(&order).await;
    assert_eq!(queries(&w), 1);
    w.clock.advance(1);
    w.status(&order).await;
    assert_eq!(queries(&w), 2);
    assert_eq!(w.calls().last(), Some(&Call::Query(id)));
}

#[tokio::test]
async fn rule_2_2_a_lost_notify_is_found_by_the_active_query() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    assert_eq!(w.status(&order).await.status, Status::Paid);
    assert_eq!(
        w.merchant.order(&order).await.expect("order").paid_amount,
        Some(1999)
    );
}

#[tokio::test]
async fn rule_2_3_a_long_poll_waits_on_the_clock_and_answers_when_the_wait_passed() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    w.pay(&order, &key(1), &fp).await.expect("created");
    let started = std::time::Instant::now();
    let (view, applied) = w
        .merchant
        .payment_status(&order, Some(60))
        .await
        .expect("status");
    assert_eq!(view.status, Status::Unpaid);
    assert_eq!(applied, Some(25), "capped at max_wait_secs");
    assert!(w.clock.now_ms() >= T0 + 25_000, "the wait ran on the clock");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "and took no real time"
    );
    // It kept asking the provider meanwhile, once per interval.
    let queries = w
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Query(_)))
        .count();
    assert!((8..=10).contains(&queries), "{queries} queries");
}

#[tokio::test]
async fn rule_2_3_a_long_poll_ends_as_soon_as_the_status_changes() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    // Asked just now, so the long-poll's first look does not ask again; then paid at the
    // provider, its notify lost: the long-poll's next re-ask, one interval on, finds it.
    w.status(&order).await;
    w.confirm(&prepay_id(&first)).expect("paid");
    let (view, _) = w
        .merchant
        .payment_status(&order, Some(25))
        .await
        .expect("status");
    assert_eq!(view.status, Status::Paid);
    assert_eq!(
        w.clock.now_ms(),
        T0 + INTERVAL,
        "it did not wait the whole time"
    );
}

#[tokio::test]
async fn rule_2_5_an_unknown_order_is_unknown_for_every_request() {
    let w = world();
    assert!(matches!(
        w.merchant.payment_status("NO-SUCH-ORDER", None).await,
        Err(RuleError::UnknownOrder(_))
    ));
    assert!(matches!(
        w.pay("NO-SUCH-ORDER", &key(1), &"0".repeat(64)).await,
        Err(RuleError::UnknownOrder(_))
    ));
    let content = checked_content(tea(1)).expect("content");
    assert!(matches!(
        w.merchant.change_content("NO-SUCH-ORDER", content).await,
        Err(RuleError::UnknownOrder(_))
    ));
    assert!(w.calls().is_empty());
}

#[tokio::test]
async fn rule_3_a_repeated_notify_changes_nothing() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    let id = attempt_id(&first);
    let notice = PaymentNotice {
        notify_id: "n-1",
        attempt_id: &id,
        charged: Some(1999),
    };
    w.merchant.apply_notify(notice).await.expect("notify");
    let paid = w.merchant.order(&order).await.expect("order");
    w.clock.advance(5_000);
    w.merchant.apply_notify(notice).await.expect("repeat");
    assert_eq!(
        w.merchant.order(&order).await.expect("order").updated_at,
        paid.updated_at,
        "nothing changed"
    );
    assert_eq!(w.seen.count(Event::NotifyReceived), 2);
    assert_eq!(w.seen.count(Event::NotifyDuplicate), 1);
    let unknown = PaymentNotice {
        attempt_id: "NOT-OURS-1",
        ..notice
    };
    assert!(matches!(
        w.merchant.apply_notify(unknown).await,
        Err(RuleError::UnknownAttempt(_))
    ));
}

#[tokio::test]
async fn rule_3_a_payment_for_another_amount_is_paid_and_flagged() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    // The content changes behind the rules' back while the old prepay is payable.
    let content = tea(2);
    let print = checkout_guard::core::fingerprint::fingerprint(&content).expect("fingerprint");
    w.db.with(|c| {
        crate::store::sqlite::records::update_order_content(
            c,
            &order,
            &content,
            print.as_str(),
            2 * 1999,
            T0,
        )
    })
    .expect("changed");
    w.confirm(&prepay_id(&first)).expect("paid the old amount");
    let notice = PaymentNotice {
        notify_id: "n-1",
        attempt_id: &attempt_id(&first),
        charged: Some(1999),
    };
    w.merchant.apply_notify(notice).await.expect("notify");
    let paid = w.merchant.order(&order).await.expect("order");
    assert!(paid.paid_attempt.is_some(), "paid is final");
    assert_eq!(paid.paid_amount, Some(1999));
    assert_eq!(paid.flags, [crate::model::OrderFlag::AmountMismatch]);
    assert_eq!(w.seen.count(Event::AmountMismatch), 1);
}

/// A keyed submission of `content` by `buyer`.
async fn submit_keyed(w: &World, content: Value, buyer: &str, key: &str) -> Submitted {
    let submit = Submit {
        content: checked_content(content).expect("content"),
        key: Some(key.to_owned()),
        buyer: buyer.to_owned(),
        order_no: None,
    };
    let claimed = w.merchant.claim_submission(submit).await.expect("claim");
    w.merchant.submit(claimed).await.expect("submitted")
}

#[tokio::test]
async fn rule_4_1_a_key_still_being_handled_is_in_progress_and_finds_its_order_after_the_window() {
    let w = world();
    let submit = Submit {
        content: checked_content(tea(1)).expect("content"),
        key: Some(key(1)),
        buyer: "alice".into(),
        order_no: None,
    };
    let held = w
        .merchant
        .claim_submission(submit.clone())
        .await
        .expect("claim");
    assert!(matches!(
        w.merchant.claim_submission(submit.clone()).await,
        Err(RuleError::SubmissionInProgress)
    ));
    let first = w.merchant.submit(held).await.expect("submitted");
    assert!(!first.reused);
    assert_eq!(first.expires_at, T0 + WINDOW);
    w.clock.advance(WINDOW + 1);
    let again = submit_keyed(&w, tea(1), "alice", &key(1)).await;
    assert!(again.reused);
    assert_eq!(again.order.order_no, first.order.order_no);
    let other = Submit {
        content: checked_content(tea(2)).expect("content"),
        ..submit
    };
    let claimed = w.merchant.claim_submission(other).await.expect("claim");
    assert!(matches!(
        w.merchant.submit(claimed).await,
        Err(RuleError::SubmissionKeyReused)
    ));
}

#[tokio::test]
async fn rule_4_2_the_same_content_from_the_same_buyer_within_the_window_is_one_order() {
    let w = world();
    let first = submit_keyed(&w, tea(1), "alice", &key(1)).await;
    w.clock.advance(WINDOW - 1);
    let second = submit_keyed(&w, tea(1), "alice", &key(2)).await;
    assert!(second.reused, "another tab, another key: the same order");
    assert_eq!(second.order.order_no, first.order.order_no);
    let bob = submit_keyed(&w, tea(1), "bob", &key(3)).await;
    assert_ne!(bob.order.order_no, first.order.order_no, "another buyer");
}

#[tokio::test]
async fn rule_4_3_after_the_window_the_same_content_is_a_new_order() {
    let w = world();
    let first = submit_keyed(&w, tea(1), "alice", &key(1)).await;
    w.clock.advance(WINDOW);
    let later = submit_keyed(&w, tea(1), "alice", &key(2)).await;
    assert!(!later.reused);
    assert_ne!(later.order.order_no, first.order.order_no);
    assert_eq!(later.order.created_at, T0 + WINDOW, "made on the clock");
}

#[tokio::test]
async fn sweeper_finds_a_lost_notify_with_no_page_asking_and_writes_its_webhook() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    // Not idle long enough yet: nothing is claimed.
    w.clock.advance(SWEEP_AFTER - 1);
    assert_eq!(w.merchant.sweep(10).await.expect("sweep").claimed, 0);
    w.clock.advance(1);
    let swept = w.merchant.sweep(10).await.expect("sweep");
    assert_eq!((swept.claimed, swept.queried, swept.paid), (1, 1, 1));
    let paid = w.merchant.order(&order).await.expect("order");
    assert_eq!(paid.paid_attempt, Some(attempt_id(&first)));
    let events = w
        .merchant
        .store()
        .webhook_events(&order)
        .await
        .expect("outbox");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (
            events[0].attempt_id.as_str(),
            events[0].amount,
            events[0].paid_amount
        ),
        (attempt_id(&first).as_str(), 1999, 1999)
    );
    // Paid is final: the sweeper never looks at it again.
    w.clock.advance(10 * SWEEP_AFTER);
    assert_eq!(w.merchant.sweep(10).await.expect("sweep").claimed, 0);
}

#[tokio::test]
async fn sweeper_asks_about_a_valid_prepay_without_closing_it_once_per_idle_time() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    let id = attempt_id(&first);
    w.clock.advance(SWEEP_AFTER);
    let swept = w.merchant.sweep(10).await.expect("sweep");
    assert_eq!((swept.queried, swept.closed), (1, 0));
    assert_eq!(w.calls().last(), Some(&Call::Query(id.clone())));
    assert_eq!(
        w.trade_state(&order, &id),
        TradeState::NotPay,
        "still payable"
    );
    // Claimed now: not again until it has been idle as long again.
    assert_eq!(w.merchant.sweep(10).await.expect("sweep").claimed, 0);
    w.clock.advance(SWEEP_AFTER);
    assert_eq!(w.merchant.sweep(10).await.expect("sweep").queried, 1);
    // A page's status query touches it too: the sweeper leaves it alone for as long.
    w.clock.advance(SWEEP_AFTER);
    w.status(&order).await;
    assert_eq!(w.merchant.sweep(10).await.expect("sweep").claimed, 0);
}

#[tokio::test]
async fn sweeper_closes_an_attempt_left_creating_and_an_expired_prepay_at_the_provider() {
    let w = world();
    let (lost_order, lost_fp) = w.order(tea(1)).await;
    let lost = faulty::scope(
        provider(ProviderFault::Lost),
        w.pay(&lost_order, &key(1), &lost_fp),
    )
    .await;
    assert!(lost.is_err());
    let orphan = w
        .merchant
        .store()
        .attempts(&lost_order)
        .await
        .expect("store")[0]
        .attempt_id
        .clone();
    let (order, fp) = w.order(tea(2)).await;
    let expiring = attempt_id(&w.pay(&order, &key(2), &fp).await.expect("created"));
    w.clock.advance(TTL);
    let swept = w.merchant.sweep(10).await.expect("sweep");
    assert_eq!((swept.claimed, swept.closed, swept.queried), (2, 2, 0));
    for (order, id) in [(&lost_order, &orphan), (&order, &expiring)] {
        assert_eq!(w.trade_state(order, id), TradeState::Closed);
        assert_eq!(w.attempt_state(id).await, AttemptState::Closed);
    }
    assert!(w
        .merchant
        .store()
        .webhook_events(&order)
        .await
        .expect("outbox")
        .is_empty());
}

#[tokio::test]
async fn sweeper_passes_over_an_order_a_request_holds_and_retries_when_the_provider_is_down() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    w.clock.advance(SWEEP_AFTER);
    let lease = w
        .merchant
        .store()
        .try_lease_order(&order)
        .await
        .expect("lease");
    assert!(lease.is_some());
    let swept = w.merchant.sweep(10).await.expect("sweep");
    assert_eq!((swept.claimed, swept.busy, swept.paid), (1, 1, 0));
    drop(lease);
    // The provider is down for the next pass: nothing is decided, and it is asked again later.
    w.clock.advance(SWEEP_AFTER);
    let down = faulty::scope(provider(ProviderFault::Fail), w.merchant.sweep(10))
        .await
        .expect("sweep");
    assert_eq!((down.queried, down.paid), (1, 0));
    assert!(w
        .merchant
        .order(&order)
        .await
        .expect("order")
        .paid_attempt
        .is_none());
    w.clock.advance(SWEEP_AFTER);
    assert_eq!(w.merchant.sweep(10).await.expect("sweep").paid, 1);
}

#[tokio::test]
async fn outbox_holds_one_event_per_paid_order_until_it_is_acknowledged() {
    let w = world();
    let (order, fp) = w.order(tea(1)).await;
    let first = w.pay(&order, &key(1), &fp).await.expect("created");
    w.confirm(&prepay_id(&first)).expect("paid");
    let id = attempt_id(&first);
    let notice = PaymentNotice {
        notify_id: "n-1",
        attempt_id: &id,
        charged: Some(1999),
    };
    w.merchant.apply_notify(notice).await.expect("notify");
    w.merchant
        .apply_notify(PaymentNotice {
            notify_id: "n-2",
            ..notice
        })
        .await
        .expect("another notify of the same payment");
    assert_eq!(w.status(&order).await.status, Status::Paid);
    let store = w.merchant.store();
    let now = w.clock.now_ms();
    let claimed = store
        .claim_webhooks(now, now + 30_000, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1, "one event for one payment: {claimed:?}");
    assert_eq!(
        (claimed[0].order_no.as_str(), claimed[0].tries),
        (order.as_str(), 1)
    );
    // Claimed: no second claimant gets it meanwhile.
    assert!(store
        .claim_webhooks(now, now + 30_000, 10)
        .await
        .expect("claim")
        .is_empty());
    // Not acknowledged: due again at the retry time, with the same id.
    store
        .webhook_failed(&claimed[0].event_id, "answered 500", now + 1_000)
        .await
        .expect("failed");
    assert!(store
        .claim_webhooks(now + 999, now + 30_000, 10)
        .await
        .expect("claim")
        .is_empty());
    let again = store
        .claim_webhooks(now + 1_000, now + 31_000, 10)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_id, claimed[0].event_id);
    assert_eq!(
        (again[0].tries, again[0].last_error.as_deref()),
        (2, Some("answered 500"))
    );
    store
        .webhook_delivered(&again[0].event_id, now + 1_001)
        .await
        .expect("delivered");
    assert!(store
        .claim_webhooks(now + 100_000, now + 130_000, 10)
        .await
        .expect("claim")
        .is_empty());
    let events = store.webhook_events(&order).await.expect("outbox");
    assert_eq!(events[0].delivered_at, Some(now + 1_001));
}
