//! `order`: JS values → JSON, refusing what JSON cannot say.

use checkout_guard::core::json::{parse, Json};
use checkout_guard::wasm::errors::{ErrorCode, GuardError};
use checkout_guard::wasm::order::to_json;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

/// The core's JSON value of `text` (members in the order written: the walk keeps the JS order).
fn json(text: &str) -> Json {
    parse(text).unwrap_or(Json::Null)
}

fn js(source: &str) -> JsValue {
    js_sys::eval(&format!("({source})")).unwrap_or(JsValue::UNDEFINED)
}

fn error_of(source: &str) -> GuardError {
    match to_json(&js(source)) {
        Ok(v) => panic!("{source} was accepted as {v}"),
        Err(e) => e,
    }
}

#[wasm_bindgen_test]
fn plain_values_convert() {
    let value = to_json(&js(r#"{b: [1, 2.5, -0, "x", true, null], a: {c: "é"}}"#));
    assert_eq!(
        value,
        Ok(json(
            r#"{"b": [1.0, 2.5, -0.0, "x", true, null], "a": {"c": "é"}}"#
        ))
    );
}

#[wasm_bindgen_test]
fn to_json_is_honoured() {
    let value = to_json(&js(r#"{at: new Date(0)}"#));
    assert_eq!(value, Ok(json(r#"{"at": "1970-01-01T00:00:00.000Z"}"#)));
}

#[wasm_bindgen_test]
fn what_json_cannot_say_is_refused_with_its_path() {
    let cases = [
        ("{amount: NaN}", "order.amount"),
        ("{items: [1, Infinity]}", "order.items[1]"),
        ("{items: [-Infinity]}", "order.items[0]"),
        ("{coupon: undefined}", "order.coupon"),
        ("{f() {}}", "order.f"),
        ("{s: Symbol('x')}", "order.s"),
        ("{n: 10n}", "order.n"),
        ("{s: '\\ud800'}", "order.s"),
        ("undefined", "order"),
    ];
    for (source, path) in cases {
        let error = error_of(source);
        assert_eq!(error.code, ErrorCode::InvalidOrder, "{source}");
        assert!(
            error.message.starts_with(path),
            "{source}: {}",
            error.message
        );
    }
}

#[wasm_bindgen_test]
fn cycles_and_deep_nesting_are_refused() {
    let error = error_of("(() => { const o = {a: {}}; o.a.back = o; return o; })()");
    assert!(error.message.contains("cycle"), "{}", error.message);
    let error =
        error_of("(() => { let v = 1; for (let i = 0; i < 100; i++) v = [v]; return v; })()");
    assert!(error.message.contains("deeper"), "{}", error.message);
    // The same object twice, but not inside itself, is no cycle.
    assert!(to_json(&js("(() => { const x = {}; return [x, x]; })()")).is_ok());
}
