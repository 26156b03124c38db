//! The guard's randomness: one 32-byte seed from `crypto.getRandomValues` (getrandom's
//! `wasm_js` backend), from which the core derives its idempotency keys.

use super::errors::{ErrorCode, GuardError};

/// 32 fresh random bytes, or a `platform` error where there is no `crypto.getRandomValues`.
pub fn seed() -> Result<[u8; 32], GuardError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|_| {
        GuardError::new(
            ErrorCode::Platform,
            "crypto.getRandomValues is not available",
        )
    })?;
    Ok(seed)
}
