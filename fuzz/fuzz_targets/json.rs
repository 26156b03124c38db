//! `core::json` reads every JSON text the guard meets: stored records, the server's replies, the
//! options, an order's content (issue 13: it replaced serde_json in the wasm). It must never
//! panic, and it must read exactly what serde_json read, so that no record, reply or order
//! accepted before is refused now, and nothing refused before is accepted:
//!
//! - `parse` accepts a text exactly when `serde_json::from_str::<Value>` does, and reads the same
//!   value (numbers as the same double; of a member named twice, the last);
//! - checking without building (`validate`, `Raw::parse`, `Object::parse`) accepts exactly what
//!   `parse` accepts, and a member's raw text parses to that member's value;
//! - what the writer writes reads back: a string through `push_string`, a value through
//!   `Json::write`, a raw value through `compact`.

#![no_main]

use checkout_guard::core::json::{self, Json, Object, Raw, MAX_NESTING};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// `value` as the core reads it, for comparing with serde_json's reading.
fn same(ours: &Json, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::Number(a), Value::Number(b)) => b.as_f64() == Some(*a),
        (Json::String(a), Value::String(b)) => a == b,
        (Json::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Json::Object(members), Value::Object(map)) => {
            // serde_json keeps the last of a name given twice; so must every reader of ours.
            let mut last: Vec<(&String, &Json)> = Vec::new();
            for (name, value) in members {
                last.retain(|(n, _)| *n != name);
                last.push((name, value));
            }
            last.len() == map.len()
                && last
                    .iter()
                    .all(|(name, value)| map.get(*name).is_some_and(|v| same(value, v)))
        }
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = json::parse(text);
    let theirs = serde_json::from_str::<Value>(text);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert!(same(a, b), "read differently:\n{a:?}\n{b:?}"),
        (Err(_), Err(_)) => {}
        (Ok(a), Err(e)) => panic!("accepted what serde_json refused ({e}): {a:?}"),
        (Err(e), Ok(_)) => panic!("refused what serde_json accepted: {e}"),
    }
    assert_eq!(
        json::validate(text, MAX_NESTING).is_ok(),
        ours.is_ok(),
        "checking and parsing disagree"
    );
    assert_eq!(Raw::parse(text).is_ok(), ours.is_ok());
    let Ok(value) = ours else {
        return;
    };

    // Written back, it reads the same; so does its compact form.
    let mut written = String::new();
    value.write(&mut written);
    assert_eq!(json::parse(&written).as_ref(), Ok(&value), "{written}");
    let compact = json::compact(text);
    assert_eq!(json::parse(&compact).as_ref(), Ok(&value), "{compact}");

    // An object's raw members are the values `parse` read.
    let object = Object::parse(text);
    assert_eq!(object.is_ok(), matches!(value, Json::Object(_)));
    if let (Ok(object), Json::Object(members)) = (object, &value) {
        for ((name, raw), (expected_name, expected)) in object.members().zip(members) {
            assert_eq!(name, expected_name);
            assert_eq!(json::parse(raw.text()).as_ref(), Ok(expected));
            if let Json::String(s) = expected {
                assert_eq!(raw.as_str().as_ref(), Some(s));
            }
            if let Some(n) = raw.as_u64() {
                assert!(matches!(expected, Json::Number(x) if *x == n as f64));
            }
        }
    }

    // Strings: every string read writes back as JSON that reads as itself.
    if let Json::String(s) = &value {
        let mut quoted = String::new();
        json::push_string(&mut quoted, s);
        assert_eq!(json::parse(&quoted), Ok(Json::String(s.clone())));
        assert_eq!(serde_json::to_string(s).ok(), Some(quoted));
    }
});
