//! Time, passed in: the merchant rules and the simulated provider read the time only from a
//! [`Clock`] handle they were given, never from the system, so the rules can be tested on a
//! virtual clock the way the guard's core is (`src/core/`: every input carries `now`).
//!
//! Two kinds of time, kept apart on purpose:
//!
//! - **wall time** ([`Clock::now_ms`]): milliseconds since the Unix epoch, as in the contract.
//!   Every time that is stored or sent (`expiresAt`, `now`, `createdAt`) is one.
//! - **waiting** ([`Clock::sleep_ms`], [`Clock::deadline_in`]): how long a long-poll holds its
//!   reply. On the system clock this is tokio's monotonic time, so a wall-clock step (NTP, an
//!   operator) never shortens or stretches a wait, and a paused tokio runtime (the fuzz target)
//!   runs 25-second long-polls in no wall time.
//!
//! A [`Clock::manual`] clock is one number that only moves when told: [`Clock::advance`], or a
//! sleep on it, which jumps the clock to the sleep's end at once (the core's tests jump to the
//! next deadline the same way). It is meant for one task driving the rules, as in a unit test.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The system's wall clock in milliseconds since the Unix epoch (0 if the clock is before
/// 1970). For code outside the rules that needs a timestamp without a [`Clock`] (ids, tests).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A clock handle: the system clock, or a manual one for tests. Cheap to clone; clones of a
/// manual clock share its time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

/// A point in waiting time, from [`Clock::deadline_in`].
#[derive(Debug, Clone, Copy)]
pub struct Deadline(DeadlineAt);

#[derive(Debug, Clone, Copy)]
enum DeadlineAt {
    System(tokio::time::Instant),
    Manual(i64),
}

impl Clock {
    /// The system clock (the default).
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A manual clock starting at `start_ms` (ms since the epoch).
    pub fn manual(start_ms: i64) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start_ms))),
        }
    }

    /// Wall time now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(time) => time.load(Ordering::SeqCst),
            None => now_ms(),
        }
    }

    /// Moves a manual clock forward by `ms`; the system clock cannot be moved, so there it
    /// does nothing.
    pub fn advance(&self, ms: i64) {
        if let Some(time) = &self.manual {
            time.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// Waits `ms`. On a manual clock: moves the clock by `ms` and yields once, so other tasks
    /// run as they would during a real sleep.
    pub async fn sleep_ms(&self, ms: u64) {
        match &self.manual {
            Some(_) => {
                self.advance(i64::try_from(ms).unwrap_or(i64::MAX));
                tokio::task::yield_now().await;
            }
            None => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }

    /// The waiting-time point `ms` from now.
    pub fn deadline_in(&self, ms: u64) -> Deadline {
        Deadline(match &self.manual {
            Some(_) => DeadlineAt::Manual(
                self.now_ms()
                    .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)),
            ),
            None => DeadlineAt::System(tokio::time::Instant::now() + Duration::from_millis(ms)),
        })
    }

    /// How long until `deadline` (0 once it passed).
    pub fn remaining_ms(&self, deadline: Deadline) -> u64 {
        match deadline.0 {
            DeadlineAt::System(at) => u64::try_from(
                at.saturating_duration_since(tokio::time::Instant::now())
                    .as_millis(),
            )
            .unwrap_or(u64::MAX),
            DeadlineAt::Manual(at) => u64::try_from(at.saturating_sub(self.now_ms())).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_told_and_a_sleep_jumps_to_its_end() {
        let clock = Clock::manual(1_000);
        let shared = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        let deadline = clock.deadline_in(500);
        assert_eq!(clock.remaining_ms(deadline), 500);
        shared.advance(200);
        assert_eq!(clock.now_ms(), 1_200, "clones share the time");
        clock.sleep_ms(300).await;
        assert_eq!(clock.now_ms(), 1_500);
        assert_eq!(clock.remaining_ms(deadline), 0);
    }
}
