//! What goes into the guard and what comes out: one closed enum each.

use crate::core::contract::{CreateReply, StatusReply, SubmitReply};
use crate::core::fingerprint::Fingerprint;
use crate::core::ids::{AttemptId, IdempotencyKey, OrderNo};
use crate::core::json::{self, concat, Fields};
use crate::core::record::{Prepay, Record, RecordError, RecordState};
use crate::core::submission::SubmissionRecord;
use crate::core::time::Millis;
use crate::prelude::*;
use core::fmt;
use thiserror::Error;

/// Identifies one `pay()` call, so that [`Action::Resolve`] can say whose promise to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallerId(pub u64);

/// Identifies one request the guard asked the shell to make; the reply must carry it back.
/// Replies with an id the guard is not waiting for (late, duplicated) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, PartialEq)]
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
    Busy,
    /// The server refused the create request (4xx); nothing was created for its key.
    Rejected {
        /// HTTP status.
        status: u16,
        /// The body's `error` code.
        code: String,
    },
}

/// What `submit()` resolves with: the business order of this submission.
#[derive(Debug, Clone, PartialEq)]
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
    Rejected {
        /// HTTP status.
        status: u16,
        /// The body's `error` code.
        code: String,
    },
    /// No usable answer after the retries; the key stays stored, so submitting again re-sends
    /// it and cannot make a second order.
    Unreachable(Reason),
}

/// What happened, for the page's timeline and for logs. Keys appear here because the page owns
/// them anyway; no order content ever does.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The order's button was locked.
    Locked {
        /// The order.
        order_no: OrderNo,
    },
    /// Another tab is handling the order; this one waits.
    WaitingForOtherTab {
        /// The order.
        order_no: OrderNo,
    },
    /// The stored record was read.
    RecordLoaded {
        /// The order.
        order_no: OrderNo,
        /// Its state, `None` when nothing was stored.
        state: Option<RecordState>,
    },
    /// The stored record was unusable; the server decides instead.
    RecordRejected {
        /// The order.
        order_no: OrderNo,
        /// Why.
        error: String,
    },
    /// A create request was sent.
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
    PrepayReused {
        /// The order.
        order_no: OrderNo,
        /// The attempt.
        attempt_id: AttemptId,
    },
    /// Payment was launched.
    LaunchStarted {
        /// The order.
        order_no: OrderNo,
        /// The attempt.
        attempt_id: AttemptId,
    },
    /// A status query was sent.
    StatusQuery {
        /// The order.
        order_no: OrderNo,
        /// 1 for the first of this run.
        try_no: u32,
        /// Milliseconds since the previous query (0 for the first).
        delay_ms: u64,
    },
    /// The server reported a status.
    StatusSeen {
        /// The order.
        order_no: OrderNo,
        /// The status word, or `error`.
        status: &'static str,
    },
    /// A request will be retried.
    Retrying {
        /// The order.
        order_no: OrderNo,
        /// In how many ms.
        after_ms: u64,
        /// Why the last try did not settle it.
        reason: Reason,
    },
    /// The clock moved backwards; timers were shifted to keep their remaining time.
    ClockJumped {
        /// How far back (ms).
        back_ms: u64,
    },
    /// The device clock differs from the server's (first reply with `now`), or changed while
    /// a payment ran (learned from a reply): every time is judged on the server's clock.
    ServerClock {
        /// Server clock minus device clock (ms).
        offset_ms: i64,
        /// How far the device clock moved since the last reply (ms; 0 for the first).
        jump_ms: i64,
    },
    /// The stored record names an attempt the server does not confirm (edited, foreign or
    /// stale): it is never launched; the server's attempt is used instead.
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
    SubmissionRejected {
        /// The submission.
        fingerprint: Fingerprint,
        /// Why.
        error: String,
    },
    /// A submission found its business order.
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

/// `"({status} {code})"`, the end of a refusal's message.
fn refusal(what: &str, status: u16, code: &str) -> String {
    concat(&[
        what,
        " (",
        &json::decimal(u64::from(status)),
        " ",
        code,
        ")",
    ])
}

impl PayError {
    /// The error's text, built without `core::fmt` (the page sees it as `error.message`).
    pub fn message(&self) -> String {
        match self {
            PayError::Busy => {
                "a payment for this order with other content is in progress".to_owned()
            }
            PayError::Rejected { status, code } => {
                refusal("the server refused the payment", *status, code)
            }
        }
    }
}

