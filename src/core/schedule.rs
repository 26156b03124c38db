//! When to ask the server for an order's payment status.
//!
//! The buyer usually pays within seconds of returning from the wallet, but the provider's notify
//! may be late (the source articles' "掉单"), so the first checks come fast: at 0, 1, 2 and 3 s.
//! After that, capped exponential backoff with full jitter keeps a crowd of waiting pages from
//! polling in lock-step, a server's `Retry-After` is always honoured, and a deadline (the
//! prepay's expiry plus a grace period, at most ten minutes by default) bounds the whole thing.
//! Past the deadline the outcome is **pending** ("we are still checking"), never "try again":
//! the attempt may still be paid, so nothing may start a new one.
//!
//! Delays count from when the previous query was **sent**, not when its reply came, so a
//! long-poll (`Prefer: wait=N`) that held the reply for N seconds is followed at once.

use super::time::Millis;
use crate::prelude::*;

/// Tuning of the status polling. Validated by [`PollConfig::validate`]; read from the options by
/// `Config::from_json` (the `poll` member).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct PollConfig {
    /// Offsets of the fast first checks from the start, ascending (ms).
    pub fast_ms: Vec<u64>,
    /// First backoff step after the fast checks (ms).
    pub base_ms: u64,
    /// Largest backoff step (ms).
    pub cap_ms: u64,
    /// Smallest delay between two backoff queries, whatever the jitter drew (ms).
    pub floor_ms: u64,
    /// Longest the polling may go on (ms).
    pub max_duration_ms: u64,
    /// Time after the prepay's expiry during which a late notify may still arrive (ms).
    pub expiry_grace_ms: u64,
    /// Most queries in one run.
    pub max_queries: u32,
    /// `Prefer: wait=N` seconds for each query; 0 turns long-polling off. On by default: a
    /// server without long-poll support ignores the preference (RFC 7240) and answers at once,
    /// and one that has it lets the page learn of a payment within one round trip.
    pub long_poll_secs: u32,
}

impl Default for PollConfig {
    fn default() -> PollConfig {
        PollConfig {
            fast_ms: vec![0, 1000, 2000, 3000],
            base_ms: 2000,
            cap_ms: 30_000,
            floor_ms: 1000,
            max_duration_ms: 600_000,
            expiry_grace_ms: 60_000,
            max_queries: 60,
            long_poll_secs: 20,
        }
    }
}

impl PollConfig {
    /// Checks the values make a schedule that ends; the error names the option.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.fast_ms.len() > 16 {
            return Err(("poll.fastMs", "at most 16 fast checks"));
        }
        if self.fast_ms.windows(2).any(|w| w[0] > w[1]) {
            return Err(("poll.fastMs", "offsets must be ascending"));
        }
        if self.base_ms == 0 || self.base_ms > self.cap_ms {
            return Err(("poll.baseMs", "must be at least 1 and at most poll.capMs"));
        }
        if self.cap_ms > 600_000 {
            return Err(("poll.capMs", "at most 600000"));
        }
        if self.floor_ms > self.cap_ms {
            return Err(("poll.floorMs", "at most poll.capMs"));
        }
        if self.max_duration_ms == 0 || self.max_duration_ms > 24 * 3_600_000 {
            return Err(("poll.maxDurationMs", "between 1 and 86400000"));
        }
        if self.max_queries == 0 || self.max_queries > 10_000 {
            return Err(("poll.maxQueries", "between 1 and 10000"));
        }
        if self.long_poll_secs > 25 {
            return Err(("poll.longPollSecs", "at most 25"));
        }
        Ok(())
    }
}

/// One run of status polling for one order.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRun {
    deadline: Millis,
    sent: u32,
    last_sent: Millis,
}

impl PollRun {
    /// Starts polling at `now`. The deadline is `now + max_duration`, shortened to the prepay's
    /// expiry plus the grace period when that is sooner, but never before the fast checks end.
    pub fn start(config: &PollConfig, now: Millis, prepay_expiry: Option<Millis>) -> PollRun {
        let mut deadline = now.plus(config.max_duration_ms);
        if let Some(expiry) = prepay_expiry {
            deadline = deadline.min(expiry.plus(config.expiry_grace_ms));
        }
        let fast_end = now.plus(config.fast_ms.last().copied().unwrap_or(0));
        PollRun {
            deadline: deadline.max(fast_end),
            sent: 0,
            last_sent: now,
        }
    }

    /// When polling gives up with **pending**.
    pub fn deadline(&self) -> Millis {
        self.deadline
    }

    /// How many queries this run has sent.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// When the last query was sent (or the run started).
    pub fn last_sent(&self) -> Millis {
        self.last_sent
    }

    /// Records that a query was sent at `now`.
    pub fn on_sent(&mut self, now: Millis) {
        self.sent = self.sent.saturating_add(1);
        self.last_sent = now;
    }

    /// Restarts the fast checks (the buyer came back from the wallet), keeping the deadline.
    pub fn restart_fast(&mut self, now: Millis) {
        self.sent = 0;
        self.last_sent = now;
    }

