//! `Record::decode` reads whatever is in the buyer's storage: other scripts, other versions of
//! this library and the buyer's own meddling all write there. It must never panic, and a record
//! it accepts must survive being written back (`encode`) and read again unchanged, or a tab
//! that re-persists an accepted record would lose it. And what it accepts keeps the types'
//! promises: a `Prepay` is at most `MAX_PREPAY_BYTES` (docs/contract.md lets servers rely on
//! that, and a record near `MAX_RECORD_BYTES` only stays below it on re-encoding because of it).
//!
//! The same holds for `SubmissionRecord::decode` (a submission's record, keyed by the
//! content's fingerprint), tried when the second line is a fingerprint.
//!
//! Input: `scope\norderNo\nrecord text`. Inputs whose order number is not a valid `OrderNo`
//! are skipped (the shell validates it before it ever reads storage).

#![no_main]

use checkout_guard::core::fingerprint::Fingerprint;
use checkout_guard::core::ids::OrderNo;
use checkout_guard::core::record::{Record, MAX_PREPAY_BYTES, RECORD_VERSION};
use checkout_guard::core::submission::SubmissionRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let (Some(scope), Some(order), Some(stored)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    if let Some(fingerprint) = Fingerprint::parse(order) {
        if let Ok(submission) = SubmissionRecord::decode(stored, scope, &fingerprint) {
            assert_eq!(submission.fingerprint, fingerprint);
            assert_eq!(submission.scope, scope);
            let again = SubmissionRecord::decode(&submission.encode(), scope, &fingerprint);
            assert_eq!(again.as_ref(), Ok(&submission), "a submission lost on re-encoding");
        }
    }
    let Ok(order_no) = OrderNo::parse(order) else {
        return;
    };
    let Ok(record) = Record::decode(stored, scope, &order_no) else {
        return;
    };
    assert_eq!(record.v, RECORD_VERSION);
    assert_eq!(record.scope, scope);
    assert_eq!(record.order_no, order_no);
    if let Some(prepay) = &record.prepay {
        // Kept as the compact text it was stored as: an object, within the limit.
        let size = prepay.as_str().len();
        assert!(
            prepay.as_str().starts_with('{') && serde_json::from_str::<serde_json::Value>(prepay.as_str()).is_ok(),
            "accepted a prepay that is not a JSON object: {}",
            prepay.as_str()
        );
        assert!(
            size <= MAX_PREPAY_BYTES,
            "accepted a prepay of {size} bytes"
        );
    }
    let encoded = record.encode();
    assert!(!encoded.is_empty(), "an accepted record must encode");
    match Record::decode(&encoded, scope, &order_no) {
        Ok(again) => assert_eq!(again, record, "round trip changed the record"),
        Err(err) => panic!("re-encoded record is refused: {err}\nencoded: {encoded}"),
    }
});
