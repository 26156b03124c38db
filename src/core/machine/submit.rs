//! `submit`: one business order per submission of the order form (`docs/contract.md` §4).
//!
//! The last of the source articles' defences against a double submission: the call that
//! creates the business order is itself idempotent. The rules, in the order a submission meets
//! them:
//!
//! S1. A second `submit` of the same content while one is in flight **joins** it: one request,
//!     one order for both. A submission this page already answered, still inside the server's
//!     window, answers at once.
//! S2. The stored record decides the key: an unanswered key is **re-sent**, a key whose order
//!     is still inside the server's window (judged on the server's clock, rule 8) is re-sent;
//!     anything else (nothing stored, an unusable record, the window passed) mints a **new**
//!     key, **persisted before** the request that uses it is sent.
//! S3. A lost reply, a time-out, a 5xx, `409 in_progress` or a reply that breaks the contract
//!     re-sends the **same** key a bounded number of times, then the call fails with
//!     [`SubmitError::Unreachable`] and the key stays stored: submitting again re-sends it and
//!     cannot make a second order.
//! S4. A 4xx refusal ends the call with [`SubmitError::Rejected`] and drops the stored key.
//!
//! Submissions are not under the cross-tab lock: two tabs that submit at once may mint two
//! keys, and the server's window (rule 2 of §4) gives them one order.
//!
//! # Shape
//!
//! One [`Submission`] per content fingerprint, the way `order.rs` has one `Order` per business
//! order: the [`super::Guard`] finds or creates it, hands it the inputs that name it, and
//! everything submissions share with orders (configuration, entropy, request ids, the
//! clocks, the queue of actions) comes in as [`Shared`]. A submission never sees another.
//!
//! What a step waits for lives in that step: a [`Phase`] is idle or a [`Call`], and a call's
//! [`Step`] is `Loading` (the request reading the record) or `Sending` (the record whose key
//! is sent, the sends so far, and the reply or re-send timer waited for). There is no record
//! before it is loaded and no try count outside a send, and ending a call is one assignment
//! (`Phase::Idle`). Only the last answer (S1) outlives a call.
//!
//! Methods come in quinn's order: getters, `handle_*` (one per input the router hands over),
//! mutators (the steps of a call), then `poll_*`: actions go to the shared queue, and
//! [`Submission::poll_timeout`] is this submission's part of the guard's deadline.

use super::clock::shift;
use super::io::{Action, CallerId, Event, Reason, RequestId, SubmitError, Submitted};
use super::{create_backoff, Shared};
use crate::core::contract::{submit_body, SubmitReply, SubmittedOrder};
use crate::core::fingerprint::Fingerprint;
use crate::core::record::{RecordError, RECORD_VERSION};
use crate::core::submission::SubmissionRecord;
use crate::core::time::Millis;
use crate::prelude::*;

/// One submission (by content fingerprint) in this page.
#[derive(Debug, Clone)]
pub(super) struct Submission {
    fingerprint: Fingerprint,
    /// S1: the last answer this page got. It outlives calls: a later `submit` inside the
    /// server's window is answered from it. An error leaves it as it was.
    answered: Option<Submitted>,
    phase: Phase,
}

/// Whether a call runs for the submission.
#[derive(Debug, Clone)]
enum Phase {
    Idle,
    Call(Call),
}

/// A `submit` running, with every `submit` that joined it (S1).
#[derive(Debug, Clone)]
struct Call {
    /// Whose promises the result settles.
    callers: Vec<CallerId>,
    /// The canonical content text: sent as the request's body, never stored, gone with the
    /// call.
    content: String,
    step: Step,
}

/// Where a call stands, with what that step waits for.
#[derive(Debug, Clone)]
enum Step {
    /// S2: reading the stored record.
    Loading { request: RequestId },
    /// S2 and S3: the request for `record`'s key (persisted before the first send when new);
    /// `tries` sends of it in this call.
    Sending {
        record: SubmissionRecord,
        tries: u32,
        wait: Wait,
    },
}

/// What a send waits for: the reply to its request, or the timer of the re-send (S3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Reply(RequestId),
    Timer(Millis),
}

impl Submission {
    pub(super) fn new(fingerprint: Fingerprint) -> Submission {
        Submission {
            fingerprint,
            answered: None,
            phase: Phase::Idle,
        }
    }

    // ----- getters -----

    /// Whether a call runs. An idle submission arms no timer, so this is also whether
    /// anything would feed it on its own.
    pub(super) fn is_busy(&self) -> bool {
        matches!(self.phase, Phase::Call(_))
    }

