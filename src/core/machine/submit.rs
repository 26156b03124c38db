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

use super::{Guard, Reason, MAX_CREATE_BACKOFF_MS};
use crate::core::contract::{submit_body, SubmitReply, SubmittedOrder};
use crate::core::fingerprint::Fingerprint;
use crate::core::machine::io::{Action, CallerId, Event, SubmitError, Submitted};
use crate::core::machine::RequestId;
use crate::core::record::{RecordError, RECORD_VERSION};
use crate::core::submission::SubmissionRecord;
use crate::core::time::Millis;
use crate::prelude::*;

/// Where one submission stands in this page.
#[derive(Debug, Clone, PartialEq)]
enum SubmitPhase {
    Idle,
    Loading,
    /// `tries`: sends of this key in this call.
    Sending {
        tries: u32,
    },
}

/// One submission (by content fingerprint) in this page.
#[derive(Debug, Clone)]
pub(super) struct SubmitSlot {
    phase: SubmitPhase,
    callers: Vec<CallerId>,
    /// The canonical content text, in memory only while a call runs (sent, never stored).
    content: String,
    record: Option<SubmissionRecord>,
    awaiting: Option<RequestId>,
    /// A re-send armed for this time.
    pub(super) timer: Option<Millis>,
    /// The last answer this page got, for S1.
    answered: Option<Submitted>,
}

impl SubmitSlot {
    fn new() -> SubmitSlot {
        SubmitSlot {
            phase: SubmitPhase::Idle,
            callers: Vec::new(),
            content: String::new(),
            record: None,
            awaiting: None,
            timer: None,
            answered: None,
        }
    }

    /// Whether a call is running.
    pub(super) fn is_busy(&self) -> bool {
        self.phase != SubmitPhase::Idle
    }
}

impl Guard {
    /// S1: a new submission, a join, or an answer this page already has.
    pub(super) fn on_submit(
        &mut self,
        content: String,
        fingerprint: Fingerprint,
        caller: CallerId,
        now: Millis,
    ) {
        let server_now = self.shared.clock.server_time(now);
        let request = self.shared.request_id();
        let slot = self
            .submits
            .get_or_insert_with(fingerprint.clone(), SubmitSlot::new);
        if slot.is_busy() {
            slot.callers.push(caller);
            return;
        }
        let known = slot
            .answered
            .clone()
            .filter(|done| done.expires_at.is_some_and(|at| server_now.0 < at));
        if let Some(mut done) = known {
            done.reused = true;
            self.shared.push(Action::ResolveSubmit {
                callers: vec![caller],
                result: Ok(done),
            });
            return;
        }
        slot.phase = SubmitPhase::Loading;
        slot.callers = vec![caller];
        slot.content = content;
        slot.awaiting = Some(request);
        slot.timer = None;
        self.shared.push(Action::LoadSubmission {
            fingerprint,
            request,
        });
    }

    /// S2: what the stored record allows.
    pub(super) fn on_submission_loaded(
        &mut self,
        fingerprint: &Fingerprint,
        request: RequestId,
        loaded: Result<Option<SubmissionRecord>, RecordError>,
        now: Millis,
    ) {
        let server_now = self.shared.clock.server_time(now);
        let Some(slot) = self.submits.get_mut(fingerprint) else {
            return;
        };
        if slot.awaiting != Some(request) {
            return;
        }
        slot.awaiting = None;
        let stored = match loaded {
            Ok(found) => found,
            Err(error) => {
                self.shared.emit(Event::SubmissionRejected {
                    fingerprint: fingerprint.clone(),
                    error: error.message(),
                });
                None
            }
        };
        let reusable = stored.filter(|r| match (&r.order_no, r.expires_at) {
            // Sent, never answered: the server may have made the order.
            (None, _) => true,
            (Some(_), Some(at)) => server_now < at,
            (Some(_), None) => false,
        });
        match reusable {
            Some(record) => {
                if let Some(slot) = self.submits.get_mut(fingerprint) {
                    slot.record = Some(record);
                }
                self.send_submit(fingerprint, 0, false);
            }
            None => {
                let record = SubmissionRecord {
                    v: RECORD_VERSION,
                    scope: self.shared.config.scope.clone(),
                    fingerprint: fingerprint.clone(),
                    key: self.shared.entropy.next_key(),
                    order_no: None,
                    expires_at: None,
                    created_at: now,
                };
                if let Some(slot) = self.submits.get_mut(fingerprint) {
                    slot.record = Some(record.clone());
                }
                // Persisted before the request that uses it (S2).
                self.shared.push(Action::PersistSubmission(record));
                self.send_submit(fingerprint, 0, true);
            }
        }
    }

