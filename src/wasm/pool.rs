//! The mini-program's randomness: an entropy pool filled by the loader from
//! `wx.getRandomValues`, from which each guard draws its 32-byte seed.
//!
//! A mini-program has no `crypto.getRandomValues`, and `wx.getRandomValues` is callback-only,
//! so it cannot be called when a guard is constructed (a synchronous call). The loader
//! therefore asks for 32 bytes **before** it hands out the guard class and passes them to
//! [`add_entropy`]; it may add more later (it does on every `wx.onAppShow`). The pool is
//! `SHA-256(domain ‖ previous pool output ‖ new bytes)`, read with the core's own generator
//! ([`Entropy`]: SHA-256 in counter mode), so every guard's seed, and through it every
//! idempotency key, is unpredictable to anyone who has not seen the platform's bytes. There is
//! no weaker fallback (`Math.random`, the clock): without platform entropy the constructor
//! throws `platform`. See `PLATFORM.md`.

use super::errors::{ErrorCode, GuardError};
use crate::core::entropy::Entropy;
use crate::core::json::decimal;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

/// Fewer bytes than this cannot seed a 256-bit generator.
pub const MIN_ENTROPY_BYTES: usize = 32;

thread_local! {
    static POOL: RefCell<Option<Entropy>> = const { RefCell::new(None) };
}

/// Mixes `bytes` (at least 32, from `wx.getRandomValues`) into the module's entropy pool.
#[wasm_bindgen(js_name = addEntropy)]
pub fn add_entropy(bytes: &[u8]) -> Result<(), GuardError> {
    if bytes.len() < MIN_ENTROPY_BYTES {
        return Err(GuardError::new(
            ErrorCode::Platform,
            [
                "addEntropy needs at least 32 random bytes, got ",
                &decimal(bytes.len() as u64),
            ]
            .concat(),
        ));
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let mut hasher = Sha256::new();
        hasher.update(b"checkout-guard/pool/v1");
        if let Some(previous) = pool.as_mut() {
            hasher.update(previous.next_block());
        }
        hasher.update(bytes);
        *pool = Some(Entropy::new(hasher.finalize().into()));
    });
    Ok(())
}

/// A fresh 32-byte seed for one guard, or `platform` when no entropy was added yet.
pub fn seed() -> Result<[u8; 32], GuardError> {
    POOL.with(|pool| {
        pool.borrow_mut()
            .as_mut()
            .map(Entropy::next_block)
            .ok_or_else(|| {
                GuardError::new(
                    ErrorCode::Platform,
                    "no platform entropy yet: create guards through the loader's load(), which \
                     obtains it from wx.getRandomValues first",
                )
            })
    })
}
