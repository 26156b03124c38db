//! The wall clock, randomness and RFC 3339: the little I/O the simulator's HTTP layer needs.
//!
//! The ledger never reads the clock itself (every operation takes `now`), so its rules can be
//! read and tested without sleeping; only the HTTP layer calls [`now_ms`]. Request signatures are
//! checked against real time, which is why a virtual clock would not help over HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the system clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` random characters from `alphabet`. Falls back to a counter mixed with the time if the
/// system's random source fails (never seen on supported platforms): ids stay unique, which is
/// all the simulator needs of them; no key material is drawn from here.
fn random_from(alphabet: &[u8], len: usize) -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        let mut seed = now_ms().unsigned_abs() ^ FALLBACK.fetch_add(1, Ordering::Relaxed) << 40;
        for b in &mut bytes {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (seed >> 33) as u8;
        }
    }
    bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

/// Random ASCII letters and digits (nonces: GCM nonces must never repeat under one key).
pub fn random_alnum(len: usize) -> String {
    random_from(ALPHANUMERIC, len)
}

/// Random decimal digits (transaction ids).
pub fn random_digits(len: usize) -> String {
    random_from(b"0123456789", len)
}

/// Random bytes for a platform certificate's serial ([`crate::platform::serial_bytes`]).
pub fn random_serial() -> [u8; 20] {
    let hex = random_hex(40);
    let mut bytes = [0u8; 20];
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let text = std::str::from_utf8(pair).unwrap_or("00");
        *byte = u8::from_str_radix(text, 16).unwrap_or(0);
    }
    crate::platform::serial_bytes(bytes)
}

/// Random lower-case hex (prepay ids).
pub fn random_hex(len: usize) -> String {
    random_from(b"0123456789abcdef", len)
}

const BEIJING_OFFSET_SECS: i64 = 8 * 3600;

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A civil date to days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * if month > 2 { month - 3 } else { month + 9 } + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `ms` as RFC 3339 in Beijing time (`2026-12-01T17:05:13+08:00`), as WeChat Pay writes
/// `success_time` and `create_time`.
pub fn rfc3339_beijing(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + BEIJING_OFFSET_SECS;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+08:00",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// `yyyyMMddHHmmss` in Beijing time: the date part of prepay ids.
pub fn compact_beijing(ms: i64) -> String {
    rfc3339_beijing(ms)
        .chars()
        .take(19)
        .filter(char::is_ascii_digit)
        .collect()
}

/// Parses RFC 3339 (`2018-06-08T10:34:56+08:00`, `…Z`, optional fraction) to milliseconds:
/// the form of `time_expire`. `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month = u32::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let day = u32::try_from(day)
        .ok()
        .filter(|d| *d >= 1 && *d <= month_days[month as usize - 1])?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset_secs = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let hours = digit(h1)? * 10 + digit(h2)?;
            let minutes = digit(m1)? * 10 + digit(m2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    secs.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_round_trips_through_the_parser() {
        // 2021-06-24T18:00:00+08:00 = 1624528800.
        assert_eq!(
            rfc3339_beijing(1_624_528_800_000),
            "2021-06-24T18:00:00+08:00"
        );
        assert_eq!(
            parse_rfc3339("2021-06-24T18:00:00+08:00"),
            Some(1_624_528_800_000)
        );
        assert_eq!(
            parse_rfc3339("2021-06-24T10:00:00Z"),
            Some(1_624_528_800_000)
        );
        assert_eq!(
            parse_rfc3339("2021-06-24T10:00:00.123-00:00"),
            Some(1_624_528_800_000)
        );
        assert_eq!(compact_beijing(1_624_528_800_000), "20210624180000");
        for ms in [0, 951_782_400_000, 1_795_431_300_000] {
            assert_eq!(parse_rfc3339(&rfc3339_beijing(ms)), Some(ms));
        }
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "",
            "2021-06-24",
            "2021-06-24 18:00:00+08:00",
            "2021-13-24T18:00:00+08:00",
            "2021-02-29T18:00:00+08:00",
            "2021-06-24T24:00:00+08:00",
            "2021-06-24T18:00:00",
            "2021-06-24T18:00:00+0800",
            "2021-06-24T18:00:00.+08:00",
            "2021-06-24T18:00:00+08:00x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn random_strings_have_their_length_and_alphabet() {
        let nonce = random_alnum(12);
        assert_eq!(nonce.len(), 12);
        assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(random_digits(13).bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(random_alnum(32), random_alnum(32));
    }
}
