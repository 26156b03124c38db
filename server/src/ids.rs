//! Identifiers: the ones the server mints (order numbers, merchant payment numbers, prepay ids)
//! and the one it validates (the guard's idempotency key).

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A new webhook event id (`evt_` + 24 random characters): stable across every delivery of
/// one event, unique across events.
pub fn new_event_id() -> String {
    format!("evt_{}", random_token(24))
}

/// `len` random characters of `0-9a-z`, from the OS generator (ids must not be guessable:
/// a prepay id is what lets a buyer pay).
pub fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // Unreachable on the supported platforms; fall back to time-derived noise so an id is
        // still minted rather than failing a payment.
        let seed = crate::clock::now_ms().unsigned_abs();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed
                .wrapping_mul(6364136223846793005)
                .rotate_left(i as u32 % 64)
                >> 7) as u8;
        }
    }
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// A new business order number: `O` and 12 random characters.
pub fn new_order_no() -> String {
    format!("O{}", random_token(12))
}

/// Whether a caller-chosen business order number is acceptable: 6–24 of `A-Z a-z 0-9 - _`,
/// short enough that the payment numbers built on it stay within WeChat's 32.
pub fn valid_order_no(text: &str) -> bool {
    (6..=24).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new merchant payment number (`out_trade_no`) for attempt `seq` of `order_no`: the order
/// number, `x`, the attempt number and 4 random characters, at most 32 characters.
pub fn new_attempt_id(order_no: &str, seq: i64) -> String {
    format!("{order_no}x{seq}{}", random_token(4))
}

/// Parses the `Idempotency-Key` header value: an sf-string (`"…"`) or, leniently, the bare
/// token. The key itself is 16–64 of `A-Z a-z 0-9 - _` (docs/contract.md §1).
pub fn parse_idempotency_key(value: &str) -> Option<String> {
    let value = value.trim();
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => value,
    };
    let ok = (16..=64).contains(&inner.len())
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accept_sf_string_and_bare_token() {
        let key = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_idempotency_key(&format!("\"{key}\"")).as_deref(),
            Some(key)
        );
        assert_eq!(parse_idempotency_key(key).as_deref(), Some(key));
        assert_eq!(parse_idempotency_key("\"short\""), None);
        assert_eq!(parse_idempotency_key(&format!("\"{key}")), None);
        assert_eq!(parse_idempotency_key(&format!("\"{key}!\"")), None);
        assert_eq!(parse_idempotency_key(&"a".repeat(65)), None);
    }

    #[test]
    fn attempt_ids_fit_wechat_limits() {
        let order = "A".repeat(24);
        let id = new_attempt_id(&order, 999);
        assert!(id.len() <= 32 && id.len() >= 6, "{id}");
        assert_ne!(new_attempt_id("O1", 1), new_attempt_id("O1", 1));
    }
}
