//! `core::sha256` is the hash of every fingerprint and of the key generator (issue 13: it
//! replaced the `sha2` crate in the wasm for size). It must equal `sha2` on every input, fed in
//! one piece or in several: the first byte of the input chooses where the rest is cut.

#![no_main]

use checkout_guard::core::sha256::{digest, Sha256};
use libfuzzer_sys::fuzz_target;
use sha2::Digest;

fuzz_target!(|data: &[u8]| {
    let (cut, bytes) = match data.split_first() {
        Some((cut, bytes)) => (usize::from(*cut), bytes),
        None => (0, data),
    };
    let expected = sha2::Sha256::digest(bytes);
    assert_eq!(digest(bytes)[..], expected[..], "in one piece");
    // Cut every `cut + 1` bytes: 1-byte pieces, pieces across block edges, one piece.
    let mut hash = Sha256::new();
    for piece in bytes.chunks(cut + 1) {
        hash.update(piece);
    }
    assert_eq!(hash.finish()[..], expected[..], "in pieces of {}", cut + 1);
});
