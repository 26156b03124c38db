//! The order's identity: RFC 8785 (JSON Canonicalization Scheme) of its content, then SHA-256.
//!
//! Two views of "the same order" must hash the same whatever key order or number spelling the
//! caller used, and any change the buyer could see (amount, items, coupon) must change the hash:
//! the guard reuses a prepay only for the fingerprint it was created for. JCS gives exactly that
//! and is what a JS backend gets from the npm `canonicalize` package, so a merchant server can
//! check the fingerprint in any language.
//!
//! The three JCS rules that naive serialisers get wrong, and how this module keeps them:
//! object members are sorted by their names' **UTF-16 code units** (not bytes, not `char`s);
//! numbers are printed the way ECMAScript's `Number.prototype.toString` does (the `ryu-js`
//! crate; `-0` is `0`, `1e21` stays `1e+21`, integers beyond 2^53 are rounded like JS); strings
//! escape only `"`, `\` and the C0 controls, as `JSON.stringify` does (U+2028 stays literal).
//!
//! The canonicalizer works on the core's own [`Json`] tree (`core::json`), which the wasm
//! builds from a JS value or from JSON text; native builds also take a `serde_json::Value`
//! ([`canonicalize`], [`fingerprint`]: the reference backend and the tests).

use super::json::{self, concat, Json};
use crate::prelude::*;
use core::fmt;
use thiserror::Error;

/// How deeply objects and arrays may nest. An order is a few levels deep; the limit keeps a
/// hostile value from exhausting the (small, wasm) stack.
pub const MAX_DEPTH: usize = 64;

/// Why an order's content cannot be fingerprinted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FingerprintError {
    /// The text is not JSON, or has a number JSON cannot represent (beyond ±1.8e308).
    InvalidJson(String),
    /// Objects or arrays nest deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl FingerprintError {
    /// The error's text, built without `core::fmt` (the wasm's error messages).
    pub fn message(&self) -> String {
        match self {
            FingerprintError::InvalidJson(why) => {
                concat(&["order content is not valid JSON: ", why])
            }
            FingerprintError::TooDeep => "order content nests deeper than 64 levels".to_owned(),
        }
    }
}

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// A SHA-256 fingerprint: exactly 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Accepts a fingerprint computed elsewhere (a stored record, a server reply).
    pub fn parse(text: &str) -> Option<Fingerprint> {
        let ok = text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Fingerprint(text.to_owned()))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fingerprint, D::Error> {
        let text = String::deserialize(d)?;
        Fingerprint::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("a fingerprint is 64 lowercase hex digits"))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The RFC 8785 canonical form of `value`.
pub fn canonicalize_value(value: &Json) -> Result<String, FingerprintError> {
    let mut out = String::new();
    write_value(&mut out, value, 0)?;
    Ok(out)
}

/// SHA-256 of the canonical form of `value`, as lowercase hex.
pub fn fingerprint_value(value: &Json) -> Result<Fingerprint, FingerprintError> {
    Ok(sha256_hex(canonicalize_value(value)?.as_bytes()))
}

/// The RFC 8785 canonical form of a `serde_json` value (native builds).
#[cfg(not(target_arch = "wasm32"))]
pub fn canonicalize(value: &serde_json::Value) -> Result<String, FingerprintError> {
    canonicalize_value(&Json::from(value))
}

/// SHA-256 of the canonical form of a `serde_json` value, as lowercase hex (native builds).
#[cfg(not(target_arch = "wasm32"))]
pub fn fingerprint(value: &serde_json::Value) -> Result<Fingerprint, FingerprintError> {
    fingerprint_value(&Json::from(value))
}

/// Parses `json` (e.g. the output of `JSON.stringify`) and canonicalizes it.
pub fn canonicalize_json(json: &str) -> Result<String, FingerprintError> {
    let value = json::parse(json).map_err(|e| FingerprintError::InvalidJson(e.message()))?;
    canonicalize_value(&value)
}

/// [`fingerprint_value`] of JSON text.
pub fn fingerprint_json(json: &str) -> Result<Fingerprint, FingerprintError> {
    Ok(sha256_hex(canonicalize_json(json)?.as_bytes()))
}

/// SHA-256 of `bytes` (text already in canonical form), as a fingerprint.
pub fn sha256_hex(bytes: &[u8]) -> Fingerprint {
    Fingerprint(hex(&super::sha256::digest(bytes)))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn write_value(out: &mut String, value: &Json, depth: usize) -> Result<(), FingerprintError> {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        // Every JSON number is an IEEE double to JCS, so integers round above 2^53, as in JS.
        Json::Number(x) => json::push_number(out, *x),
        Json::String(s) => json::push_string(out, s),
        Json::Array(items) => {
            let depth = deeper(depth)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth)?;
            }
            out.push(']');
        }
        Json::Object(members) => {
            let depth = deeper(depth)?;
            let mut sorted: Vec<&(String, Json)> = members.iter().collect();
            sort_by_utf16(&mut sorted);
            out.push('{');
            let mut first = true;
            for (i, (name, member)) in sorted.iter().enumerate() {
                // A name given twice counts once, with its last value (as JSON.parse does).
                if sorted.get(i + 1).is_some_and(|(next, _)| next == name) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                json::push_string(out, name);
                out.push(':');
                write_value(out, member, depth)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Sorts members by their names' UTF-16 code units, stably (of members named twice the last
/// stays last): a bottom-up merge sort, O(n log n) for a hostile object too. `slice::sort_by`
/// would link 4 KB of wasm for the few members an order has.
fn sort_by_utf16(members: &mut Vec<&(String, Json)>) {
    let n = members.len();
    let mut merged = Vec::with_capacity(n);
    let mut width = 1;
    while width < n {
        merged.clear();
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut left, mut right) = (start, mid);
            while left < mid || right < end {
                let take_left = right >= end
                    || (left < mid
                        && members[left]
                            .0
                            .encode_utf16()
                            .le(members[right].0.encode_utf16()));
                if take_left {
                    merged.push(members[left]);
                    left += 1;
                } else {
                    merged.push(members[right]);
                    right += 1;
                }
            }
            start = end;
        }
        core::mem::swap(members, &mut merged);
        width *= 2;
    }
}

