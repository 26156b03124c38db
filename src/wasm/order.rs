//! A JS value → a JSON value, refusing what JSON cannot say.
//!
//! `JSON.stringify` quietly turns `NaN` and `Infinity` into `null` and drops `undefined`
//! members, so two different orders could hash the same. The fingerprint must be of exactly
//! what the buyer agreed to, so this walk refuses them instead, naming where they are:
//! `NaN`, `±Infinity`, `undefined`, functions, symbols, `BigInt`, strings with lone
//! surrogates, cycles and nesting deeper than [`MAX_DEPTH`]. Like `JSON.stringify` it calls
//! `toJSON` (a `Date` becomes its ISO string) and reads own enumerable string keys.
//!
//! Walking a JS value from wasm costs several boundary crossings per value (about 80 µs for a
//! 1 KB order in Chromium, `cargo xtask bench`). So when the package's hand-written layer has
//! installed its text function ([`set_json_text`]: `canonicalText` of `pkg/shell.js`, which
//! reads the value exactly as this walk does and declines on anything the walk would refuse or
//! might read differently), that text is parsed instead, in one crossing. Whenever it declines
//! (returns `undefined`) or its text does not parse within [`MAX_DEPTH`], the walk runs and
//! decides, with its error naming the path.

use super::errors::{describe, ErrorCode, GuardError};
use crate::core::fingerprint::MAX_DEPTH;
use js_sys::{Array, Function, JsString, Object, Reflect};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    /// The hand-written layer's `canonicalText(value) -> string | undefined`, once installed.
    static JSON_TEXT: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Installs the fast path: `json_text(value)` returns JSON text of exactly the value this walk
/// would produce (canonical, but any JSON text of it would do), or `undefined` to walk instead.
pub fn set_json_text(json_text: Function) {
    JSON_TEXT.with(|slot| *slot.borrow_mut() = Some(json_text));
}

/// Converts `value` (an order's content) to JSON, or an `invalid_order` error naming the path.
pub fn to_json(value: &JsValue) -> Result<Value, GuardError> {
    if let Some(json) = from_text(value) {
        return Ok(json);
    }
    let mut ancestors = Vec::new();
    convert(value, &JsValue::from_str(""), "order", &mut ancestors)
}

/// The fast path: the installed JSON text function, parsed; `None` to walk instead.
fn from_text(value: &JsValue) -> Option<Value> {
    let returned = JSON_TEXT.with(|slot| {
        slot.borrow()
            .as_ref()
            .map(|json_text| json_text.call1(&JsValue::UNDEFINED, value))
    })?;
    let text = returned.ok()?.as_string()?;
    // Lone surrogates arrive escaped and fail to parse here: the walk then names them.
    let json: Value = serde_json::from_str(&text).ok()?;
    within_depth(&json, 0).then_some(json)
}

/// Whether every object and array sits less than [`MAX_DEPTH`] levels deep, as the walk
/// requires.
fn within_depth(value: &Value, depth: usize) -> bool {
    match value {
        Value::Array(items) => {
            depth < MAX_DEPTH && items.iter().all(|v| within_depth(v, depth + 1))
        }
        Value::Object(members) => {
            depth < MAX_DEPTH && members.values().all(|v| within_depth(v, depth + 1))
        }
        _ => true,
    }
}

fn invalid(path: &str, what: &str) -> GuardError {
    GuardError::new(ErrorCode::InvalidOrder, format!("{path} {what}"))
}

fn convert(
    value: &JsValue,
    key: &JsValue,
    path: &str,
    ancestors: &mut Vec<JsValue>,
) -> Result<Value, GuardError> {
    let value = apply_to_json(value, key, path)?;
    if value.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(x) = value.as_f64() {
        // Named by hand: formatting an f64 with `{}` would pull ~15 KB of float printing
        // into the wasm (the canonical form prints numbers with ryu-js instead).
        let name = match x {
            x if x.is_nan() => "NaN",
            x if x > 0.0 => "Infinity",
            _ => "-Infinity",
        };
        return Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| invalid(path, &format!("is {name}, which JSON cannot represent")));
    }
    if let Some(s) = value.dyn_ref::<JsString>() {
        if !s.is_valid_utf16() {
            return Err(invalid(path, "is a string with a lone surrogate"));
        }
        return Ok(Value::String(String::from(s)));
    }
    if value.is_undefined() {
        return Err(invalid(
            path,
            "is undefined (remove the member or use null)",
        ));
    }
    if value.is_function() {
        return Err(invalid(path, "is a function"));
    }
    if value.is_symbol() {
        return Err(invalid(path, "is a symbol"));
    }
    if value.is_bigint() {
        return Err(invalid(path, "is a BigInt (use a number or a string)"));
    }
    if !value.is_object() {
        return Err(invalid(path, "is not a JSON value"));
    }
    if ancestors.contains(&value) {
        return Err(invalid(path, "refers back to itself (a cycle)"));
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(invalid(
            path,
            &format!("nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    ancestors.push(value.clone());
    let result = if Array::is_array(&value) {
        convert_array(value.unchecked_ref(), path, ancestors)
    } else {
        convert_object(value.unchecked_ref(), path, ancestors)
    };
    ancestors.pop();
    result
}

fn convert_array(
    array: &Array,
    path: &str,
    ancestors: &mut Vec<JsValue>,
) -> Result<Value, GuardError> {
    let mut items = Vec::with_capacity(array.length() as usize);
    for i in 0..array.length() {
        let item = array.get(i);
        items.push(convert(
            &item,
            &JsValue::from(i),
            &format!("{path}[{i}]"),
            ancestors,
        )?);
    }
    Ok(Value::Array(items))
}

fn convert_object(
    object: &Object,
    path: &str,
    ancestors: &mut Vec<JsValue>,
) -> Result<Value, GuardError> {
    let mut members = Map::new();
    for key in Object::keys(object).iter() {
        let name = key.as_string().unwrap_or_default();
        let member_path = format!("{path}.{name}");
        let member = Reflect::get(object, &key)
            .map_err(|e| invalid(&member_path, &format!("cannot be read: {}", describe(&e))))?;
        members.insert(name, convert(&member, &key, &member_path, ancestors)?);
    }
    Ok(Value::Object(members))
}

/// `value.toJSON(key)` when `value` has such a method, as `JSON.stringify` does.
fn apply_to_json(value: &JsValue, key: &JsValue, path: &str) -> Result<JsValue, GuardError> {
    if !value.is_object() {
        return Ok(value.clone());
    }
    let method = Reflect::get(value, &JsValue::from_str("toJSON"))
        .map_err(|e| invalid(path, &format!("cannot be read: {}", describe(&e))))?;
    match method.dyn_ref::<Function>() {
        Some(to_json) => to_json
            .call1(value, key)
            .map_err(|e| invalid(path, &format!("toJSON() threw: {}", describe(&e)))),
        None => Ok(value.clone()),
    }
}
