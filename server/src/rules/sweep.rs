//! The sweeper: the articles' "put the pending payment in a table and scan it with a timer"
//! (rule 2.2 without a page asking).
//!
//! A notify can be lost and a buyer can close the page; then nobody asks the status and the
//! order would stay unpaid at the merchant although the buyer paid. [`Merchant::sweep`] takes
//! the attempts that may still be paid and that nothing touched for `sweep_after_ms`
//! ([`Store::claim_sweep`]: each goes to one instance at a time) and settles each the way a
//! status request would: a payment found is recorded (and its webhook written with it), an
//! expired prepay or a `creating` attempt left by a crash is closed at the provider, so it is
//! known dead before anything replaces it (rule 1.3). An attempt whose order is held by a
//! request is passed over: that request is already looking at it.

use super::payments::CloseOutcome;
use super::{Merchant, RuleError};
use crate::model::AttemptState;
use crate::provider::Provider;
use crate::store::Store;

/// What one [`Merchant::sweep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Attempts claimed.
    pub claimed: usize,
    /// Of those, passed over because a request held the order.
    pub busy: usize,
    /// Asked about at the provider (`unpaid` or `paying`, still valid).
    pub queried: usize,
    /// Closed at the provider (expired, or left `creating`).
    pub closed: usize,
    /// Found paid (by a query or a refused close).
    pub paid: usize,
}

impl<P: Provider, S: Store> Merchant<P, S> {
    /// One pass of the sweeper over at most `limit` attempts.
    pub async fn sweep(&self, limit: u32) -> Result<Swept, RuleError> {
        let settings = self.settings();
        let now = self.clock.now_ms();
        let idle_since = now.saturating_sub(settings.sweep_after_ms);
        let due = self.store.claim_sweep(now, idle_since, limit).await?;
        let mut swept = Swept {
            claimed: due.len(),
            ..Swept::default()
        };
        for claimed in due {
            let Some(_lease) = self.store.try_lease_order(&claimed.order_no).await? else {
                swept.busy += 1;
                continue;
            };
            // As it is now, under the lease: a request may have settled it since the claim.
            let attempt = self.reload(&claimed).await?;
            let expired = attempt
                .expires_at
                .is_none_or(|at| at <= self.clock.now_ms());
            match attempt.state {
                // Rule 1.3: left by a crash or a lost reply, its creation's outcome unknown; or
                // expired. Closed at the provider, which also reveals a payment.
                AttemptState::Creating | AttemptState::Unpaid | AttemptState::Paying
                    if attempt.state == AttemptState::Creating || expired =>
                {
                    match self.close_at_provider(&attempt).await? {
                        CloseOutcome::Dead => swept.closed += 1,
                        CloseOutcome::Paid => swept.paid += 1,
                        // Tried again on a later pass.
                        CloseOutcome::Unreachable => {}
                    }
                }
                // Rule 2.2: still payable; the notify may be late or lost.
                AttemptState::Unpaid | AttemptState::Paying => {
                    swept.queried += 1;
                    self.refresh_from_provider(&attempt).await?;
                    if self.reload(&attempt).await?.state == AttemptState::Paid {
                        swept.paid += 1;
                    }
                }
                AttemptState::Creating
                | AttemptState::Paid
                | AttemptState::Closed
                | AttemptState::Failed => {}
            }
        }
        Ok(swept)
    }
}

/// Attempts claimed per pass; a full pass is followed by another at once.
const PASS: u32 = 32;

impl<P: Provider, S: Store> Merchant<P, S> {
    /// Sweeps every `sweep_every_ms` until `shutdown` (while it is 0, checks once a second
    /// whether it was turned on).
    pub async fn run_sweeper(&self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            let every = self.settings().sweep_every_ms;
            let mut full = false;
            if every > 0 {
                // Stopping mid-pass is safe: what was claimed is claimed again later.
                let pass = tokio::select! {
                    () = shutdown.cancelled() => return,
                    pass = self.sweep(PASS) => pass,
                };
                match pass {
                    Ok(swept) => {
                        full = swept.claimed == PASS as usize;
                        if swept.paid > 0 || swept.closed > 0 {
                            tracing::info!(?swept, "sweeper settled attempts");
                        }
                    }
                    // The database or provider is away: the attempts wait; a later pass retries.
                    Err(err) => tracing::warn!(%err, "sweeper pass failed"),
                }
            }
            if full {
                continue;
            }
            let wait = if every == 0 { 1000 } else { every };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.clock.sleep_ms(wait) => {}
            }
        }
    }
}
