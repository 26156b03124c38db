//! A JS value → a JSON value, refusing what JSON cannot say.
//!
//! `JSON.stringify` quietly turns `NaN` and `Infinity` into `null` and drops `undefined`
//! members, so two different orders could hash the same. The fingerprint must be of exactly
//! what the buyer agreed to, so this walk refuses them instead, naming where they are:
//! `NaN`, `±Infinity`, `undefined`, functions, symbols, `BigInt`, strings with lone
//! surrogates, cycles and nesting deeper than [`MAX_DEPTH`]. Like `JSON.stringify` it calls
//! `toJSON` (a `Date` becomes its ISO string) and reads own enumerable string keys.

use super::errors::{describe, ErrorCode, GuardError};
use crate::core::fingerprint::MAX_DEPTH;
use js_sys::{Array, Function, JsString, Object, Reflect};
use serde_json::{Map, Number, Value};
use wasm_bindgen::{JsCast, JsValue};

/// Converts `value` (an order's content) to JSON, or an `invalid_order` error naming the path.
pub fn to_json(value: &JsValue) -> Result<Value, GuardError> {
    let mut ancestors = Vec::new();
    convert(value, &JsValue::from_str(""), "order", &mut ancestors)
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