    /// Whether the call reads the stored record with `request`. Anything else (late,
    /// duplicated, for an ended call, the id of another kind of request) is ignored by the
    /// router.
    pub(super) fn expects_load(&self, request: RequestId) -> bool {
        matches!(self.step(), Some(Step::Loading { request: r }) if *r == request)
    }

    /// Whether the call waits for the reply to the send `request`; like
    /// [`Submission::expects_load`] for anything else.
    pub(super) fn expects_reply(&self, request: RequestId) -> bool {
        matches!(
            self.step(),
            Some(Step::Sending { wait: Wait::Reply(r), .. }) if *r == request
        )
    }

    fn step(&self) -> Option<&Step> {
        match &self.phase {
            Phase::Call(call) => Some(&call.step),
            Phase::Idle => None,
        }
    }

    fn step_mut(&mut self) -> Option<&mut Step> {
        match &mut self.phase {
            Phase::Call(call) => Some(&mut call.step),
            Phase::Idle => None,
        }
    }

    // ----- handle_* -----

    /// `submit`: a new call, a join, or an answer this page already has (S1).
    pub(super) fn handle_submit(
        &mut self,
        content: String,
        caller: CallerId,
        now: Millis,
        cx: &mut Shared,
    ) {
        let server_now = cx.clock.server_time(now);
        // Drawn before deciding, even when this submit sends nothing (a join, an answer from
        // memory): the request ids of the action stream stay what they always were.
        let request = cx.request_id();
        if let Phase::Call(call) = &mut self.phase {
            // S1: joins the call in flight: one request, one order for both.
            call.callers.push(caller);
            return;
        }
        // S1: answered in this page and still inside the server's window: at once.
        let known = self
            .answered
            .clone()
            .filter(|done| done.expires_at.is_some_and(|at| server_now.0 < at));
        if let Some(mut done) = known {
            done.reused = true;
            cx.push(Action::ResolveSubmit {
                callers: vec![caller],
                result: Ok(done),
            });
            return;
        }
        self.phase = Phase::Call(Call {
            callers: vec![caller],
            content,
            step: Step::Loading { request },
        });
        cx.push(Action::LoadSubmission {
            fingerprint: self.fingerprint.clone(),
            request,
        });
    }

    /// The stored record (the router checked the call reads it): S2 decides the key.
    pub(super) fn handle_loaded(
        &mut self,
        loaded: Result<Option<SubmissionRecord>, RecordError>,
        now: Millis,
        cx: &mut Shared,
    ) {
        let server_now = cx.clock.server_time(now);
        let stored = match loaded {
            Ok(found) => found,
            Err(error) => {
                // S2: an unusable record is reported, then treated as none: a new key.
                cx.emit(Event::SubmissionRejected {
                    fingerprint: self.fingerprint.clone(),
                    error: error.message(),
                });
                None
            }
        };
        let reusable = stored.filter(|r| match (&r.order_no, r.expires_at) {
            // S2: sent, never answered: the server may have made the order.
            (None, _) => true,
            // S2: the order is still inside the server's window, on the server's clock.
            (Some(_), Some(at)) => server_now < at,
            // S2: answered, but with no window to judge it by: a new key.
            (Some(_), None) => false,
        });
        match reusable {
            Some(record) => self.send(record, 0, false, cx),
            None => {
                let record = SubmissionRecord {
                    v: RECORD_VERSION,
                    scope: cx.config.scope.clone(),
                    fingerprint: self.fingerprint.clone(),
                    key: cx.entropy.next_key(),
                    order_no: None,
                    expires_at: None,
                    created_at: now,
                };
                // S2: the new key is persisted before the request that uses it is sent.
                cx.push(Action::PersistSubmission(record.clone()));
                self.send(record, 0, true, cx);
            }
        }
    }

    /// The server's answer (the router checked the call waits for it): S3 and S4.
    pub(super) fn handle_reply(&mut self, reply: SubmitReply, now: Millis, cx: &mut Shared) {
        match reply {
            SubmitReply::Order(order) => self.submitted(order, cx),
            SubmitReply::Rejected { status, code } => {
                // S4: refused for good: the stored key goes with the call.
                cx.push(Action::RemoveSubmission {
                    fingerprint: self.fingerprint.clone(),
                });
                self.settle(Err(SubmitError::Rejected { status, code }), cx);
            }
            // S3: anything unclear re-sends the same key.
            SubmitReply::InProgress { retry_after_ms }
            | SubmitReply::Unavailable { retry_after_ms } => {
                self.retry(retry_after_ms, Reason::ServerBusy, now, cx)
            }
            SubmitReply::Invalid(_) => self.retry(None, Reason::ServerContract, now, cx),
            SubmitReply::NoReply => self.retry(None, Reason::Network, now, cx),
        }
    }

