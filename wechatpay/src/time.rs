//! Seconds since the Unix epoch: the unit of every WeChat Pay timestamp.
//!
//! The crate never reads a clock. Whoever verifies a signature passes `now` in, as in the
//! guard's core; a distinct type keeps the server's milliseconds (`clock::now_ms`) from being
//! passed where WeChat's seconds are meant, which would refuse every reply as stale.

use std::fmt;

/// How far a signed timestamp may be from `now` (WeChat Pay's rule for replies and notifies:
/// refused when `|now - timestamp| >= 300 s`). The simulator applies the same window to the
/// merchant's requests.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixSeconds(pub i64);

impl UnixSeconds {
    /// From milliseconds since the epoch (the server's clock), rounded down.
    pub fn from_millis(millis: i64) -> Self {
        Self(millis.div_euclid(1000))
    }

    /// Parses a timestamp as WeChat Pay writes it: decimal digits, no sign, no leading zero.
    ///
    /// Strict on purpose: the signed message carries the header's text, so accepting `+12` or
    /// `012` would make two spellings of one time, and a verifier would then check a different
    /// string from the one it compared with the clock.
    pub fn parse(text: &str) -> Option<Self> {
        let canonical = !text.is_empty()
            && text.len() <= 18
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'));
        if !canonical {
            return None;
        }
        text.parse().ok().map(Self)
    }

    /// Whether `self` lies strictly less than [`MAX_CLOCK_SKEW_SECS`] from `now`, either way.
    pub fn is_within_skew_of(self, now: UnixSeconds) -> bool {
        self.0.abs_diff(now.0) < MAX_CLOCK_SKEW_SECS
    }
}

impl fmt::Display for UnixSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_takes_only_canonical_decimal() {
        assert_eq!(
            UnixSeconds::parse("1795431300"),
            Some(UnixSeconds(1795431300))
        );
        assert_eq!(UnixSeconds::parse("0"), Some(UnixSeconds(0)));
        for bad in [
            "",
            "+1",
            "-1",
            "01",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "0x10",
            "1234567890123456789",
        ] {
            assert_eq!(UnixSeconds::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn skew_window_is_strictly_less_than_300_seconds() {
        let now = UnixSeconds(1_000_000);
        assert!(UnixSeconds(1_000_000 - 299).is_within_skew_of(now));
        assert!(UnixSeconds(1_000_000 + 299).is_within_skew_of(now));
        assert!(!UnixSeconds(1_000_000 - 300).is_within_skew_of(now));
        assert!(!UnixSeconds(1_000_000 + 300).is_within_skew_of(now));
        assert!(!UnixSeconds(i64::MIN).is_within_skew_of(UnixSeconds(i64::MAX)));
    }

    #[test]
    fn from_millis_rounds_down() {
        assert_eq!(
            UnixSeconds::from_millis(1_795_431_300_999),
            UnixSeconds(1_795_431_300)
        );
        assert_eq!(UnixSeconds::from_millis(-1), UnixSeconds(-1));
    }
}
