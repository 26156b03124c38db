//! Where idempotency keys and jitter come from: a generator seeded once with platform entropy.
//!
//! The core may not call the platform, so the shell hands it 32 bytes of entropy when the guard
//! is built (`crypto.getRandomValues` in browsers; `wx.getRandomValues` at the mini-program
//! loader's init, which is callback-only and so cannot be called on demand). From that seed
//! the core derives every key as `SHA-256(seed ‖ counter)`: SHA-256 used as a PRF in counter
//! mode, so keys are unpredictable to anyone who does not know the seed, never repeat within a
//! guard, and tests are deterministic with a fixed seed.

use super::sha256::Sha256;
use crate::prelude::*;

/// A deterministic stream of unpredictable bytes from a secret seed.
#[derive(Clone)]
pub struct Entropy {
    seed: [u8; 32],
    counter: u64,
}

impl core::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the seed: it would let a log reader predict every key.
        f.debug_struct("Entropy")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl Entropy {
    /// A generator over `seed`, which must come from a cryptographic source.
    pub fn new(seed: [u8; 32]) -> Entropy {
        Entropy { seed, counter: 0 }
    }

    /// The next 32 bytes.
    pub fn next_block(&mut self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"checkout-guard/entropy/v1");
        hasher.update(&self.seed);
        hasher.update(&self.counter.to_le_bytes());
        self.counter = self.counter.wrapping_add(1);
        hasher.finish()
    }

    /// 16 bytes as 32 lowercase hex digits: a fresh idempotency key's text.
    pub fn next_key_text(&mut self) -> String {
        let block = self.next_block();
        super::fingerprint::hex(&block[..16])
    }

    /// A fresh idempotency key.
    pub fn next_key(&mut self) -> super::ids::IdempotencyKey {
        super::ids::IdempotencyKey::minted(self.next_key_text())
    }

    /// A uniform number in `[0, 1)`, for jitter.
    pub fn next_unit(&mut self) -> f64 {
        let block = self.next_block();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&block[..8]);
        // 53 random bits → an exactly representable fraction below 1.
        (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_deterministic_per_seed() {
        let mut a = Entropy::new([7; 32]);
        let mut b = Entropy::new([7; 32]);
        let mut c = Entropy::new([8; 32]);
        let ka: Vec<String> = (0..100).map(|_| a.next_key_text()).collect();
        let kb: Vec<String> = (0..100).map(|_| b.next_key_text()).collect();
        assert_eq!(ka, kb);
        assert_ne!(ka[0], c.next_key_text());
        let unique: std::collections::BTreeSet<_> = ka.iter().collect();
        assert_eq!(unique.len(), 100);
        assert!(ka.iter().all(|k| k.len() == 32));
    }

    #[test]
    fn units_are_in_range() {
        let mut e = Entropy::new([1; 32]);
        for _ in 0..1000 {
            let u = e.next_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn debug_hides_the_seed() {
        assert!(!format!("{:?}", Entropy::new([0xab; 32])).contains("171"));
    }
}