    /// Moves the run's times `ms` earlier: the wall clock jumped back by that much, and the
    /// remaining waits must stay as they were.
    pub fn shift_back(&mut self, ms: u64) {
        self.deadline = self.deadline.minus(ms);
        self.last_sent = self.last_sent.minus(ms);
    }

    /// Moves the run's times `ms` later: the device clock jumped ahead by that much (learned
    /// from the server's clock), and the remaining waits must stay as they were.
    pub fn shift_forward(&mut self, ms: u64) {
        self.deadline = self.deadline.plus(ms);
        self.last_sent = self.last_sent.plus(ms);
    }

    /// When to send the next query, or `None` when the run is over (deadline or query budget).
    ///
    /// `unit` is a uniform random number in `[0, 1)` for the jitter; `retry_after_ms` is the
    /// server's last `Retry-After`, if any.
    pub fn next_at(
        &self,
        config: &PollConfig,
        unit: f64,
        retry_after_ms: Option<u64>,
    ) -> Option<Millis> {
        if self.sent >= config.max_queries {
            return None;
        }
        let n = self.sent as usize;
        let fast = &config.fast_ms;
        let delay = if n < fast.len() {
            let previous = if n == 0 { 0 } else { fast[n - 1] };
            fast[n] - previous
        } else {
            let step = (n - fast.len()).min(32) as u32;
            // `min(base * 2^step, cap)` by a comparison and a shift, not an overflow-checked
            // multiply (a 128-bit one in wasm): `base * 2^step > cap` exactly when
            // `base > cap >> step`, and otherwise the shift stays within the cap.
            let ceiling = if config.base_ms > config.cap_ms >> step {
                config.cap_ms
            } else {
                config.base_ms << step
            };
            // Full jitter: uniform in [0, ceiling), but never below the floor.
            ((ceiling as f64 * unit.clamp(0.0, 1.0)) as u64).max(config.floor_ms)
        };
        let delay = delay.max(retry_after_ms.unwrap_or(0));
        let at = self.last_sent.plus(delay);
        if at > self.deadline {
            // One last look exactly at the deadline, unless that moment has been used.
            return (self.last_sent < self.deadline).then_some(self.deadline);
        }
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(config: &PollConfig, start: Millis, expiry: Option<Millis>, unit: f64) -> Vec<u64> {
        let mut run = PollRun::start(config, start, expiry);
        let mut times = Vec::new();
        while let Some(at) = run.next_at(config, unit, None) {
            times.push(at.since(start));
            run.on_sent(at);
            assert!(times.len() <= 10_000, "schedule does not end");
        }
        times
    }

    #[test]
    fn fast_checks_then_backoff_capped() {
        let config = PollConfig::default();
        let times = drain(&config, Millis(0), None, 0.999_999);
        assert_eq!(&times[..4], &[0, 1000, 2000, 3000]);
        // Backoff with unit≈1: 2 s, 4 s, 8 s, 16 s, then capped at 30 s.
        assert_eq!(&times[4..9], &[4999, 8998, 16997, 32996, 62995]);
        assert_eq!(times[9] - times[8], 29_999);
        assert!(*times.last().unwrap_or(&0) <= 600_000);
        assert!(times.len() <= config.max_queries as usize);
    }

    #[test]
    fn jitter_never_goes_below_the_floor() {
        let config = PollConfig::default();
        let times = drain(&config, Millis(0), None, 0.0);
        for pair in times[4..].windows(2) {
            assert!(pair[1] - pair[0] >= config.floor_ms);
        }
        assert_eq!(times.len(), config.max_queries as usize);
    }

    #[test]
    fn deadline_follows_prepay_expiry_and_ends_with_a_last_look() {
        let config = PollConfig::default();
        let times = drain(&config, Millis(0), Some(Millis(40_000)), 0.999);
        assert_eq!(times.last(), Some(&100_000));
        assert!(times.iter().all(|&t| t <= 100_000));
    }

    #[test]
    fn an_expired_prepay_still_gets_the_fast_checks() {
        let config = PollConfig::default();
        let times = drain(&config, Millis(1_000_000), Some(Millis(0)), 0.5);
        assert_eq!(times, [0, 1000, 2000, 3000]);
    }

    #[test]
    fn retry_after_is_honoured() {
        let config = PollConfig::default();
        let mut run = PollRun::start(&config, Millis(0), None);
        run.on_sent(Millis(0));
        assert_eq!(run.next_at(&config, 0.5, Some(7000)), Some(Millis(7000)));
    }

    #[test]
    fn restart_fast_goes_back_to_one_second_checks() {
        let config = PollConfig::default();
        let mut run = PollRun::start(&config, Millis(0), None);
        for t in [0, 1000, 2000, 3000, 9000] {
            run.on_sent(Millis(t));
        }
        run.restart_fast(Millis(20_000));
        assert_eq!(run.next_at(&config, 0.5, None), Some(Millis(20_000)));
        assert_eq!(run.deadline(), Millis(600_000));
    }

    #[test]
    fn validation_names_the_option() {
        let bad = PollConfig {
            base_ms: 0,
            ..PollConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.0), Err("poll.baseMs"));
        let bad = PollConfig {
            fast_ms: vec![3, 1],
            ..PollConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.0), Err("poll.fastMs"));
        assert!(PollConfig::default().validate().is_ok());
    }
}
