//! What goes into the guard and what comes out: one closed enum each.

use crate::core::contract::{CreateReply, StatusReply, SubmitReply};
use crate::core::fingerprint::Fingerprint;
use crate::core::ids::{AttemptId, IdempotencyKey, OrderNo};
use crate::core::record::{Prepay, Record, RecordError, RecordState};
use crate::core::submission::SubmissionRecord;
use crate::core::time::Millis;
use serde::Serialize;
use thiserror::Error;

/// Identifies one `pay()` call, so that [`Action::Resolve`] can say whose promise to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CallerId(pub u64);

/// Identifies one request the guard asked the shell to make; the reply must carry it back.
/// Replies with an id the guard is not waiting for (late, duplicated) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RequestId(pub u64);

/// Whether this tab got the cross-tab lock for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockResult {
    /// This tab holds it until [`Action::ReleaseTabLock`].
    Acquired,
    /// Another tab holds it.
    HeldElsewhere,
}

/// What the stored record read as.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// A valid record.
    Found(Record),
    /// Nothing stored for this order.
    Missing,
    /// Something unusable is stored: the guard asks the server before creating anything.
    Unusable(RecordError),
}

/// What the wallet / launcher reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LaunchResult {
    /// The launcher finished without error; the server's word is still needed.
    Ok,
    /// The buyer cancelled: the attempt is unpaid and its prepay may be reused.
    Cancelled,
    /// The launcher failed; the payment state is unknown until the server is asked.
    Failed,
}

/// An event from the platform, with the order it concerns.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The buyer asked to pay `order_no`, whose content has `fingerprint`.
    Pay {
        /// The business order.
        order_no: OrderNo,
        /// Its content's fingerprint.
        fingerprint: Fingerprint,
        /// Whose promise to settle.
        caller: CallerId,
    },
    /// Find out what became of an order stored by an earlier page (no payment is launched).
    Resume {
        /// The business order.
        order_no: OrderNo,
    },
    /// Reply to [`Action::AcquireTabLock`].
    TabLock {
        /// The order.
        order_no: OrderNo,
        /// The request being answered.
        request: RequestId,
        /// Whether this tab got it.
        result: LockResult,
    },
    /// Reply to [`Action::LoadRecord`].
    RecordLoaded {
        /// The order.
        order_no: OrderNo,
        /// The request being answered.
        request: RequestId,
        /// What storage held.
        loaded: Loaded,
    },
    /// Reply to [`Action::SendCreate`] (see [`crate::core::contract::parse_create`]).
    CreateReplied {
        /// The order.
        order_no: OrderNo,
        /// The request being answered.
        request: RequestId,
        /// What the server said.
        reply: CreateReply,
        /// The server's clock in the reply ([`crate::core::contract::parse_server_now`]).
        server_now: Option<Millis>,
    },
    /// Reply to [`Action::SendStatus`] (see [`crate::core::contract::parse_status`]).
    StatusReplied {
        /// The order.
        order_no: OrderNo,
        /// The request being answered.
        request: RequestId,
        /// What the server said.
        reply: StatusReply,
        /// The server's clock in the reply ([`crate::core::contract::parse_server_now`]).
        server_now: Option<Millis>,
    },
    /// Reply to [`Action::Launch`].
    Launched {
        /// The order.
        order_no: OrderNo,
        /// The request being answered.
        request: RequestId,
        /// What the launcher said.
        result: LaunchResult,
    },
    /// The platform timer fired (it was armed to [`super::Guard::poll_timeout`]).
    TimerFired,
    /// `submit(content)`: the business order for this submission of the order form
    /// (`docs/contract.md` §4).
    Submit {
        /// The content's RFC 8785 canonical JSON text (sent, never stored).
        content: String,
        /// Its fingerprint.
        fingerprint: Fingerprint,
        /// Who to answer.
        caller: CallerId,
    },
    /// Reply to [`Action::LoadSubmission`]: the stored record, nothing, or why it is unusable.
    SubmissionLoaded {
        /// The submission.
        fingerprint: Fingerprint,
        /// The request being answered.
        request: RequestId,
        /// What storage held.
        loaded: Result<Option<SubmissionRecord>, RecordError>,
    },
    /// Reply to [`Action::SendSubmit`] (see [`crate::core::contract::parse_submit`]).
    SubmitReplied {
        /// The submission.
        fingerprint: Fingerprint,
        /// The request being answered.
        request: RequestId,
        /// What the server said.
        reply: SubmitReply,
        /// The server's clock in the reply.
        server_now: Option<Millis>,
    },
    /// The page became visible again or was restored (the buyer is back from the wallet).
    PageShown,
    /// Another tab broadcast the outcome of an order (see [`Action::Broadcast`]).
    OtherTabFinished {
        /// The order.
        order_no: OrderNo,
        /// Its outcome there.
        status: OutcomeStatus,
    },
}

