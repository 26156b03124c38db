//! Time as the core sees it: a number passed in, never read from a clock.

use core::fmt;

/// Milliseconds since the Unix epoch (wall-clock time, as `Date.now()` gives it).
///
/// Wall-clock rather than monotonic because records outlive the page: an expiry written by one
/// tab must be comparable in another tab and after a reload. The machine copes with the clock
/// jumping (see `Guard::handle`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Millis(pub u64);

impl Millis {
    /// `self + ms`, saturating at the end of time rather than wrapping.
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// `self - ms`, saturating at the epoch.
    pub fn minus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_sub(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Millis(u64::MAX).plus(1), Millis(u64::MAX));
        assert_eq!(Millis(5).minus(10), Millis(0));
        assert_eq!(Millis(5).since(Millis(10)), 0);
        assert_eq!(Millis(10).since(Millis(4)), 6);
    }
}
