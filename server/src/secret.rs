//! A secret setting (API keys, the admin token, signing keys): held in memory, never printed.
//!
//! Secrets reach the server from flags, the environment, files (`*_FILE`) or the config file;
//! configurations are logged and debug-printed while diagnosing a start-up, so the one type
//! that holds a secret redacts itself in `Debug` and `Display`. Nothing serializes it: no
//! reply can carry one by accident.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string. `Debug` and `Display` print `***`; read it with [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for signing or comparing. Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (an empty secret is no secret: treated as not set).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `given` is this secret, compared in constant time. Both sides are hashed
    /// first, so neither the content nor the length of the secret leaks through timing.
    pub fn matches(&self, given: &[u8]) -> bool {
        let ours = Sha256::digest(self.0.as_bytes());
        let theirs = Sha256::digest(given);
        !self.0.is_empty() && bool::from(ours.as_slice().ct_eq(theirs.as_slice()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_compared_whole() {
        let secret = Secret::from("hunter2-hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
        assert!(secret.matches(b"hunter2-hunter2"));
        assert!(!secret.matches(b"hunter2"));
        assert!(!secret.matches(b""));
        assert!(
            !Secret::default().matches(b""),
            "an empty secret opens nothing"
        );
    }
}