/// How a payment ended, as far as this page can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeStatus {
    /// The server said paid. Final for the order.
    Paid,
    /// The buyer cancelled in the wallet; paying again reuses the same attempt.
    Cancelled,
    /// The attempt failed or was closed unpaid; paying again may start a new attempt.
    Failed,
    /// Unknown for now: the attempt may still be paid, so nothing new may start. Show "check
    /// status", never "pay again".
    Pending,
}

/// Why an outcome is pending or failed, for the page and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The server could not be reached, or did not answer in time.
    Network,
    /// The server answered something outside `docs/contract.md`.
    ServerContract,
    /// The server said it is busy.
    ServerBusy,
    /// Polling reached its deadline with the payment still open.
    Deadline,
    /// Another tab holds the order and did not finish in time.
    OtherTab,
    /// The wallet reported a failure.
    Wallet,
    /// The server closed or failed the attempt.
    AttemptDead,
    /// Nothing was launched in this page: the buyer has not started paying (a reload during a
    /// create, a resumed order). Paying goes on by the contract.
    NotStarted,
    /// The wallet never answered; the server shows the attempt unpaid. Paying again reopens
    /// the same prepay (no new attempt).
    WalletNoReply,
}

/// The settled result of a payment for one order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The business order.
    pub order_no: OrderNo,
    /// See [`OutcomeStatus`].
    pub status: OutcomeStatus,
    /// The attempt concerned, when known.
    pub attempt_id: Option<AttemptId>,
    /// The prepay was reused rather than created by this call.
    pub reused: bool,
    /// Why, for pending and failed outcomes.
    pub reason: Option<Reason>,
}

/// Why a `pay()` call was refused outright.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayError {
    /// A payment for this order with **other content** is in flight; it must finish first.
    #[error("a payment for this order with other content is in progress")]
    Busy,
    /// The server refused the create request (4xx); nothing was created for its key.
    #[error("the server refused the payment ({status} {code})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The body's `error` code.
        code: String,
    },
}

/// What `submit()` resolves with: the business order of this submission.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    /// The business order number: pay it with the same content.
    pub order_no: OrderNo,
    /// The content's fingerprint.
    pub fingerprint: Fingerprint,
    /// An order made before for this submission (same key, or same content within the
    /// server's window): a double submission, a reload, a relaunch.
    pub reused: bool,
    /// When the server's de-duplication window ends (server clock, ms), if it said.
    pub expires_at: Option<u64>,
}

/// Why a `submit()` call ended without an order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmitError {
    /// The server refused the submission for good (4xx); the stored key is dropped.
    #[error("the server refused the order ({status} {code})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The body's `error` code.
        code: String,
    },
    /// No usable answer after the retries; the key stays stored, so submitting again re-sends
    /// it and cannot make a second order.
    #[error("the server could not be reached to submit the order ({0:?})")]
    Unreachable(Reason),
}