fn deeper(depth: usize) -> Result<usize, FingerprintError> {
    if depth >= MAX_DEPTH {
        Err(FingerprintError::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(json: &str) -> String {
        canonicalize_json(json).expect("valid JSON")
    }

    #[test]
    fn rfc8785_section_3_2_2_example() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        assert_eq!(
            canon(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn rfc8785_section_3_2_3_sorting_by_utf16_code_units() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected_order = [
            "\\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}",
        ];
        let out = canon(input);
        let mut last = 0;
        for key in expected_order {
            let at = out
                .find(&format!("\"{key}\":"))
                .unwrap_or_else(|| panic!("{key:?} missing"));
            assert!(at >= last, "{key:?} out of order in {out}");
            last = at;
        }
    }

    #[test]
    fn astral_key_sorts_before_high_bmp_key() {
        // By `char` (or UTF-8 bytes) U+1F600 > U+FB33; by UTF-16 code units 0xD83D < 0xFB33.
        assert_eq!(
            canonicalize(&json!({"\u{fb33}": 1, "\u{1f600}": 2})).expect("ok"),
            "{\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }

    #[test]
    fn numbers_print_as_ecmascript_does() {
        let cases = [
            ("-0", "0"),
            ("0.0", "0"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("5e-324", "5e-324"),
            ("1e-7", "1e-7"),
            ("0.000001", "0.000001"),
            ("9007199254740993", "9007199254740992"),
            ("-1.5", "-1.5"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ];
        for (input, expected) in cases {
            assert_eq!(canon(input), expected, "for {input}");
        }
    }

    #[test]
    fn strings_escape_only_what_jcs_escapes() {
        assert_eq!(
            canonicalize(&json!("a\u{2028}b\u{7f}\u{1f}\t\"\\/é")).expect("ok"),
            "\"a\u{2028}b\u{7f}\\u001f\\t\\\"\\\\/é\""
        );
    }

    #[test]
    fn out_of_range_numbers_and_bad_text_are_errors() {
        assert!(matches!(
            canonicalize_json("1e400"),
            Err(FingerprintError::InvalidJson(_))
        ));
        assert!(matches!(
            canonicalize_json("{\"a\":"),
            Err(FingerprintError::InvalidJson(_))
        ));
        assert!(matches!(
            canonicalize_json("\"\\ud800\""),
            Err(FingerprintError::InvalidJson(_))
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut value = json!(1);
        for _ in 0..MAX_DEPTH {
            value = json!([value]);
        }
        assert!(canonicalize(&value).is_ok());
        assert_eq!(
            canonicalize(&json!([value])),
            Err(FingerprintError::TooDeep)
        );
    }

    #[test]
    fn fingerprint_is_sha256_of_the_canonical_form() {
        // sha256("{}") and sha256("{\"a\":1,\"b\":2}"), checked with `sha256sum`.
        assert_eq!(
            fingerprint(&json!({})).expect("ok").as_str(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let a = fingerprint_json(r#"{"b":2,"a":1.0}"#).expect("ok");
        let b = fingerprint(&json!({"a": 1, "b": 2})).expect("ok");
        assert_eq!(a, b);
        assert_eq!(
            a.as_str(),
            "43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777"
        );
    }

    #[test]
    fn a_name_given_twice_keeps_its_last_value() {
        assert_eq!(
            canonicalize_json(r#"{"b":1,"a":2,"b":3,"c":{"y":1,"x":2},"a":4}"#).expect("ok"),
            r#"{"a":4,"b":3,"c":{"x":2,"y":1}}"#
        );
    }

    #[test]
    fn the_merge_sort_orders_many_members_as_javascript_sorts_strings() {
        let names: Vec<String> = (0..300u32)
            .map(|i| {
                // Astral characters too: by UTF-16 code units they sort before U+E000–U+FFFF.
                let code = if i % 10 == 0 {
                    0x1f600 + i
                } else {
                    0x20 + (i * 7919) % 0xffdf
                };
                char::from_u32(code).map_or(String::new(), |c| c.to_string() + &i.to_string())
            })
            .collect();
        let members: Vec<(String, Json)> = names.iter().map(|n| (n.clone(), Json::Null)).collect();
        let mut expected = names.clone();
        expected.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        let mut sorted: Vec<&(String, Json)> = members.iter().collect();
        sort_by_utf16(&mut sorted);
        let got: Vec<&String> = sorted.iter().map(|(n, _)| n).collect();
        assert_eq!(got, expected.iter().collect::<Vec<_>>());
    }

    #[test]
    fn fingerprint_parse_accepts_only_lowercase_hex_of_64() {
        assert!(Fingerprint::parse(&"a".repeat(64)).is_some());
        assert!(Fingerprint::parse(&"A".repeat(64)).is_none());
        assert!(Fingerprint::parse(&"a".repeat(63)).is_none());
        assert!(Fingerprint::parse(&"g".repeat(64)).is_none());
    }
}