    /// The server's answer: S3 and S4.
    pub(super) fn on_submit_reply(
        &mut self,
        fingerprint: &Fingerprint,
        request: RequestId,
        reply: SubmitReply,
        now: Millis,
    ) {
        let Some(slot) = self.submits.get_mut(fingerprint) else {
            return;
        };
        if slot.awaiting != Some(request) {
            return;
        }
        slot.awaiting = None;
        match reply {
            SubmitReply::Order(order) => self.submitted(fingerprint, order),
            SubmitReply::Rejected { status, code } => {
                self.shared.push(Action::RemoveSubmission {
                    fingerprint: fingerprint.clone(),
                });
                self.settle_submit(fingerprint, Err(SubmitError::Rejected { status, code }));
            }
            SubmitReply::InProgress { retry_after_ms }
            | SubmitReply::Unavailable { retry_after_ms } => {
                self.retry_submit(fingerprint, retry_after_ms, Reason::ServerBusy, now)
            }
            SubmitReply::Invalid(_) => {
                self.retry_submit(fingerprint, None, Reason::ServerContract, now)
            }
            SubmitReply::NoReply => self.retry_submit(fingerprint, None, Reason::Network, now),
        }
    }

    /// A re-send timer is due (S3).
    pub(super) fn on_submit_timer(&mut self, now: Millis) {
        let due: Vec<(Fingerprint, u32)> = self
            .submits
            .iter()
            .filter_map(|(print, slot)| match (slot.timer, &slot.phase) {
                (Some(at), SubmitPhase::Sending { tries }) if at <= now => {
                    Some((print.clone(), *tries))
                }
                _ => None,
            })
            .collect();
        for (fingerprint, tries) in due {
            if let Some(slot) = self.submits.get_mut(&fingerprint) {
                slot.timer = None;
            }
            self.send_submit(&fingerprint, tries, false);
        }
    }

    fn send_submit(&mut self, fingerprint: &Fingerprint, tries: u32, new_key: bool) {
        let request = self.shared.request_id();
        let scope = self.shared.config.scope.clone();
        let Some(slot) = self.submits.get_mut(fingerprint) else {
            return;
        };
        let Some(key) = slot.record.as_ref().map(|r| r.key.clone()) else {
            return;
        };
        slot.phase = SubmitPhase::Sending { tries: tries + 1 };
        slot.awaiting = Some(request);
        slot.timer = None;
        let body = submit_body(&slot.content, fingerprint, &scope);
        self.shared.push(Action::SendSubmit {
            fingerprint: fingerprint.clone(),
            request,
            key: key.clone(),
            body,
        });
        self.shared.emit(Event::SubmitSent {
            fingerprint: fingerprint.clone(),
            key,
            new_key,
            try_no: tries + 1,
        });
    }

    fn retry_submit(
        &mut self,
        fingerprint: &Fingerprint,
        retry_after: Option<u64>,
        reason: Reason,
        now: Millis,
    ) {
        let (limit, base) = (
            self.shared.config.create_retries,
            self.shared.config.create_retry_ms,
        );
        let Some(slot) = self.submits.get_mut(fingerprint) else {
            return;
        };
        let SubmitPhase::Sending { tries } = slot.phase else {
            return;
        };
        if tries > limit {
            // The key stays stored: the next submit re-sends it (S3).
            return self.settle_submit(fingerprint, Err(SubmitError::Unreachable(reason)));
        }
        let exponent = tries.saturating_sub(1).min(16);
        let delay = base
            .saturating_mul(1u64 << exponent)
            .min(MAX_CREATE_BACKOFF_MS)
            .max(retry_after.unwrap_or(0));
        slot.timer = Some(now.plus(delay));
    }

    fn submitted(&mut self, fingerprint: &Fingerprint, order: SubmittedOrder) {
        let Some(slot) = self.submits.get_mut(fingerprint) else {
            return;
        };
        let Some(mut record) = slot.record.clone() else {
            return;
        };
        record.order_no = Some(order.order_no.clone());
        record.expires_at = order.expires_at;
        slot.record = Some(record.clone());
        self.shared.push(Action::PersistSubmission(record));
        let done = Submitted {
            order_no: order.order_no,
            fingerprint: order.fingerprint,
            reused: order.reused,
            expires_at: order.expires_at.map(|at| at.0),
        };
        self.shared.emit(Event::Submitted(done.clone()));
        self.settle_submit(fingerprint, Ok(done));
    }

    fn settle_submit(&mut self, fingerprint: &Fingerprint, result: Result<Submitted, SubmitError>) {
        let Some(slot) = self.submits.get_mut(fingerprint) else {
            return;
        };
        slot.phase = SubmitPhase::Idle;
        slot.awaiting = None;
        slot.timer = None;
        slot.content = String::new();
        if let Ok(done) = &result {
            slot.answered = Some(done.clone());
        }
        let callers = core::mem::take(&mut slot.callers);
        if !callers.is_empty() {
            self.shared.push(Action::ResolveSubmit { callers, result });
        }
    }
}