    /// The platform timer fired: S3, the re-send is sent when it is due.
    pub(super) fn handle_timer(&mut self, now: Millis, cx: &mut Shared) {
        let Some(Step::Sending {
            record,
            tries,
            wait: Wait::Timer(at),
        }) = self.step()
        else {
            return;
        };
        if *at > now {
            return;
        }
        let (record, tries) = (record.clone(), *tries);
        // S3: the same key again.
        self.send(record, tries, false, cx);
    }

    // ----- mutators -----

    /// Sends the request for `record`'s key; `tries` is how many sends of it this call already
    /// made, `new_key` whether it was minted for this send (reported in the event).
    fn send(&mut self, record: SubmissionRecord, tries: u32, new_key: bool, cx: &mut Shared) {
        let request = cx.request_id();
        let Phase::Call(call) = &mut self.phase else {
            return;
        };
        let key = record.key.clone();
        let body = submit_body(&call.content, &self.fingerprint, &cx.config.scope);
        call.step = Step::Sending {
            record,
            tries: tries + 1,
            wait: Wait::Reply(request),
        };
        cx.push(Action::SendSubmit {
            fingerprint: self.fingerprint.clone(),
            request,
            key: key.clone(),
            body,
        });
        cx.emit(Event::SubmitSent {
            fingerprint: self.fingerprint.clone(),
            key,
            new_key,
            try_no: tries + 1,
        });
    }

    /// S3: the same key again after a back-off, a bounded number of times, then
    /// [`SubmitError::Unreachable`].
    fn retry(&mut self, retry_after: Option<u64>, reason: Reason, now: Millis, cx: &mut Shared) {
        let (limit, base) = (cx.config.create_retries, cx.config.create_retry_ms);
        let Some(Step::Sending { tries, wait, .. }) = self.step_mut() else {
            return;
        };
        if *tries > limit {
            // S3: the key stays stored: the next submit re-sends it and cannot make a second
            // order.
            return self.settle(Err(SubmitError::Unreachable(reason)), cx);
        }
        let delay = create_backoff(base, *tries, retry_after);
        *wait = Wait::Timer(now.plus(delay));
    }

    /// The server made (or found) the order: written into the record, so that a reload inside
    /// the window re-sends the same key (S2), then the call is settled.
    fn submitted(&mut self, order: SubmittedOrder, cx: &mut Shared) {
        let Some(Step::Sending { record, .. }) = self.step_mut() else {
            return;
        };
        record.order_no = Some(order.order_no.clone());
        record.expires_at = order.expires_at;
        cx.push(Action::PersistSubmission(record.clone()));
        let done = Submitted {
            order_no: order.order_no,
            fingerprint: order.fingerprint,
            reused: order.reused,
            expires_at: order.expires_at.map(|at| at.0),
        };
        cx.emit(Event::Submitted(done.clone()));
        self.settle(Ok(done), cx);
    }

    /// Ends the call and resolves every caller that joined it (S1) with `result`; an answer is
    /// kept for the next `submit` (S1).
    fn settle(&mut self, result: Result<Submitted, SubmitError>, cx: &mut Shared) {
        let Phase::Call(call) = core::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        if let Ok(done) = &result {
            self.answered = Some(done.clone());
        }
        if !call.callers.is_empty() {
            cx.push(Action::ResolveSubmit {
                callers: call.callers,
                result,
            });
        }
    }

    /// Rule 8: the device clock jumped by `by` ms; an armed re-send (S3) keeps what remains of
    /// its wait, so a clock set back an hour does not hold the buyer's submission for an hour.
    pub(super) fn shift_times(&mut self, by: i64) {
        if let Some(Step::Sending {
            wait: Wait::Timer(at),
            ..
        }) = self.step_mut()
        {
            *at = shift(*at, by);
        }
    }

    // ----- poll_* -----

    /// This submission's deadline: the re-send timer of S3, when one is armed.
    pub(super) fn poll_timeout(&self) -> Option<Millis> {
        match self.step() {
            Some(Step::Sending {
                wait: Wait::Timer(at),
                ..
            }) => Some(*at),
            _ => None,
        }
    }
}
