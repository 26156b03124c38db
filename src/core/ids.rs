//! The identifiers the guard handles, each validated once at the edge so the machine never
//! sees a malformed one.

use super::json::concat;
use crate::prelude::*;
use core::fmt;
use thiserror::Error;

/// An identifier failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct IdError {
    /// Which identifier: "order number", "idempotency key", "attempt id".
    pub what: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl IdError {
    /// `"invalid {what}: {reason}"`, built without `core::fmt`.
    pub fn message(&self) -> String {
        concat(&["invalid ", self.what, ": ", self.reason])
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

fn check(
    text: &str,
    what: &'static str,
    len: core::ops::RangeInclusive<usize>,
    allowed: fn(u8) -> bool,
) -> Result<(), IdError> {
    if !len.contains(&text.len()) {
        return Err(IdError {
            what,
            reason: "wrong length",
        });
    }
    if !text.bytes().all(allowed) {
        return Err(IdError {
            what,
            reason: "character not allowed",
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $len:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `text` (length and alphabet, see the type's doc).
            pub fn parse(text: &str) -> Result<$name, IdError> {
                check(text, $what, $len, $allowed)?;
                Ok($name(text.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Native builds only: the wasm has no serde.
        #[cfg(not(target_arch = "wasm32"))]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        /// Native builds only: the wasm has no serde.
        #[cfg(not(target_arch = "wasm32"))]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// The merchant's business order number: fixed for the order's life. 1–64 characters of
    /// `A–Z a–z 0–9 - _ . :` (it becomes part of a storage key and a URL path).
    OrderNo,
    "order number",
    1..=64,
    |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')
);

id_type!(
    /// An `Idempotency-Key`: 16–64 characters of `A–Z a–z 0–9 - _` (docs/contract.md). The guard
    /// mints 32 lowercase hex digits; no quote or backslash can appear, so it is always a valid
    /// structured-field string.
    IdempotencyKey,
    "idempotency key",
    16..=64,
    |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
);

id_type!(
    /// The server's attempt id, its merchant payment number (`out_trade_no`): 1–64 characters
    /// of `A–Z a–z 0–9 - _ | *`.
    AttemptId,
    "attempt id",
    1..=64,
    |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'|' | b'*')
);

impl IdempotencyKey {
    /// A key from [`crate::core::entropy::Entropy::next_key_text`]: 32 lowercase hex digits,
    /// valid by construction.
    pub(crate) fn minted(hex32: String) -> IdempotencyKey {
        debug_assert!(check(&hex32, "idempotency key", 16..=64, |b| b
            .is_ascii_hexdigit())
        .is_ok());
        IdempotencyKey(hex32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers() {
        assert!(OrderNo::parse("A2026-11_23.001:x").is_ok());
        assert!(OrderNo::parse("").is_err());
        assert!(OrderNo::parse(&"a".repeat(65)).is_err());
        assert!(OrderNo::parse("a/b").is_err());
        assert!(OrderNo::parse("订单").is_err());
    }

    #[test]
    fn keys_and_attempts() {
        assert!(IdempotencyKey::parse(&"0f".repeat(16)).is_ok());
        assert!(IdempotencyKey::parse("short").is_err());
        assert!(IdempotencyKey::parse(&format!("{}\"", "a".repeat(20))).is_err());
        assert!(AttemptId::parse("A1x3f9c2|*").is_ok());
        assert!(AttemptId::parse("a b").is_err());
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<OrderNo>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<OrderNo>("\"no spaces\"").is_err());
    }
}
