//! `canonicalize_json` turns an order's content into the text whose SHA-256 is the order's
//! identity. It must never panic on any text a page can hand it, and its output must be a fixed
//! point: valid JSON that canonicalizes to itself, with the same fingerprint as the input. If
//! it were not, a server that re-canonicalizes what it stored would compute another fingerprint
//! for the same order and refuse the buyer (`fingerprint_mismatch`).

#![no_main]

use checkout_guard::core::fingerprint::{canonicalize_json, fingerprint_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(canonical) = canonicalize_json(text) else {
        return;
    };
    if let Err(err) = serde_json::from_str::<serde_json::Value>(&canonical) {
        panic!("canonical form is not JSON: {err}\n{canonical}");
    }
    assert_eq!(
        canonicalize_json(&canonical).as_deref(),
        Ok(canonical.as_str()),
        "canonical form is not a fixed point"
    );
    assert_eq!(
        fingerprint_json(text),
        fingerprint_json(&canonical),
        "input and canonical form fingerprint differently"
    );
});
