//! §3: the provider's payment notify, applied once.

use super::{Merchant, RuleError};
use crate::provider::Provider;
use crate::stats::Event;
use crate::store::{Notice, NotifyApplied, Store};

/// A payment notify whose signature the caller has verified (§3: signing keys never leave the
/// server, and verifying them is the provider's protocol, not a rule).
#[derive(Debug, Clone, Copy)]
pub struct PaymentNotice<'a> {
    /// The notify's id: repeats of one notify carry the same.
    pub notify_id: &'a str,
    /// The merchant payment number it reports paid.
    pub attempt_id: &'a str,
    /// What the provider charged, when the notify says.
    pub charged: Option<i64>,
}

impl<P: Provider, S: Store> Merchant<P, S> {
    /// Applies a verified notify of a successful payment (§3).
    ///
    /// Idempotent: the notify is recorded and its attempt marked paid in one transaction, and
    /// a repeat (the same id, or an attempt paid already) changes nothing; it is still
    /// acknowledged, so the provider stops retrying. A payment for another amount than the
    /// order's is recorded as paid and flagged (rule 1.3).
    pub async fn apply_notify(&self, notice: PaymentNotice<'_>) -> Result<(), RuleError> {
        let attempt = self
            .store
            .attempt(notice.attempt_id)
            .await?
            .ok_or_else(|| RuleError::UnknownAttempt(notice.attempt_id.to_owned()))?;
        let NotifyApplied { first, paid } = self
            .store
            .apply_notify(&Notice {
                notify_id: notice.notify_id,
                attempt_id: &attempt.attempt_id,
                charged: notice.charged,
                now: self.clock.now_ms(),
            })
            .await?;
        self.observer
            .observe(&attempt.order_no, Event::NotifyReceived);
        if !first || !paid.changed {
            self.observer
                .observe(&attempt.order_no, Event::NotifyDuplicate);
        }
        self.count_mismatch(&attempt.order_no, paid);
        Ok(())
    }
}