/// What happened, for the page's timeline and for logs. Keys appear here because the page owns
/// them anyway; no order content ever does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// The order's button was locked.
    #[serde(rename_all = "camelCase")]
    Locked {
        /// The order.
        order_no: OrderNo,
    },
    /// Another tab is handling the order; this one waits.
    #[serde(rename_all = "camelCase")]
    WaitingForOtherTab {
        /// The order.
        order_no: OrderNo,
    },
    /// The stored record was read.
    #[serde(rename_all = "camelCase")]
    RecordLoaded {
        /// The order.
        order_no: OrderNo,
        /// Its state, `None` when nothing was stored.
        state: Option<RecordState>,
    },
    /// The stored record was unusable; the server decides instead.
    #[serde(rename_all = "camelCase")]
    RecordRejected {
        /// The order.
        order_no: OrderNo,
        /// Why.
        error: String,
    },
    /// A create request was sent.
    #[serde(rename_all = "camelCase")]
    CreateSent {
        /// The order.
        order_no: OrderNo,
        /// Its idempotency key.
        key: IdempotencyKey,
        /// The key was minted for this request (else it is a retry).
        new_key: bool,
        /// 1 for the first send of this key in this run.
        try_no: u32,
    },
    /// A stored, still valid prepay is launched instead of creating one.
    #[serde(rename_all = "camelCase")]
    PrepayReused {
        /// The order.
        order_no: OrderNo,
        /// The attempt.
        attempt_id: AttemptId,
    },
    /// Payment was launched.
    #[serde(rename_all = "camelCase")]
    LaunchStarted {
        /// The order.
        order_no: OrderNo,
        /// The attempt.
        attempt_id: AttemptId,
    },
    /// A status query was sent.
    #[serde(rename_all = "camelCase")]
    StatusQuery {
        /// The order.
        order_no: OrderNo,
        /// 1 for the first of this run.
        try_no: u32,
        /// Milliseconds since the previous query (0 for the first).
        delay_ms: u64,
    },
    /// The server reported a status.
    #[serde(rename_all = "camelCase")]
    StatusSeen {
        /// The order.
        order_no: OrderNo,
        /// The status word, or `error`.
        status: &'static str,
    },
    /// A request will be retried.
    #[serde(rename_all = "camelCase")]
    Retrying {
        /// The order.
        order_no: OrderNo,
        /// In how many ms.
        after_ms: u64,
        /// Why the last try did not settle it.
        reason: Reason,
    },
    /// The clock moved backwards; timers were shifted to keep their remaining time.
    #[serde(rename_all = "camelCase")]
    ClockJumped {
        /// How far back (ms).
        back_ms: u64,
    },
    /// The device clock differs from the server's (first reply with `now`), or changed while
    /// a payment ran (learned from a reply): every time is judged on the server's clock.
    #[serde(rename_all = "camelCase")]
    ServerClock {
        /// Server clock minus device clock (ms).
        offset_ms: i64,
        /// How far the device clock moved since the last reply (ms; 0 for the first).
        jump_ms: i64,
    },
    /// The stored record names an attempt the server does not confirm (edited, foreign or
    /// stale): it is never launched; the server's attempt is used instead.
    #[serde(rename_all = "camelCase")]
    RecordMismatch {
        /// The order.
        order_no: OrderNo,
        /// What the record said.
        stored: Option<AttemptId>,
        /// What the server said.
        server: AttemptId,
    },
    /// An order reached an outcome.
    Outcome(Outcome),
    /// A submission request was sent.
    #[serde(rename_all = "camelCase")]
    SubmitSent {
        /// The submitted content's fingerprint.
        fingerprint: Fingerprint,
        /// Its `Idempotency-Key`.
        key: IdempotencyKey,
        /// Minted for this send (else the stored key again).
        new_key: bool,
        /// 1 for the first send of this call.
        try_no: u32,
    },
    /// A stored submission record was unusable (corrupt, foreign, future version): a new key
    /// is minted, and the server's window still finds an order made with the lost one.
    #[serde(rename_all = "camelCase")]
    SubmissionRejected {
        /// The submission.
        fingerprint: Fingerprint,
        /// Why.
        error: String,
    },
    /// A submission found its business order.
    #[serde(rename_all = "camelCase")]
    Submitted(Submitted),
}

