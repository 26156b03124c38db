//! The Rust canonicalizer (`core::fingerprint`) against the RFC 8785 vectors it shares with the
//! JS one (`tests/vectors/jcs.json`, also read by `tests/node/fingerprint.test.mjs`): the two
//! cannot drift apart without one of the two tests failing.

use checkout_guard::core::fingerprint::{canonicalize_json, fingerprint_json};
use serde_json::Value;

#[test]
fn the_shared_rfc8785_vectors() {
    let file: Value =
        serde_json::from_str(include_str!("vectors/jcs.json")).expect("the vector file is JSON");
    let vectors = file["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 10, "the vector file lost its vectors");
    for vector in vectors {
        let name = vector["name"].as_str().expect("name");
        let input = vector["input"].as_str().expect("input");
        let canonical = canonicalize_json(input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            canonical,
            vector["canonical"].as_str().expect("canonical"),
            "{name}"
        );
        let print = fingerprint_json(input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            print.as_str(),
            vector["sha256"].as_str().expect("sha256"),
            "{name}"
        );
    }
}
