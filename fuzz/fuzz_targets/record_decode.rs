//! `Record::decode` reads whatever is in the buyer's storage: other scripts, other versions of
//! this library and the buyer's own meddling all write there. It must never panic, and a record
//! it accepts must survive being written back (`encode`) and read again unchanged, or a tab
//! that re-persists an accepted record would lose it. And what it accepts keeps the types'
//! promises: a `Prepay` is at most `MAX_PREPAY_BYTES` (docs/contract.md lets servers rely on
//! that, and a record near `MAX_RECORD_BYTES` only stays below it on re-encoding because of it).
//!
//! Input: `scope\norderNo\nrecord text`. Inputs whose order number is not a valid `OrderNo`
//! are skipped (the shell validates it before it ever reads storage).

#![no_main]

use checkout_guard::core::ids::OrderNo;
use checkout_guard::core::record::{Record, MAX_PREPAY_BYTES, RECORD_VERSION};
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
        let size = serde_json::to_string(prepay.as_map()).map_or(0, |s| s.len());
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