/// Something the shell must do. After every input, drain them all with
/// [`super::Guard::poll_action`] and perform them **in order** (a record is persisted before the
/// request that depends on it is sent), then re-arm the one platform timer to
/// [`super::Guard::poll_timeout`].
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Disable the order's button (disabled, `aria-busy`, state attribute).
    LockUi {
        /// The order.
        order_no: OrderNo,
    },
    /// Re-enable the order's button and show the outcome (`pending`: "check status"; `None`:
    /// back to plain "pay", after a refused call).
    UnlockUi {
        /// The order.
        order_no: OrderNo,
        /// The outcome to show.
        status: Option<OutcomeStatus>,
    },
    /// Try to take the cross-tab lock without waiting; answer with [`Input::TabLock`].
    AcquireTabLock {
        /// The order.
        order_no: OrderNo,
        /// Carry back in the reply.
        request: RequestId,
    },
    /// Release the cross-tab lock.
    ReleaseTabLock {
        /// The order.
        order_no: OrderNo,
    },
    /// Read the stored record; answer with [`Input::RecordLoaded`].
    LoadRecord {
        /// The order.
        order_no: OrderNo,
        /// Carry back in the reply.
        request: RequestId,
    },
    /// Store this record (under [`crate::core::record::storage_key`]).
    Persist(Record),
    /// Delete the order's record.
    Remove {
        /// The order.
        order_no: OrderNo,
    },
    /// POST the create-payment request; answer with [`Input::CreateReplied`].
    SendCreate {
        /// The order.
        order_no: OrderNo,
        /// Carry back in the reply.
        request: RequestId,
        /// The `Idempotency-Key`.
        key: IdempotencyKey,
        /// The body's `fingerprint`.
        fingerprint: Fingerprint,
    },
    /// GET the order status; answer with [`Input::StatusReplied`].
    SendStatus {
        /// The order.
        order_no: OrderNo,
        /// Carry back in the reply.
        request: RequestId,
        /// `Prefer: wait=N` when above 0.
        wait_secs: u32,
    },
    /// Start the payment UI with these parameters; answer with [`Input::Launched`].
    Launch {
        /// The order.
        order_no: OrderNo,
        /// Carry back in the reply.
        request: RequestId,
        /// The attempt.
        attempt_id: AttemptId,
        /// The provider's parameters.
        prepay: Prepay,
    },
    /// Report to the page.
    Emit(Event),
    /// Settle these callers' promises.
    Resolve {
        /// Whose.
        callers: Vec<CallerId>,
        /// With what.
        result: Result<Outcome, PayError>,
    },
    /// Tell the other tabs this order's outcome (they answer with [`Input::OtherTabFinished`]).
    Broadcast {
        /// The order.
        order_no: OrderNo,
        /// Its outcome.
        status: OutcomeStatus,
    },
    /// Read the submission record; answer with [`Input::SubmissionLoaded`] (after the drain).
    LoadSubmission {
        /// The submission.
        fingerprint: Fingerprint,
        /// Carry back in the answer.
        request: RequestId,
    },
    /// Write the submission record (before the request that uses its key).
    PersistSubmission(SubmissionRecord),
    /// Delete the submission record.
    RemoveSubmission {
        /// The submission.
        fingerprint: Fingerprint,
    },
    /// POST the order-submission request; answer with [`Input::SubmitReplied`].
    SendSubmit {
        /// The submission.
        fingerprint: Fingerprint,
        /// Carry back in the reply.
        request: RequestId,
        /// The `Idempotency-Key`.
        key: IdempotencyKey,
        /// The request body ([`crate::core::contract::submit_body`]).
        body: String,
    },
    /// Settle `submit()` calls.
    ResolveSubmit {
        /// Who asked.
        callers: Vec<CallerId>,
        /// The order, or why there is none.
        result: Result<Submitted, SubmitError>,
    },
}