impl fmt::Display for PayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl SubmitError {
    /// The error's text, built without `core::fmt`.
    pub fn message(&self) -> String {
        match self {
            SubmitError::Rejected { status, code } => {
                refusal("the server refused the order", *status, code)
            }
            SubmitError::Unreachable(reason) => concat(&[
                "the server could not be reached to submit the order (",
                reason.as_str(),
                ")",
            ]),
        }
    }
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl OutcomeStatus {
    /// The status as the page sees it (`outcome.status`, `data-checkout-state`, other tabs).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Paid => "paid",
            OutcomeStatus::Cancelled => "cancelled",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Pending => "pending",
        }
    }

    /// The status named `text`, if any.
    pub fn parse(text: &str) -> Option<OutcomeStatus> {
        [
            OutcomeStatus::Paid,
            OutcomeStatus::Cancelled,
            OutcomeStatus::Failed,
            OutcomeStatus::Pending,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

impl Reason {
    /// The reason as the page sees it (`outcome.reason`, `retrying` events).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Network => "network",
            Reason::ServerContract => "server_contract",
            Reason::ServerBusy => "server_busy",
            Reason::Deadline => "deadline",
            Reason::OtherTab => "other_tab",
            Reason::Wallet => "wallet",
            Reason::AttemptDead => "attempt_dead",
            Reason::NotStarted => "not_started",
            Reason::WalletNoReply => "wallet_no_reply",
        }
    }
}

impl Outcome {
    /// The outcome's members as the page sees them (what `pay()` resolves with):
    /// `{ orderNo, status, attemptId, reused, reason }`.
    pub fn fields(&self, out: &mut impl Fields) {
        out.str("orderNo", self.order_no.as_str());
        out.str("status", self.status.as_str());
        out.opt_str("attemptId", self.attempt_id.as_ref().map(AttemptId::as_str));
        out.bool("reused", self.reused);
        out.opt_str("reason", self.reason.map(Reason::as_str));
    }
}

impl Submitted {
    /// What `submit()` resolves with: `{ orderNo, fingerprint, reused, expiresAt }`.
    pub fn fields(&self, out: &mut impl Fields) {
        out.str("orderNo", self.order_no.as_str());
        out.str("fingerprint", self.fingerprint.as_str());
        out.bool("reused", self.reused);
        out.opt_u64("expiresAt", self.expires_at);
    }
}

impl Event {
    /// The event's `type`, as the page's listeners see it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Locked { .. } => "locked",
            Event::WaitingForOtherTab { .. } => "waitingForOtherTab",
            Event::RecordLoaded { .. } => "recordLoaded",
            Event::RecordRejected { .. } => "recordRejected",
            Event::CreateSent { .. } => "createSent",
            Event::PrepayReused { .. } => "prepayReused",
            Event::LaunchStarted { .. } => "launchStarted",
            Event::StatusQuery { .. } => "statusQuery",
            Event::StatusSeen { .. } => "statusSeen",
            Event::Retrying { .. } => "retrying",
            Event::ClockJumped { .. } => "clockJumped",
            Event::ServerClock { .. } => "serverClock",
            Event::RecordMismatch { .. } => "recordMismatch",
            Event::Outcome(_) => "outcome",
            Event::SubmitSent { .. } => "submitSent",
            Event::SubmissionRejected { .. } => "submissionRejected",
            Event::Submitted(_) => "submitted",
        }
    }

    /// The event as the page's listeners see it: `type` first, then its members in camelCase,
    /// absent values as `null` (the shape `pkg/types.d.cts` declares).
    pub fn fields(&self, out: &mut impl Fields) {
        out.str("type", self.kind());
        match self {
            Event::Locked { order_no } | Event::WaitingForOtherTab { order_no } => {
                out.str("orderNo", order_no.as_str());
            }
            Event::RecordLoaded { order_no, state } => {
                out.str("orderNo", order_no.as_str());
                out.opt_str("state", state.map(RecordState::as_str));
            }
            Event::RecordRejected { order_no, error } => {
                out.str("orderNo", order_no.as_str());
                out.str("error", error);
            }
            Event::CreateSent {
                order_no,
                key,
                new_key,
                try_no,
            } => {
                out.str("orderNo", order_no.as_str());
                out.str("key", key.as_str());
                out.bool("newKey", *new_key);
                out.u64("tryNo", u64::from(*try_no));
            }
            Event::PrepayReused {
                order_no,
                attempt_id,
            }
            | Event::LaunchStarted {
                order_no,
                attempt_id,
            } => {
                out.str("orderNo", order_no.as_str());
                out.str("attemptId", attempt_id.as_str());
            }
            Event::StatusQuery {
                order_no,
                try_no,
                delay_ms,
            } => {
                out.str("orderNo", order_no.as_str());
                out.u64("tryNo", u64::from(*try_no));
                out.u64("delayMs", *delay_ms);
            }
            Event::StatusSeen { order_no, status } => {
                out.str("orderNo", order_no.as_str());
                out.str("status", status);
            }
            Event::Retrying {
                order_no,
                after_ms,
                reason,
            } => {
                out.str("orderNo", order_no.as_str());
                out.u64("afterMs", *after_ms);
                out.str("reason", reason.as_str());
            }
            Event::ClockJumped { back_ms } => out.u64("backMs", *back_ms),
            Event::ServerClock { offset_ms, jump_ms } => {
                out.i64("offsetMs", *offset_ms);
                out.i64("jumpMs", *jump_ms);
            }
            Event::RecordMismatch {
                order_no,
                stored,
                server,
            } => {
                out.str("orderNo", order_no.as_str());
                out.opt_str("stored", stored.as_ref().map(AttemptId::as_str));
                out.str("server", server.as_str());
            }
            Event::Outcome(outcome) => outcome.fields(out),
            Event::SubmitSent {
                fingerprint,
                key,
                new_key,
                try_no,
            } => {
                out.str("fingerprint", fingerprint.as_str());
                out.str("key", key.as_str());
                out.bool("newKey", *new_key);
                out.u64("tryNo", u64::from(*try_no));
            }
            Event::SubmissionRejected { fingerprint, error } => {
                out.str("fingerprint", fingerprint.as_str());
                out.str("error", error);
            }
            Event::Submitted(submitted) => submitted.fields(out),
        }
    }

    /// [`Event::fields`] as compact JSON text.
    pub fn to_json(&self) -> String {
        let mut w = json::Writer::new();
        self.fields(&mut w);
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_the_shape_serde_gave_them() {
        // Each line is what the serde derive this replaced wrote for the event (issue 13):
        // the page's listeners see exactly the same objects.
        let o = OrderNo::parse("A1").expect("valid");
        let a = AttemptId::parse("A1x1").expect("valid");
        let k = IdempotencyKey::parse(&"0f".repeat(16)).expect("valid");
        let f = Fingerprint::parse(&"ab".repeat(32)).expect("valid");
        let (kh, fh) = ("0f".repeat(16), "ab".repeat(32));
        let outcome = |status, attempt_id, reused, reason| Outcome {
            order_no: o.clone(),
            status,
            attempt_id,
            reused,
            reason,
        };
        let submitted = |reused, expires_at| Submitted {
            order_no: o.clone(),
            fingerprint: f.clone(),
            reused,
            expires_at,
        };
        let cases = [
            (Event::Locked { order_no: o.clone() }, r#"{"type":"locked","orderNo":"A1"}"#.to_owned()),
            (Event::WaitingForOtherTab { order_no: o.clone() }, r#"{"type":"waitingForOtherTab","orderNo":"A1"}"#.to_owned()),
            (Event::RecordLoaded { order_no: o.clone(), state: Some(RecordState::Launched) }, r#"{"type":"recordLoaded","orderNo":"A1","state":"launched"}"#.to_owned()),
            (Event::RecordLoaded { order_no: o.clone(), state: None }, r#"{"type":"recordLoaded","orderNo":"A1","state":null}"#.to_owned()),
            (Event::RecordRejected { order_no: o.clone(), error: "corrupt record: \"x\"\n".into() }, r#"{"type":"recordRejected","orderNo":"A1","error":"corrupt record: \"x\"\n"}"#.to_owned()),
            (Event::CreateSent { order_no: o.clone(), key: k.clone(), new_key: true, try_no: 2 }, format!(r#"{{"type":"createSent","orderNo":"A1","key":"{kh}","newKey":true,"tryNo":2}}"#)),
            (Event::PrepayReused { order_no: o.clone(), attempt_id: a.clone() }, r#"{"type":"prepayReused","orderNo":"A1","attemptId":"A1x1"}"#.to_owned()),
            (Event::LaunchStarted { order_no: o.clone(), attempt_id: a.clone() }, r#"{"type":"launchStarted","orderNo":"A1","attemptId":"A1x1"}"#.to_owned()),
            (Event::StatusQuery { order_no: o.clone(), try_no: 3, delay_ms: 1500 }, r#"{"type":"statusQuery","orderNo":"A1","tryNo":3,"delayMs":1500}"#.to_owned()),
            (Event::StatusSeen { order_no: o.clone(), status: "unpaid" }, r#"{"type":"statusSeen","orderNo":"A1","status":"unpaid"}"#.to_owned()),
            (Event::Retrying { order_no: o.clone(), after_ms: 2000, reason: Reason::ServerContract }, r#"{"type":"retrying","orderNo":"A1","afterMs":2000,"reason":"server_contract"}"#.to_owned()),
            (Event::ClockJumped { back_ms: 3_600_000 }, r#"{"type":"clockJumped","backMs":3600000}"#.to_owned()),
            (Event::ServerClock { offset_ms: -3_600_000, jump_ms: 12 }, r#"{"type":"serverClock","offsetMs":-3600000,"jumpMs":12}"#.to_owned()),
            (Event::RecordMismatch { order_no: o.clone(), stored: Some(a.clone()), server: a.clone() }, r#"{"type":"recordMismatch","orderNo":"A1","stored":"A1x1","server":"A1x1"}"#.to_owned()),
            (Event::RecordMismatch { order_no: o.clone(), stored: None, server: a.clone() }, r#"{"type":"recordMismatch","orderNo":"A1","stored":null,"server":"A1x1"}"#.to_owned()),
            (Event::Outcome(outcome(OutcomeStatus::Pending, Some(a.clone()), true, Some(Reason::WalletNoReply))), r#"{"type":"outcome","orderNo":"A1","status":"pending","attemptId":"A1x1","reused":true,"reason":"wallet_no_reply"}"#.to_owned()),
            (Event::Outcome(outcome(OutcomeStatus::Paid, None, false, None)), r#"{"type":"outcome","orderNo":"A1","status":"paid","attemptId":null,"reused":false,"reason":null}"#.to_owned()),
            (Event::SubmitSent { fingerprint: f.clone(), key: k.clone(), new_key: false, try_no: 1 }, format!(r#"{{"type":"submitSent","fingerprint":"{fh}","key":"{kh}","newKey":false,"tryNo":1}}"#)),
            (Event::SubmissionRejected { fingerprint: f.clone(), error: "e".into() }, format!(r#"{{"type":"submissionRejected","fingerprint":"{fh}","error":"e"}}"#)),
            (Event::Submitted(submitted(true, Some(900))), format!(r#"{{"type":"submitted","orderNo":"A1","fingerprint":"{fh}","reused":true,"expiresAt":900}}"#)),
            (Event::Submitted(submitted(false, None)), format!(r#"{{"type":"submitted","orderNo":"A1","fingerprint":"{fh}","reused":false,"expiresAt":null}}"#)),
        ];
        for (event, expected) in cases {
            assert_eq!(event.to_json(), expected);
        }
        let mut w = json::Writer::new();
        outcome(
            OutcomeStatus::Failed,
            None,
            false,
            Some(Reason::AttemptDead),
        )
        .fields(&mut w);
        assert_eq!(
            w.finish(),
            r#"{"orderNo":"A1","status":"failed","attemptId":null,"reused":false,"reason":"attempt_dead"}"#
        );
    }

    #[test]
    fn reasons_and_statuses_are_named_as_on_the_wire() {
        let reasons = [
            (Reason::Network, "network"),
            (Reason::ServerContract, "server_contract"),
            (Reason::ServerBusy, "server_busy"),
            (Reason::Deadline, "deadline"),
            (Reason::OtherTab, "other_tab"),
            (Reason::Wallet, "wallet"),
            (Reason::AttemptDead, "attempt_dead"),
            (Reason::NotStarted, "not_started"),
            (Reason::WalletNoReply, "wallet_no_reply"),
        ];
        for (reason, name) in reasons {
            assert_eq!(reason.as_str(), name);
        }
        for name in ["paid", "cancelled", "failed", "pending"] {
            assert_eq!(
                OutcomeStatus::parse(name).map(OutcomeStatus::as_str),
                Some(name)
            );
        }
        assert_eq!(OutcomeStatus::parse("Paid"), None);
    }
}
